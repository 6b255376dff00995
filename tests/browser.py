"""A page as a person sees it: Debian's headless Chromium, driven by Playwright, with every
network request blocked and recorded, and the console's errors collected."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Chromium as these tests start it: no sandbox (CI runs as root), no GPU, and none of the
# background connections (updates, sync, metrics) a fresh profile would otherwise make.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    """Chromium's path; skips the test where it is missing, and fails it in CI (.ci/run
    installs Debian's chromium package)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "Chromium is not installed (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


@dataclass
class Visit:
    """What the page did: requests beyond its own file, console errors, uncaught errors."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def offline_page(path: Path, width: int = 1280) -> Iterator[tuple[object, Visit]]:
    """The file at `path` open in headless Chromium with the network cut off: every request
    other than for the page itself is aborted and recorded."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    url = path.resolve().as_uri()
    visit = Visit()

    def refuse(route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            visit.requests.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.route("**/*", refuse)
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and visit.errors.append(m.text))
            page.on("pageerror", lambda error: visit.errors.append(str(error)))
            page.on(
                "request",
                lambda r: (
                    r.url != url
                    and not r.url.startswith("data:")
                    and r.url not in visit.requests
                    and visit.requests.append(r.url)
                ),
            )
            page.goto(url, wait_until="load")
            yield page, visit
        finally:
            browser.close()


def not_blank(png: Path) -> tuple[int, float]:
    """(distinct grey levels, share of pixels that are not the background) of a screenshot."""
    grey = np.asarray(Image.open(png).convert("L"))
    background = np.bincount(grey.ravel()).argmax()
    return len(np.unique(grey)), float(np.mean(np.abs(grey.astype(int) - background) > 16))

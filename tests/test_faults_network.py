"""Mirrors that misbehave, through the download stage, against servers started on 127.0.0.1.

tests/test_sources.py checks each failure on a tiny dataset; here the real stage
gets the real MNIST archives: its params (timeout, retries, sources) reach the
code, a source that fails in any way is logged and the next one is tried, and when
none is left the stage stops with one line naming every source and what went
wrong, leaving nothing in data/.
"""

from __future__ import annotations

import socket
import time

import pytest

import mirrors
from conftest import REPO_ROOT, dvc, stages_run, update_params
from faults import assert_nothing_partial, assert_one_error, assert_restored, digests

pytestmark = pytest.mark.pipeline

ARCHIVES = {
    path.name: path.read_bytes() for path in (REPO_ROOT / "data/bundled/mnist").glob("*.gz")
}
TIMEOUT_SECONDS = 3.0  # download.timeout_seconds here: ample for 127.0.0.1 on a busy machine
STALL_SECONDS = 30  # far beyond it
IMAGES = "train-images-idx3-ubyte.gz"  # the first file fetched: 47,040,016 bytes unpacked

ENDLESS_SENT: list[int] = []  # bytes of body the endless source wrote, per request

# Each bad source, and what the stage must say of it.
BAD = {
    "refused": "Connection refused",
    "missing": "HTTP 404",
    "error": "HTTP 500",
    "cut": "body cut short",
    "stall": "read failed (timed out)",
    "endless": f"{IMAGES} decompresses to more than 47040016 bytes",
    "oversized": "-byte limit",
}


@pytest.fixture(scope="module")
def mirror():
    with mirrors.serve(ARCHIVES, STALL_SECONDS, ENDLESS_SENT) as url:
        yield url


def sources(mirror):
    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return {
        mode: f"http://127.0.0.1:{port}/" if mode == "refused" else f"{mirror}/{mode}/"
        for mode in BAD
    }


def test_when_every_source_fails_one_line_names_each_and_data_stays_clean(clean_baseline, mirror):
    repo = clean_baseline.repo
    bad = sources(mirror)
    update_params(
        repo / "params.yaml",
        {"download": {"sources": list(bad.values()), "timeout_seconds": TIMEOUT_SECONDS}},
    )
    started = time.monotonic()
    result = dvc(repo, "repro", check=False)
    assert time.monotonic() - started < STALL_SECONDS  # the timeout fired
    assert result.returncode != 0
    assert_one_error(result.stderr, "could not get mnist from any source: " + bad["refused"])
    line = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    for mode, url in bad.items():
        assert f"{url} (" in line and BAD[mode] in line.split(f"{url} (", 1)[1], mode
    where = [line.index(f"{url} (") for url in bad.values()]
    assert where == sorted(where)  # in the order tried
    deadline = time.monotonic() + 30
    while not ENDLESS_SENT and time.monotonic() < deadline:  # the server sees the client go
        time.sleep(0.05)
    assert ENDLESS_SENT[0] < 47_040_016 + (32 << 20)  # the download stopped near the expected size
    assert not (repo / "data/raw").exists()
    assert sorted(p.name for p in (repo / "data").iterdir()) == [
        ".gitignore",
        "bundled",
        "normalized",
    ]
    assert_nothing_partial(clean_baseline)
    assert_restored(clean_baseline)


def test_each_failure_is_logged_and_the_next_source_is_used(clean_baseline, mirror):
    repo = clean_baseline.repo
    bad = sources(mirror)
    del bad["oversized"]
    good = f"{mirror}/good/"
    update_params(
        repo / "params.yaml",
        {"download": {"sources": [*bad.values(), good], "timeout_seconds": TIMEOUT_SECONDS}},
    )
    result = dvc(repo, "repro")
    for mode, url in bad.items():
        assert f"digits.sources: source {url} failed: " in result.stderr, mode
        failed = result.stderr.split(f"source {url} failed: ", 1)[1].splitlines()[0]
        assert BAD[mode] in failed, mode
    assert f"digits.sources: mnist: all 4 files verified from {good}" in result.stderr
    assert stages_run(result.stdout) == {"download"}  # the same files: nothing else re-runs
    assert digests(repo) == clean_baseline.digests

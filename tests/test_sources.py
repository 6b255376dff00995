"""Dataset acquisition from folders and from HTTP servers started here on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from pathlib import Path

import numpy as np
import pytest

import mirrors
from digits import idx, sources
from digits.datasets import MNIST, Dataset, DatasetFile
from digits.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_dataset() -> tuple[Dataset, dict[str, bytes]]:
    """A tiny dataset in MNIST's format, and its gzip archives by file name."""
    rng = np.random.default_rng(0)
    contents = {
        "tiny-images": idx.encode(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
        "tiny-labels": idx.encode(np.arange(20, dtype=np.uint8) % 10),
    }
    files = tuple(
        DatasetFile(name, "train", name.split("-")[1], len(data), hashlib.sha256(data).hexdigest())
        for name, data in contents.items()
    )
    archives = {f"{name}.gz": gzip.compress(data, mtime=0) for name, data in contents.items()}
    return Dataset("tiny", files, (28, 28), 10), archives


DATASET, ARCHIVES = make_dataset()
STALL_SECONDS = 3.0


@pytest.fixture(scope="module")
def server():
    with mirrors.serve(ARCHIVES, STALL_SECONDS) as url:
        yield url


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(sources, "RETRY_PAUSE_SECONDS", 0.0)


def fetch(destination: Path, *urls: str, retries: int = 0) -> str:
    return sources.acquire(DATASET, urls, destination, timeout_seconds=1.0, retries=retries)


def assert_complete(destination: Path) -> None:
    for entry in DATASET.files:
        data = (destination / entry.name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256
    assert sorted(p.name for p in destination.iterdir()) == sorted(f.name for f in DATASET.files)


def test_the_bundled_copy_is_real_mnist(tmp_path):
    used = sources.acquire(MNIST, [str(REPO_ROOT / "data/bundled/mnist")], tmp_path / "raw", 5, 0)
    assert used.endswith("data/bundled/mnist")
    for entry in MNIST.files:
        assert (tmp_path / "raw" / entry.name).stat().st_size == entry.size


def test_good_server(tmp_path, server):
    assert fetch(tmp_path / "raw", f"{server}/good/") == f"{server}/good/"
    assert_complete(tmp_path / "raw")


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("missing", "HTTP 404"),
        ("error", "HTTP 500"),
        ("cut", "body cut short"),
        ("corrupt", "does not match the expected"),
        ("stall", "timed out"),
        ("endless", "more than"),
    ],
)
def test_each_failure_falls_back_to_the_next_source(tmp_path, server, mode, reason, caplog):
    caplog.set_level(logging.WARNING)
    bad = f"{server}/{mode}/"
    started = time.monotonic()
    assert fetch(tmp_path / "raw", bad, f"{server}/good/") == f"{server}/good/"
    assert time.monotonic() - started < STALL_SECONDS + 2
    assert_complete(tmp_path / "raw")
    assert f"source {bad} failed" in caplog.text and reason in caplog.text


def test_all_sources_failing_is_one_error_and_leaves_nothing(tmp_path, server):
    destination = tmp_path / "raw"
    local = tmp_path / "folder"
    local.mkdir()
    (local / "tiny-images.gz").write_bytes(b"not gzip")
    refused = "http://127.0.0.1:9/"
    with pytest.raises(InputError) as caught:
        fetch(destination, str(local), f"{server}/missing/", refused)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("could not get tiny from any source: ")
    assert f"{local} (tiny-images.gz is not valid gzip data" in message
    assert "HTTP 404" in message and refused in message
    assert list(tmp_path.iterdir()) == [local]


def test_retries_a_transient_failure(tmp_path, server, caplog):
    caplog.set_level(logging.WARNING)
    with pytest.raises(InputError, match="HTTP 500"):
        fetch(tmp_path / "raw", f"{server}/error/", retries=2)
    assert caplog.text.count("retrying") == 2


def test_flipped_byte_in_a_folder_source_falls_back(tmp_path, server):
    folder = tmp_path / "copy"
    folder.mkdir()
    for name, data in ARCHIVES.items():
        raw = bytearray(gzip.decompress(data))
        raw[-1] ^= 0xFF
        (folder / name).write_bytes(gzip.compress(bytes(raw)))
    assert fetch(tmp_path / "raw", str(folder), f"{server}/good/") == f"{server}/good/"
    assert_complete(tmp_path / "raw")

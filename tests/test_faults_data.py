"""Damaged dataset files, through the real pipeline: refused by name, nothing partial in data/.

A damaged bundled archive stops the download stage (the bundled copy is the only
source in the fault baseline). A raw file changed after the download is caught twice:
`dvc repro` sees its hash change and restores it from the cache, and the normalize
stage, run on it alone (`dvc repro --single-item normalize`), refuses it: by its IDX
structure, its labels, or else its sha256.
"""

from __future__ import annotations

import gzip
import struct

import pytest

from conftest import dvc, stages_run
from faults import assert_nothing_partial, assert_one_error, assert_restored, digests

pytestmark = pytest.mark.pipeline

BUNDLED = "data/bundled/mnist"
SOURCE_FAILED = "could not get mnist from any source: data/bundled/mnist ("


def flip(offset):
    def change(data):
        changed = bytearray(data)
        changed[offset if offset >= 0 else len(data) // 2] ^= 0xFF
        return bytes(changed)

    return change


def set_byte(offset, value):
    return lambda data: data[:offset] + bytes([value]) + data[offset + 1 :]


def one_label_fewer(data):
    (count,) = struct.unpack(">I", data[4:8])
    return data[:4] + struct.pack(">I", count - 1) + data[8:-1]


def tamper(repo, name, change):
    """Replace a file with a changed copy (a new file: never write through a cache link)."""
    path = repo / name
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(change(data))


# (id, file, change, message): what the download stage says of a damaged bundled archive.
ARCHIVE_FAULTS = [
    (
        "one flipped byte",
        "t10k-images-idx3-ubyte.gz",
        flip(-1),
        "t10k-images-idx3-ubyte.gz is not valid gzip data (Error -3 while decompressing "
        "data: incorrect data check)",
    ),
    (
        "one flipped byte inside valid gzip",
        "t10k-labels-idx1-ubyte.gz",
        lambda data: gzip.compress(flip(8 + 100)(gzip.decompress(data)), mtime=0),
        "t10k-labels-idx1-ubyte.gz sha256 ",
    ),
    (
        "truncated gzip",
        "train-labels-idx1-ubyte.gz",
        lambda data: data[: len(data) // 2],
        "train-labels-idx1-ubyte.gz is truncated (",
    ),
    (
        "empty file",
        "train-labels-idx1-ubyte.gz",
        lambda data: b"",
        "train-labels-idx1-ubyte.gz is truncated (0 of 60008 bytes)",
    ),
]

# (id, file, change, message): what the normalize stage says of a damaged raw file.
RAW = "data/raw/"
RAW_FAULTS = [
    (
        "one flipped pixel",
        "train-images-idx3-ubyte",
        flip(16 + 28 * 14 + 14),
        f"{RAW}train-images-idx3-ubyte: sha256 ",
    ),
    (
        "wrong IDX magic number",
        "t10k-labels-idx1-ubyte",
        set_byte(2, 0x09),
        f"{RAW}t10k-labels-idx1-ubyte: bad IDX magic number 0x00000901 (expected 0x00000801: "
        "unsigned bytes, 1 dimensions)",
    ),
    (
        "wrong IDX dimensions",
        "t10k-images-idx3-ubyte",
        set_byte(3, 2),
        f"{RAW}t10k-images-idx3-ubyte: IDX file has 2 dimensions, expected 3",
    ),
    (
        "label out of range",
        "t10k-labels-idx1-ubyte",
        set_byte(8 + 5, 10),
        "t10k-labels-idx1-ubyte: label 10 at index 5 is out of range 0..9",
    ),
    (
        "image and label counts differ",
        "t10k-labels-idx1-ubyte",
        one_label_fewer,
        f"{RAW}t10k-images-idx3-ubyte + t10k-labels-idx1-ubyte: 10000 images but 9999 labels",
    ),
    (
        "empty file",
        "t10k-images-idx3-ubyte",
        lambda data: b"",
        f"{RAW}t10k-images-idx3-ubyte: 0 bytes is too short for an IDX file",
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [c[1:] for c in ARCHIVE_FAULTS],
    ids=[c[0] for c in ARCHIVE_FAULTS],
)
def test_a_damaged_bundled_archive_stops_the_download(clean_baseline, name, change, message):
    repo = clean_baseline.repo
    tamper(repo, f"{BUNDLED}/{name}", change)
    result = dvc(repo, "repro", check=False)
    assert result.returncode != 0
    assert_one_error(result.stderr, SOURCE_FAILED + message)
    assert "git checkout -- data/bundled" in result.stderr  # says how to get it back
    assert not (repo / "data/raw").exists()  # DVC removed it; nothing half-written took its place
    assert_nothing_partial(clean_baseline)
    assert_restored(clean_baseline)


@pytest.mark.parametrize(
    ("name", "change", "message"), [c[1:] for c in RAW_FAULTS], ids=[c[0] for c in RAW_FAULTS]
)
def test_a_damaged_raw_file_is_refused_by_normalize(clean_baseline, name, change, message):
    repo = clean_baseline.repo
    tamper(repo, RAW + name, change)
    result = dvc(repo, "repro", "--single-item", "normalize", check=False)
    assert result.returncode != 0
    assert "ERROR: failed to reproduce 'normalize'" in result.stderr
    assert_one_error(result.stderr, message)
    assert not list((repo / "data/normalized").glob("*.npz"))
    assert_nothing_partial(clean_baseline, tampered=(RAW + name,))
    assert_restored(clean_baseline)


def test_a_raw_file_changed_after_the_download_is_restored_by_repro(clean_baseline):
    repo = clean_baseline.repo
    tamper(repo, RAW + "train-labels-idx1-ubyte", flip(8 + 100))
    result = dvc(repo, "repro")
    assert "Stage 'download' is cached - skipping run, checking out outputs" in result.stdout
    assert stages_run(result.stdout) == set()  # the same raw files: nothing downstream re-runs
    assert digests(repo) == clean_baseline.digests

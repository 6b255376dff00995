"""Atomic writes, byte-stable archives, and .npz loading without pickles."""

import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from digits import storage
from digits.errors import InputError


def test_npz_round_trips_and_has_the_same_bytes_every_time(tmp_path):
    arrays = {"images": np.ones((3, 2, 2), np.float32), "labels": np.arange(3, dtype=np.uint8)}
    storage.save_npz(tmp_path / "a.npz", **arrays)
    time.sleep(2.1)  # zip timestamps have a 2-second resolution
    storage.save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = storage.load_npz(tmp_path / "a.npz", ("images", "labels"))
    assert all(np.array_equal(loaded[name], arrays[name]) for name in arrays)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="evil.npz: not a readable .npz"):
        storage.load_npz(path, ("images",))


def test_npz_missing_array_or_file(tmp_path):
    storage.save_npz(tmp_path / "a.npz", images=np.zeros(2))
    with pytest.raises(InputError, match="missing array 'labels'"):
        storage.load_npz(tmp_path / "a.npz", ("images", "labels"))
    with pytest.raises(InputError, match="file not found"):
        storage.load_npz(tmp_path / "absent.npz", ("images",))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    storage.write_json(target, {"good": 1})
    with pytest.raises(RuntimeError), storage.atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == '{\n  "good": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_directory_write_keeps_the_old_directory(tmp_path):
    target = tmp_path / "raw"
    with storage.atomic_directory(target) as folder:
        (folder / "a").write_text("1")
    with pytest.raises(RuntimeError), storage.atomic_directory(target) as folder:
        (folder / "b").write_text("2")
        raise RuntimeError("crash")
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]
    assert [p.name for p in target.iterdir()] == ["a"]
    with storage.atomic_directory(target) as folder:
        (folder / "c").write_text("3")
    assert [p.name for p in target.iterdir()] == ["c"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_normalize_zip_fixes_times_and_can_rewrite_entries(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("keep.txt", "same")
        archive.writestr("change.txt", "old")
    storage.normalize_zip(path, lambda name, data: b"new" if name == "change.txt" else data)
    with zipfile.ZipFile(path) as archive:
        assert {i.date_time for i in archive.infolist()} == {storage.ZIP_EPOCH}
        assert archive.read("keep.txt") == b"same" and archive.read("change.txt") == b"new"


def test_the_next_write_removes_what_a_killed_writer_left_and_nothing_else(tmp_path):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead, alive = int(ended.stdout), os.getpid()
    left_file = tmp_path / f".model.keras.{dead}.k2j4h5g6.tmp.keras"
    left_folder = tmp_path / f".model.keras.{dead}.a1b2c3d4.tmp"
    in_use = tmp_path / f".model.keras.{alive}.z9y8x7w6.tmp.keras"  # a writer still running
    others = [tmp_path / f".other.keras.{dead}.q1w2e3r4.tmp", tmp_path / ".model.keras.notes"]
    for path in [left_file, in_use, *others]:
        path.write_text("partial")
    left_folder.mkdir()
    (left_folder / "metrics.json").write_text("{")
    storage.write_text(tmp_path / "model.keras", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.keras", in_use.name, *(p.name for p in others)]
    )

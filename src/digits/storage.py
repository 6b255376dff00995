"""Atomic, byte-reproducible file output and safe array input.

Every output is written to a temporary sibling and renamed into place, so a
crash never leaves a half-written file at an output path. The temporaries being
written are listed, so that a stop signal can remove them (`remove_temporaries`);
a temporary's name holds its writer's process id, so that one left by a killed
process (SIGKILL cannot be caught) is removed by the next write of the same path.
Archives are written with fixed timestamps so that the same content always gives
the same bytes (and DVC sees the same hash across runs).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from digits.errors import InputError

logger = logging.getLogger(__name__)

# The temporaries this process is writing, for `remove_temporaries`.
_in_progress: set[Path] = set()

# The earliest time a zip entry can hold; used for every entry so archives are reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    handle, name = tempfile.mkstemp(prefix=_prefix(path), suffix=f".tmp{suffix}", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    _in_progress.add(temporary)
    try:
        yield temporary
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        _in_progress.discard(temporary)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; swap it in for `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    temporary = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    _in_progress.add(temporary)
    try:
        yield temporary
        os.chmod(temporary, 0o755)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
            _in_progress.add(old)
            os.replace(path, old / path.name)
            os.replace(temporary, path)
            shutil.rmtree(old)
            _in_progress.discard(old)
        else:
            os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        _in_progress.discard(temporary)


def remove_temporaries() -> None:
    """Remove every temporary this process is writing: for a stop signal, before exiting."""
    for temporary in list(_in_progress):
        _remove(temporary)


def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _remove_leftovers(path: Path) -> None:
    """Remove the temporaries of `path` whose writing process no longer runs."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[^.]+\.tmp(\.[^.]+)?")
    for leftover in path.parent.iterdir():
        found = pattern.fullmatch(leftover.name)
        if found is None or _running(int(found.group(1))):
            continue
        logger.info("removing %s, left by a process that was killed", leftover)
        _remove(leftover)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write arrays as an uncompressed `.npz` whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH), member.getvalue())
    write_bytes(path, buffer.getvalue())


def load_npz(path: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays of an `.npz`, with pickles disallowed."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in names if name not in archive.files]
            if missing:
                raise InputError(
                    f"{path}: missing array {missing[0]!r} (has {', '.join(archive.files)}); "
                    "re-run the normalize stage"
                )
            return {name: archive[name] for name in names}
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; run `dvc repro` or `dvc pull`") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"{path}: not a readable .npz array file ({error})") from None


def normalize_zip(
    path: str | Path, rewrite: Callable[[str, bytes], bytes] = lambda name, data: data
) -> None:
    """Rewrite a zip archive in place with fixed entry timestamps (same content, same bytes).

    `rewrite(name, data)` may replace an entry's content, e.g. to drop a save date.
    """
    path = Path(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            entry.compress_type = info.compress_type
            entry.external_attr = 0o644 << 16
            target.writestr(entry, rewrite(info.filename, source.read(info)))
    path.write_bytes(buffer.getvalue())

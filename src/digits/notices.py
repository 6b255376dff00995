"""TensorFlow's import notices: held back from stderr, and dropped.

Importing TensorFlow 2.19 and newer writes two notices, twice, straight to file
descriptor 2, whatever TF_CPP_MIN_LOG_LEVEL says (tensorflow/tensorflow#100442):
absl's "All log messages before absl::InitializeLog() is called..." and oneDNN's
"oneDNN custom operations are on...". `hold` points descriptor 2 at an anonymous
file while the imports run; `release` points it back and writes out what came,
less those notices. Whatever else was written (a Python traceback, a warning, a
native library's error) still shows, in order, when it is released.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

NOTICES = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\. .*"
)

_held: tuple[int, int] | None = None  # (the saved descriptor 2, the anonymous file's)


def hold() -> None:
    """Send what is written to file descriptor 2 to an anonymous file until `release`."""
    global _held
    if _held is not None:
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as anonymous:
        file = os.dup(anonymous.fileno())  # ours to close: the file object's goes with it
    _held = (os.dup(2), file)
    os.dup2(file, 2)


def release() -> None:
    """Point file descriptor 2 back and write what was held there, less `NOTICES`."""
    global _held
    if _held is None:
        return
    saved, file = _held
    _held = None
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    os.lseek(file, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(file, 1 << 16):
        chunks.append(chunk)
    os.close(file)
    lines = b"".join(chunks).splitlines(keepends=True)
    data = b"".join(line for line in lines if not NOTICES.fullmatch(line.rstrip(b"\r\n")))
    while data:
        data = data[os.write(2, data) :]


@contextlib.contextmanager
def held() -> Iterator[None]:
    """`hold` for the block, `release` after it (an exception raised in it included)."""
    hold()
    try:
        yield
    finally:
        release()

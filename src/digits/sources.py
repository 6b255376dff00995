"""Acquire a dataset's raw files from an ordered list of sources, verified and atomically.

A source is a folder (such as the copy bundled in this repository) or an http(s)
mirror; both serve the files gzip-compressed. Each file is streamed through a
gzip decoder into a temporary folder while its size and sha256 are checked, so
a wrong, truncated or oversized file is caught without filling the disk. The
folder is renamed into place only when every file is good; otherwise the next
source is tried, and if all fail one error lists what was tried and why.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from digits.datasets import Dataset, DatasetFile
from digits.errors import InputError
from digits.storage import atomic_directory

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
# A gzip stream is never much larger than its content; refuse bodies far beyond that.
GZIP_SLACK_BYTES = 1 << 20
RETRY_PAUSE_SECONDS = 1.0


class SourceError(Exception):
    """One source could not provide a file; `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def acquire(
    dataset: Dataset,
    sources: Iterable[str],
    destination: str | Path,
    timeout_seconds: float,
    retries: int,
) -> str:
    """Fill `destination` with the dataset's decompressed files; return the source used."""
    failures = []
    for source in sources:
        try:
            with atomic_directory(destination) as folder:
                for expected in dataset.files:
                    _fetch_with_retries(source, expected, folder, timeout_seconds, retries)
        except SourceError as error:
            logger.warning("source %s failed: %s", source, error)
            failures.append(f"{source} ({error})")
            continue
        logger.info("%s: all %d files verified from %s", dataset.name, len(dataset.files), source)
        return source
    raise InputError(
        f"could not get {dataset.name} from any source: {'; '.join(failures)}. "
        "Restore the bundled copy (`git checkout -- data/bundled`) or fix download.sources "
        "in params.yaml"
    )


def _fetch_with_retries(
    source: str, expected: DatasetFile, folder: Path, timeout_seconds: float, retries: int
) -> None:
    attempts = 1 + (retries if is_url(source) else 0)
    for attempt in range(1, attempts + 1):
        try:
            _fetch(source, expected, folder / expected.name, timeout_seconds)
            return
        except SourceError as error:
            if not error.retry or attempt == attempts:
                raise
            logger.warning(
                "%s: %s; retrying (%d/%d)", expected.archive_name, error, attempt, retries
            )
            time.sleep(RETRY_PAUSE_SECONDS * attempt)


def _fetch(source: str, expected: DatasetFile, target: Path, timeout_seconds: float) -> None:
    started = time.monotonic()
    with target.open("wb") as out:
        if is_url(source):
            url = source.rstrip("/") + "/" + expected.archive_name
            _inflate(_http_chunks(url, expected, timeout_seconds), out, expected)
        else:
            path = Path(source) / expected.archive_name
            try:
                with path.open("rb") as archive:
                    _inflate(iter(lambda: archive.read(CHUNK_BYTES), b""), out, expected)
            except FileNotFoundError:
                raise SourceError(f"{path} not found") from None
            except OSError as error:
                raise SourceError(f"{path}: {error.strerror or error}") from None
    logger.info(
        "%s: %d bytes, sha256 verified (%.1f s)",
        expected.name,
        expected.size,
        time.monotonic() - started,
    )


def _http_chunks(url: str, expected: DatasetFile, timeout_seconds: float) -> Iterator[bytes]:
    """Yield the response body of `url` in chunks, with a progress bar on a terminal."""
    limit = expected.size + GZIP_SLACK_BYTES
    try:
        response = urllib.request.urlopen(url, timeout=timeout_seconds)
    except urllib.error.HTTPError as error:
        raise SourceError(f"{url}: HTTP {error.code} {error.reason}", error.code >= 500) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"{url}: {reason}", retry=True) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > limit:
            raise SourceError(f"{url}: response of {total} bytes exceeds the {limit}-byte limit")
        received = 0
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=expected.archive_name,
            leave=False,
            disable=None,
        ) as progress:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (TimeoutError, OSError) as error:
                    raise SourceError(
                        f"{url}: read failed ({error or 'timed out'})", True
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise SourceError(f"{url}: body exceeds the {limit}-byte limit; stopped")
                progress.update(len(chunk))
                yield chunk
        if total is not None and received < total:
            raise SourceError(f"{url}: body cut short ({received} of {total} bytes)", True)


def _inflate(chunks: Iterable[bytes], out: BinaryIO, expected: DatasetFile) -> None:
    """Gunzip `chunks` into `out`, never writing more than the expected size; verify it."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    digest = hashlib.sha256()
    written = 0
    try:
        for chunk in chunks:
            data = chunk
            while data and not inflater.eof:
                piece = inflater.decompress(data, expected.size - written + 1)
                written += len(piece)
                if written > expected.size:
                    raise SourceError(
                        f"{expected.archive_name} decompresses to more than {expected.size} bytes"
                    )
                digest.update(piece)
                out.write(piece)
                data = inflater.unconsumed_tail
    except zlib.error as error:
        raise SourceError(f"{expected.archive_name} is not valid gzip data ({error})") from None
    if not inflater.eof:
        raise SourceError(
            f"{expected.archive_name} is truncated ({written} of {expected.size} bytes)", True
        )
    if written != expected.size:
        raise SourceError(
            f"{expected.archive_name} holds {written} bytes, expected {expected.size}"
        )
    if digest.hexdigest() != expected.sha256:
        raise SourceError(
            f"{expected.archive_name} sha256 {digest.hexdigest()[:12]}… does not match "
            f"the expected {expected.sha256[:12]}…"
        )

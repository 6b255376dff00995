"""Finding and reading the pictures to predict: PNG, JPEG and .npy files, within limits.

A file's kind is told by its content, not its name. A folder stands for the
PNG, JPEG and .npy files in it and its subfolders, in sorted order. Every
problem with one file is an InputError naming that file, so the caller can
report it and go on with the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digits.errors import InputError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".npy")
FORMATS = ("PNG", "JPEG")
MAX_FILE_BYTES = 64 * 2**20  # larger files are refused unread
MAX_PIXELS = 50_000_000  # larger pictures are refused before decoding
JPEG_DRAFT_SIDE = 1024  # big JPEGs are decoded at a reduced scale, no side below this
NPY_MAGIC = b"\x93NUMPY"


def find(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """The files to read, and one error message per path that gave none.

    A file is taken as given, whatever its name; a folder gives its image files.
    """
    files: list[Path] = []
    errors: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()
            )
            if not found:
                errors.append(f"{path}: no {', '.join(EXTENSIONS)} files in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def read(path: str | Path) -> list[tuple[str, np.ndarray]]:
    """The pictures in one file as (name, pixels): one, or one per image of a .npy stack.

    Pixels are returned as stored (uint8, uint16, float, with or without colour
    and alpha); `digits.preprocessing` makes them a model input.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"{path}: empty file")
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"{path}: file too large ({size / 2**20:.0f} MiB; the limit is "
                f"{MAX_FILE_BYTES // 2**20} MiB)"
            )
        with path.open("rb") as handle:
            if handle.read(len(NPY_MAGIC)) == NPY_MAGIC:
                return _read_npy(path)
        return [(str(path), _read_picture(path))]
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None


def _read_picture(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InputError(
                        f"{path}: picture too large ({width}x{height} pixels; the limit is "
                        f"{MAX_PIXELS // 1_000_000} megapixels)"
                    )
                if image.format == "JPEG":  # a photo: decode big ones smaller, turn upright
                    image.draft("L", (JPEG_DRAFT_SIDE, JPEG_DRAFT_SIDE))
                    image = ImageOps.exif_transpose(image)
                return _pixels(image)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a PNG, JPEG or .npy file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path}: picture too large to decode safely") from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"{path}: damaged or truncated picture ({error})") from None


def _pixels(image: Image.Image) -> np.ndarray:
    """An opened picture's pixels, keeping 16-bit depth and transparency."""
    if image.mode.startswith("I;16") or image.mode == "I":
        return np.asarray(image).astype(np.uint16)
    if image.mode not in ("L", "LA", "RGB", "RGBA", "F"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return np.asarray(image)


def _read_npy(path: Path) -> list[tuple[str, np.ndarray]]:
    """A 2-D array is one picture; (H, W, C) with C in 1..4 one in colour; else a stack."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as error:
        raise InputError(f"{path}: not a readable .npy array ({error})") from None
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 2, 3, 4)):
        return [(str(path), array)]
    if array.ndim in (3, 4) and len(array):
        return [(f"{path}[{index}]", image) for index, image in enumerate(array)]
    raise InputError(
        f"{path}: array of shape {array.shape} is not an image (H, W), (H, W, C) or a stack of them"
    )

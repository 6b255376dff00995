"""Finding and reading picture files: formats, .npy stacks, and every kind of bad file."""

import errno
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digits import images
from digits.errors import InputError


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares its size and holds no pixels (enough for a size check)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def test_find_takes_files_as_given_and_image_files_from_folders(tmp_path):
    (tmp_path / "scans/b").mkdir(parents=True)
    for name in ("scans/b/2.PNG", "scans/1.jpg", "scans/3.npy", "scans/notes.txt", "odd.name"):
        (tmp_path / name).write_bytes(b"x")
    files, errors = images.find([tmp_path / "scans", tmp_path / "odd.name"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "scans/1.jpg",
        "scans/3.npy",
        "scans/b/2.PNG",
        "odd.name",
    ]
    assert errors == []


def test_find_names_missing_paths_and_folders_without_pictures(tmp_path):
    (tmp_path / "empty").mkdir()
    files, errors = images.find([tmp_path / "absent.png", tmp_path / "empty"])
    assert files == []
    assert errors == [
        f"{tmp_path / 'absent.png'}: no such file or folder",
        f"{tmp_path / 'empty'}: no .png, .jpg, .jpeg, .npy files in this folder",
    ]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "1", "I;16"])
def test_png_modes_are_read_as_arrays_with_their_depth(tmp_path, mode):
    path = tmp_path / "digit.png"
    Image.new(mode, (5, 3)).save(path)
    ((name, pixels),) = images.read(path)
    assert name == str(path)
    assert pixels.shape[:2] == (3, 5)
    assert pixels.dtype == (np.uint16 if mode == "I;16" else np.uint8)


def test_a_jpeg_is_read_by_its_content_whatever_its_name_and_decoded_in_gray(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 6), (10, 200, 30)).save(path, format="JPEG")
    ((_, pixels),) = images.read(path)
    assert pixels.shape == (6, 8)
    assert abs(int(pixels.mean()) - 126) <= 2  # the luma of (10, 200, 30)


def test_a_jpeg_photo_is_turned_upright_from_its_exif_orientation(tmp_path):
    band = np.zeros((20, 40), dtype=np.uint8)
    band[:, :5] = 255  # a white band down the left side, as stored
    picture = Image.fromarray(band)
    exif = picture.getexif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    picture.save(tmp_path / "photo.jpg", exif=exif.tobytes())
    ((_, pixels),) = images.read(tmp_path / "photo.jpg")
    assert pixels.shape == (40, 20)
    assert pixels[:5].mean() > 200 and pixels[10:].max() < 50  # the band now runs along the top


def test_npy_files_hold_one_picture_or_a_stack(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((28, 28), dtype=np.float32))
    np.save(tmp_path / "colour.npy", np.zeros((10, 12, 3), dtype=np.uint8))
    np.save(tmp_path / "stack.npy", np.zeros((3, 28, 28), dtype=np.uint8))
    assert [name for name, _ in images.read(tmp_path / "one.npy")] == [str(tmp_path / "one.npy")]
    assert images.read(tmp_path / "colour.npy")[0][1].shape == (10, 12, 3)
    stack = images.read(tmp_path / "stack.npy")
    assert [name for name, _ in stack] == [f"{tmp_path / 'stack.npy'}[{i}]" for i in range(3)]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


def empty(path, monkeypatch):
    path.write_bytes(b"")


def text(path, monkeypatch):
    path.write_text("not a picture")


def truncated(path, monkeypatch):
    path.write_bytes(png_bytes()[:60])


def too_many_pixels(path, monkeypatch):
    png_header_only(path, 8000, 7000)


def decompression_bomb(path, monkeypatch):
    png_header_only(path, 60000, 60000)


def too_many_bytes(path, monkeypatch):
    with path.open("wb") as handle:
        handle.truncate(65 * 2**20)  # sparse: takes no disk space


def pickled(path, monkeypatch):
    np.save(path, np.array([{}], dtype=object), allow_pickle=True)


def five_dimensional(path, monkeypatch):
    np.save(path, np.zeros((2, 2, 2, 2, 2)))


def unreadable(path, monkeypatch):
    """Permission denied, whoever runs the tests (root reads files of any mode)."""
    path.write_bytes(png_bytes())
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)


BAD_FILES = {
    "empty.png": (empty, "empty file"),
    "notes.png": (text, "not a PNG, JPEG or .npy file"),
    "cut.png": (truncated, "damaged or truncated picture"),
    "huge.png": (too_many_pixels, r"picture too large \(8000x7000 pixels; the limit is 50 mega"),
    "bomb.png": (decompression_bomb, "picture too large to decode safely"),
    "big.jpg": (too_many_bytes, r"file too large \(65 MiB; the limit is 64 MiB\)"),
    "objects.npy": (pickled, "not a readable .npy array"),
    "cube.npy": (five_dimensional, r"shape \(2, 2, 2, 2, 2\) is not an image"),
    "locked.png": (unreadable, r"cannot read \(Permission denied\)"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_it(tmp_path, monkeypatch, name):
    make, message = BAD_FILES[name]
    path = tmp_path / name
    make(path, monkeypatch)
    with pytest.raises(InputError, match=message) as caught:
        images.read(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)

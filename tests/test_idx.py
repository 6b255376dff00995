"""IDX decoding: round trips, and every malformed header is rejected with its reason."""

import numpy as np
import pytest

from digits import idx
from digits.errors import InputError


def test_round_trip_of_images_and_labels():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    assert np.array_equal(idx.decode(idx.encode(images), "images", 3), images)
    assert np.array_equal(idx.decode(idx.encode(labels), "labels", 1), labels)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00\x0d\x03" + b"\x00" * 12, "bad IDX magic number 0x00000d03"),
        (b"\x01\x00\x08\x03" + b"\x00" * 12, "bad IDX magic number"),
        (idx.encode(np.zeros((2, 2), np.uint8)), "has 2 dimensions, expected 3"),
        (b"\x00\x00\x08\x03\x00\x00", "header is truncated"),
        (idx.encode(np.zeros((2, 3, 3), np.uint8))[:-1], "holds 17"),
        (idx.encode(np.zeros((2, 3, 3), np.uint8)) + b"\x00", "holds 19"),
    ],
)
def test_malformed_files_are_rejected(data, message):
    with pytest.raises(InputError, match=message) as caught:
        idx.decode(data, "file.idx", 3)
    assert str(caught.value).startswith("file.idx: ")

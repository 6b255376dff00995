"""The IDX file format of the MNIST database: decoding with strict checks, and encoding.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. MNIST uses only
unsigned bytes (type code 0x08).
"""

from __future__ import annotations

import struct

import numpy as np

from digits.errors import InputError

UNSIGNED_BYTE = 0x08


def decode(data: bytes, name: str, dimensions: int) -> np.ndarray:
    """Decode IDX bytes holding uint8 data of `dimensions` axes; InputError if malformed."""
    if len(data) < 4:
        raise InputError(f"{name}: {len(data)} bytes is too short for an IDX file")
    zero, type_code, found = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code != UNSIGNED_BYTE:
        raise InputError(
            f"{name}: bad IDX magic number 0x{data[:4].hex()} "
            f"(expected 0x0000{UNSIGNED_BYTE:02x}{dimensions:02x}: unsigned bytes, "
            f"{dimensions} dimensions)"
        )
    if found != dimensions:
        raise InputError(f"{name}: IDX file has {found} dimensions, expected {dimensions}")
    header = 4 + 4 * dimensions
    if len(data) < header:
        raise InputError(f"{name}: IDX header is truncated ({len(data)} bytes)")
    shape = struct.unpack(f">{dimensions}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected:
        raise InputError(
            f"{name}: IDX header promises shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def encode(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (used to write test fixtures)."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX encoding supports uint8 arrays, got {array.dtype}")
    header = struct.pack(">HBB", 0, UNSIGNED_BYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()

"""Validation, scaling, the stratified split and the summary, on tiny arrays."""

import numpy as np
import pytest

from digits import preparation
from digits.datasets import MNIST
from digits.errors import InputError


def tiny(count=40, classes=10):
    images = np.arange(count * 28 * 28, dtype=np.uint64).reshape(count, 28, 28) % 256
    labels = np.arange(count, dtype=np.uint8) % classes
    return images.astype(np.uint8), labels


def test_valid_arrays_pass():
    preparation.validate(*tiny(), MNIST, "train")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i, y: (i.astype(np.int16), y), "expected uint8"),
        (lambda i, y: (i[:, :27], y), r"shape \(40, 27, 28\)"),
        (lambda i, y: (i, y[:-1]), "40 images but 39 labels"),
        (lambda i, y: (i[:0], y[:0]), "no samples"),
        (lambda i, y: (i, np.where(y == 3, 4, y).astype(np.uint8)), "class 3 has no samples"),
        (
            lambda i, y: (i, np.where(np.arange(40) == 5, 10, y).astype(np.uint8)),
            "label 10 at index 5",
        ),
    ],
)
def test_invalid_arrays_are_rejected(change, message):
    with pytest.raises(InputError, match=message):
        preparation.validate(*change(*tiny()), MNIST, "train")


def test_scale_maps_bytes_to_unit_float32():
    scaled = preparation.scale(np.array([[0, 128, 255]], dtype=np.uint8))
    assert scaled.dtype == np.float32
    assert scaled.tolist() == [[0.0, np.float32(128 / 255), 1.0]]


def test_stratified_split_takes_the_fraction_of_each_class_reproducibly():
    labels = np.repeat(np.arange(3, dtype=np.uint8), [10, 20, 30])
    train, validation = preparation.stratified_split(labels, 0.1, seed=3)
    assert np.bincount(labels[validation]).tolist() == [1, 2, 3]
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(60))
    again_train, again_validation = preparation.stratified_split(labels, 0.1, seed=3)
    assert np.array_equal(train, again_train) and np.array_equal(validation, again_validation)
    _, other = preparation.stratified_split(labels, 0.1, seed=4)
    assert not np.array_equal(validation, other)


def test_split_that_empties_a_class_is_rejected():
    labels = np.array([0, 0, 1, 1], dtype=np.uint8)
    with pytest.raises(InputError, match="validation_fraction=0.1 leaves class 0"):
        preparation.stratified_split(labels, 0.1, seed=0)


def test_summary_counts_every_class():
    summary = preparation.summarize({"test": np.array([0, 2, 2], dtype=np.uint8)}, 3)
    assert summary == {"test": {"samples": 3, "classes": {"0": 1, "1": 0, "2": 2}}}

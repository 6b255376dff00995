"""Predicting the digits in many picture files, in batches.

Files are read and prepared one by one (`digits.images`, `digits.preprocessing`),
gathered into batches, scaled exactly as the normalize stage scales MNIST
(`digits.preparation.scale`) and given to the model one batch per call. A file
that cannot be read becomes a Failure and the others go on. No TensorFlow here:
the model is anything with Keras' `predict_on_batch`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from digits import images, preprocessing
from digits.errors import InputError
from digits.preparation import scale

logger = logging.getLogger(__name__)


class Classifier(Protocol):
    def predict_on_batch(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Prediction:
    """The `top` most likely digits of one picture, most likely first."""

    name: str
    digits: tuple[int, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Failure:
    """A picture that could not be predicted, and why (one line naming it)."""

    name: str
    message: str


def rank(probabilities: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """The `top` most likely classes per row and their probabilities, most likely first.

    Ties go to the lower class, as `argmax` does.
    """
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
    return order, np.take_along_axis(probabilities, order, axis=1)


def prepared(paths: Iterable[Path]) -> Iterator[tuple[str, np.ndarray] | Failure]:
    """(name, 28x28 uint8 image) for each picture in the files, or a Failure."""
    for path in paths:
        try:
            pictures = images.read(path)
        except InputError as error:
            yield Failure(str(path), str(error))
            continue
        for name, pixels in pictures:
            try:
                yield name, preprocessing.prepare(pixels)
            except InputError as error:
                yield Failure(name, f"{name}: {error}")


def predict(
    model: Classifier,
    paths: list[Path],
    top: int = 1,
    batch_size: int = 256,
    progress: bool = False,
) -> Iterator[Prediction | Failure]:
    """Predictions for every picture in `paths`, in order, and a Failure for each bad one.

    `progress` shows a bar on a terminal, counting files.
    """
    files = tqdm(paths, unit="file", disable=None if progress else True, leave=False)
    names: list[str] = []
    batch: list[np.ndarray] = []
    for item in prepared(files):
        if isinstance(item, Failure):
            yield item
            continue
        names.append(item[0])
        batch.append(item[1])
        if len(batch) == batch_size:
            yield from _predict_batch(model, names, batch, top)
            names, batch = [], []
    if batch:
        yield from _predict_batch(model, names, batch, top)


def _predict_batch(
    model: Classifier, names: list[str], batch: list[np.ndarray], top: int
) -> Iterator[Prediction]:
    probabilities = np.asarray(model.predict_on_batch(scale(np.stack(batch))))
    digits, chances = rank(probabilities, top)
    logger.info("predicted a batch of %d pictures", len(batch))
    for name, row_digits, row_chances in zip(names, digits, chances, strict=True):
        yield Prediction(name, tuple(map(int, row_digits)), tuple(map(float, row_chances)))

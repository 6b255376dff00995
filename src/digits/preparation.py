"""Turn raw IDX files into validated, scaled train/validation/test arrays.

Pure functions on arrays, plus `read_split` at the edge that reads one split's
raw files. No TensorFlow here: the normalize stage must start fast.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from digits import idx
from digits.datasets import Dataset
from digits.errors import InputError

PIXEL_MAX = 255.0


def read_split(
    folder: str | Path, dataset: Dataset, split: str, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode the images and labels of `split` ("train" or "test") from `folder`.

    `limit` keeps only the first samples (MNIST's files are already shuffled).
    Structure and labels are checked first, for the most precise message; then
    each file's sha256, so that a file changed since the download is refused.
    """
    entries = [dataset.file(split, kind) for kind in ("images", "labels")]
    paths = [Path(folder) / entry.name for entry in entries]
    contents = []
    for path in paths:
        try:
            contents.append(path.read_bytes())
        except FileNotFoundError:
            raise InputError(f"{path}: file not found; run the download stage first") from None
    images, labels = (
        idx.decode(data, str(path), entry.dimensions)
        for entry, path, data in zip(entries, paths, contents, strict=True)
    )
    validate(images, labels, dataset, f"{paths[0]} + {paths[1].name}")
    for entry, path, data in zip(entries, paths, contents, strict=True):
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.sha256:
            raise InputError(
                f"{path}: sha256 {digest[:12]}… differs from {dataset.name}'s "
                f"{entry.sha256[:12]}…; the file changed after the download: restore it "
                "with `dvc checkout` or re-run the download stage"
            )
    return images[:limit], labels[:limit]


def validate(images: np.ndarray, labels: np.ndarray, dataset: Dataset, split: str) -> None:
    """Check shapes, dtypes, counts, label range and that every class is present."""
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise InputError(
            f"{split}: expected uint8 images and labels, got {images.dtype}, {labels.dtype}"
        )
    if images.ndim != 3 or images.shape[1:] != dataset.image_shape:
        raise InputError(
            f"{split}: images have shape {images.shape}, expected (N, "
            f"{dataset.image_shape[0]}, {dataset.image_shape[1]})"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise InputError(f"{split}: {len(images)} images but {labels.size} labels")
    if len(labels) == 0:
        raise InputError(f"{split}: no samples")
    if labels.max() >= dataset.num_classes:
        bad = int(np.argmax(labels >= dataset.num_classes))
        raise InputError(
            f"{split}: label {labels[bad]} at index {bad} is out of range "
            f"0..{dataset.num_classes - 1}"
        )
    counts = np.bincount(labels, minlength=dataset.num_classes)
    if not counts.all():
        raise InputError(
            f"{split}: class {int(np.argmin(counts))} has no samples; the file is not a "
            "complete dataset"
        )


def scale(images: np.ndarray) -> np.ndarray:
    """Map uint8 pixels to float32 in [0, 1]."""
    return images.astype(np.float32) / np.float32(PIXEL_MAX)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (train, validation): `fraction` of every class, chosen by `seed`.

    Each part is sorted so the rows keep their original order.
    """
    rng = np.random.default_rng(seed)
    validation = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = round(fraction * len(members))
        if count == 0 or count == len(members):
            raise InputError(
                f"normalize.validation_fraction={fraction} leaves class {label} "
                f"({len(members)} samples) with an empty train or validation part; "
                "use more samples or a fraction nearer 0.5"
            )
        validation.append(rng.choice(members, size=count, replace=False))
    chosen = np.sort(np.concatenate(validation))
    mask = np.zeros(len(labels), dtype=bool)
    mask[chosen] = True
    return np.flatnonzero(~mask), chosen


def summarize(labels_by_split: dict[str, np.ndarray], num_classes: int) -> dict:
    """Sample counts per split and per class, as a JSON-ready dict."""
    summary = {}
    for split, labels in labels_by_split.items():
        counts = np.bincount(labels, minlength=num_classes)
        summary[split] = {
            "samples": len(labels),
            "classes": {str(label): int(count) for label, count in enumerate(counts)},
        }
    return summary

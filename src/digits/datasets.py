"""What each known dataset is made of: its files, their digests, and their meaning."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset, as served gzip-compressed (`name` + `.gz`) by every source."""

    name: str
    split: str  # "train" or "test"
    kind: str  # "images" or "labels"
    size: int  # bytes once decompressed
    sha256: str  # of the decompressed bytes, the same for every mirror

    @property
    def archive_name(self) -> str:
        return f"{self.name}.gz"

    @property
    def dimensions(self) -> int:
        return 3 if self.kind == "images" else 1


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DatasetFile, ...]
    image_shape: tuple[int, int]
    num_classes: int

    def file(self, split: str, kind: str) -> DatasetFile:
        return next(f for f in self.files if f.split == split and f.kind == kind)


MNIST = Dataset(
    name="mnist",
    image_shape=(28, 28),
    num_classes=10,
    files=(
        DatasetFile(
            "train-images-idx3-ubyte",
            "train",
            "images",
            47_040_016,
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        DatasetFile(
            "train-labels-idx1-ubyte",
            "train",
            "labels",
            60_008,
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        DatasetFile(
            "t10k-images-idx3-ubyte",
            "test",
            "images",
            7_840_016,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        DatasetFile(
            "t10k-labels-idx1-ubyte",
            "test",
            "labels",
            10_008,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
)

DATASETS = {MNIST.name: MNIST}

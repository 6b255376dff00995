"""The sections of `params.yaml`, one frozen pydantic dataclass each, and `Params`, the whole.

Unknown keys are refused, types are strict (text is never read as a number, a bool never as
an integer; an integer is fine where a number is expected), and each field declares its
bounds or choices and a description: the JSON Schema that editors check the file against
is generated from these classes (`digits.params.loading`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
)
from pydantic.dataclasses import dataclass

from digits.datasets import DATASETS as KNOWN_DATASETS

Architecture = Literal["convnet", "mlp"]
Optimizer = Literal["adam", "adamw", "sgd", "rmsprop"]
LrSchedule = Literal["constant", "cosine"]
Precision = Literal["float32", "mixed_bfloat16", "auto"]
Padding = Literal["valid", "same"]
Stem = Literal["pooled", "strided"]
DATASETS = tuple(KNOWN_DATASETS)

# A section: a frozen dataclass (so `dataclasses.replace` and `asdict` work) that refuses
# unknown keys. Strictness is on each field (StrictInt...): a strict dataclass would
# refuse the mappings that YAML gives.
_section = dataclass(frozen=True, config=ConfigDict(extra="forbid"))


def _as_tuple(value: Any) -> Any:
    """YAML gives a list and the frozen params hold a tuple; anything else (a set) is refused."""
    return tuple(value) if isinstance(value, list) else value


_Item = TypeVar("_Item")
# A list of at least one item in YAML, held as a tuple. The bounds come before the
# conversion: after it, pydantic would write them into the JSON Schema as `minLength`.
_ListOf = Annotated[tuple[_Item, ...], Field(strict=True, min_length=1), BeforeValidator(_as_tuple)]


@_section
class DownloadParams:
    """Stage download: where the dataset's files come from."""

    dataset: Annotated[
        Literal[DATASETS],
        Field(description="The dataset to download; its files' sizes and sha256 are built in."),
    ]
    sources: Annotated[
        _ListOf[StrictStr],
        Field(
            description="Tried in order, a folder of this repository or a mirror's URL; "
            "the first that yields every file with the right size and sha256 wins."
        ),
    ]
    timeout_seconds: Annotated[
        StrictFloat,
        Field(gt=0.0, description="Timeout of each network operation (connect, read), in seconds."),
    ]
    retries: Annotated[StrictInt, Field(ge=0, le=10, description="Extra tries per network source.")]


@_section
class NormalizeParams:
    """Stage normalize: the validation split, and slices of the data for quick runs."""

    validation_fraction: Annotated[
        StrictFloat,
        Field(gt=0.0, lt=1.0, description="Share of each digit's training images for validation."),
    ]
    seed: Annotated[StrictInt, Field(ge=0, description="Seed of the random validation split.")]
    max_train_samples: Annotated[
        StrictInt | None,
        Field(ge=20, description="Use only the first N training images; null: all 60,000."),
    ]
    max_test_samples: Annotated[
        StrictInt | None,
        Field(ge=1, description="Use only the first N test images; null: all 10,000."),
    ]


@_section
class MlpParams:
    """The tutorial's network: Dense(hidden_units, relu), Dropout, Dense(10)."""

    hidden_units: Annotated[StrictInt, Field(ge=1, description="Units of the hidden layer.")]
    dropout_rate: Annotated[
        StrictFloat,
        Field(ge=0.0, lt=1.0, description="Fraction of the hidden units dropped at each step."),
    ]


@_section
class ConvnetParams:
    """Per filter count: conv, 2x2 max-pool, batch norm, relu (with `stem: strided`, the first
    block's conv and pool are one conv of stride 2); then dense, dropout, Dense(10)."""

    conv_filters: Annotated[
        _ListOf[Annotated[StrictInt, Field(ge=1)]],
        Field(description="Filters of each convolution block, in order: one block per entry."),
    ]
    kernel_size: Annotated[
        StrictInt, Field(ge=1, le=7, description="Side of the square kernels, in pixels.")
    ]
    padding: Annotated[
        Padding,
        Field(
            description="valid: each convolution trims kernel_size - 1 pixels off the side; "
            "same: it pads the image with zeros to keep its side."
        ),
    ]
    stem: Annotated[
        Stem,
        Field(
            description="pooled: the first block as the others, a convolution then 2x2 "
            "max-pooling; strided: one convolution of stride 2 with kernels of side "
            "kernel_size + 1 in their place, which sees the same pixels at less cost."
        ),
    ]
    dense_units: Annotated[StrictInt, Field(ge=1, description="Units of the dense layer.")]
    batch_norm_momentum: Annotated[
        StrictFloat,
        Field(ge=0.0, lt=1.0, description="Batch norm's moving-average momentum (Keras: 0.99)."),
    ]
    dropout_rate: Annotated[
        StrictFloat,
        Field(ge=0.0, lt=1.0, description="Fraction of the dense units dropped at each step."),
    ]


@_section
class AugmentParams:
    """Random changes to each training batch, never to validation or test; 0 turns one off."""

    shift: Annotated[
        StrictFloat,
        Field(ge=0.0, le=0.5, description="Largest shift, a fraction of the side (0.1: 2.8 px)."),
    ]
    rotation: Annotated[
        StrictFloat, Field(ge=0.0, le=180.0, description="Largest rotation, in degrees.")
    ]
    zoom: Annotated[
        StrictFloat,
        Field(ge=0.0, lt=1.0, description="Largest zoom in or out, as a fraction (0.1: 90-110%)."),
    ]
    elastic: Annotated[
        StrictFloat,
        Field(
            ge=0.0,
            le=100.0,
            description="Elastic distortion's strength alpha, in pixels (Simard et al.: 34).",
        ),
    ]
    elastic_sigma: Annotated[
        StrictFloat,
        Field(
            gt=0.0,
            le=10.0,
            description="Smoothing of the elastic distortion's field, in pixels (Simard: 4).",
        ),
    ]


@_section
class TrainParams:
    """Stage train: the network, the optimizer and the schedule."""

    architecture: Annotated[
        Architecture, Field(description="The network to train; each has its own section.")
    ]
    mlp: MlpParams
    convnet: ConvnetParams
    augment: AugmentParams
    optimizer: Annotated[Optimizer, Field(description="The Keras optimizer.")]
    learning_rate: Annotated[StrictFloat, Field(gt=0.0, le=10.0, description="Peak learning rate.")]
    lr_schedule: Annotated[
        LrSchedule,
        Field(description="constant, or cosine: a linear warm-up, then cosine decay to 0."),
    ]
    warmup_fraction: Annotated[
        StrictFloat,
        Field(ge=0.0, lt=1.0, description="cosine: the share of the steps spent warming up."),
    ]
    label_smoothing: Annotated[
        StrictFloat,
        Field(ge=0.0, lt=1.0, description="s: the targets are (1 - s) * one-hot + s / 10."),
    ]
    epochs: Annotated[StrictInt, Field(ge=1, description="Passes over the training set.")]
    batch_size: Annotated[StrictInt, Field(ge=1, description="Images per training step.")]
    seed: Annotated[
        StrictInt,
        Field(ge=0, description="Seed of the initial weights, shuffling, dropout, augmentation."),
    ]
    threads: Annotated[
        StrictInt,
        Field(ge=0, le=1024, description="TensorFlow's threads, 0: one per core (changes bytes)."),
    ]
    precision: Annotated[
        Precision,
        Field(
            description="Training maths: float32, or mixed_bfloat16 (float32 weights): "
            "about 2x on CPUs with AMX and on GPUs, slow without bfloat16 units; auto: "
            "mixed_bfloat16 where the CPU or GPU has them, else float32."
        ),
    ]


@_section
class EvaluateParams:
    """Stage evaluate: scoring the model on the test set."""

    batch_size: Annotated[StrictInt, Field(ge=1, description="Test images per prediction batch.")]


@_section
class ReportParams:
    """Stage report: the Markdown report and its figures."""

    misclassified_examples: Annotated[
        StrictInt,
        Field(ge=0, le=400, description="How many misclassified test images the report shows."),
    ]
    dpi: Annotated[
        StrictInt,
        Field(ge=30, le=600, description="Resolution of the figures, in dots per inch."),
    ]


@_section
class Params:
    """params.yaml: every hyperparameter of the pipeline, a section per stage."""

    download: DownloadParams
    normalize: NormalizeParams
    train: TrainParams
    evaluate: EvaluateParams
    report: ReportParams

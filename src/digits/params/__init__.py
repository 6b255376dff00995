"""The one typed schema of `params.yaml`, checked before any stage does work.

Every section is a frozen pydantic dataclass: unknown keys are refused, types are
strict (text is never read as a number, a bool never as an integer; an integer
is fine where a number is expected), and each field declares its bounds or
choices and a description. `load_params` turns the first problem into a
one-line `ParamsError` that names the key and says what is allowed, so a typo
passed with `dvc exp run -S` fails before training. That line is worded from
the models' JSON Schema, the one editors check `params.yaml` against as you
type; after changing a model, regenerate `params.schema.json`:

    python -m digits.params --schema params.schema.json

The package: `sections` holds the dataclasses, `loading` reads the file and writes the
schema, `messages` words the first problem.
"""

from digits.params.loading import SCHEMA_COMMAND, ParamsError, json_schema, load_params, main
from digits.params.sections import (
    AugmentParams,
    ConvnetParams,
    DownloadParams,
    EvaluateParams,
    MlpParams,
    NormalizeParams,
    Params,
    ReportParams,
    TrainParams,
)

__all__ = [
    "SCHEMA_COMMAND",
    "AugmentParams",
    "ConvnetParams",
    "DownloadParams",
    "EvaluateParams",
    "MlpParams",
    "NormalizeParams",
    "Params",
    "ParamsError",
    "ReportParams",
    "TrainParams",
    "json_schema",
    "load_params",
    "main",
]

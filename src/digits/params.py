"""The one typed schema of `params.yaml`, checked before any stage does work.

Every section is a frozen dataclass. Each field's metadata says what is allowed
(`choices`, or bounds `gt`/`ge`/`lt`/`le`); `load_params` rejects unknown keys,
missing keys, wrong types and out-of-range values with a one-line `ParamsError`
that names the key, so a typo passed with `dvc exp run -S` fails before training.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from digits.datasets import DATASETS as KNOWN_DATASETS
from digits.errors import InputError

ARCHITECTURES = ("convnet", "mlp")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
DATASETS = tuple(KNOWN_DATASETS)


class ParamsError(InputError):
    """params.yaml is missing, unreadable or does not match the schema."""


def _spec(**rules: Any) -> Any:
    return field(metadata=rules)


@dataclass(frozen=True)
class DownloadParams:
    dataset: str = _spec(choices=DATASETS)
    sources: tuple[str, ...] = _spec(min_items=1)
    timeout_seconds: float = _spec(gt=0)
    retries: int = _spec(ge=0, le=10)


@dataclass(frozen=True)
class NormalizeParams:
    validation_fraction: float = _spec(gt=0, lt=1)
    seed: int = _spec(ge=0)
    max_train_samples: int | None = _spec(ge=20)
    max_test_samples: int | None = _spec(ge=1)


@dataclass(frozen=True)
class MlpParams:
    hidden_units: int = _spec(ge=1)
    dropout_rate: float = _spec(ge=0, lt=1)


@dataclass(frozen=True)
class ConvnetParams:
    conv_filters: tuple[int, ...] = _spec(min_items=1, ge=1)
    kernel_size: int = _spec(ge=1, le=7)
    dense_units: int = _spec(ge=1)
    batch_norm_momentum: float = _spec(ge=0, lt=1)
    dropout_rate: float = _spec(ge=0, lt=1)


@dataclass(frozen=True)
class AugmentParams:
    shift: float = _spec(ge=0, le=0.5)  # largest shift, as a fraction of the image's side
    rotation: float = _spec(ge=0, le=180)  # largest rotation, in degrees
    zoom: float = _spec(ge=0, lt=1)  # largest zoom in or out, as a fraction


@dataclass(frozen=True)
class TrainParams:
    architecture: str = _spec(choices=ARCHITECTURES)
    mlp: MlpParams
    convnet: ConvnetParams
    augment: AugmentParams
    optimizer: str = _spec(choices=OPTIMIZERS)
    learning_rate: float = _spec(gt=0, le=10)
    lr_schedule: str = _spec(choices=LR_SCHEDULES)
    warmup_fraction: float = _spec(ge=0, lt=1)
    label_smoothing: float = _spec(ge=0, lt=1)
    epochs: int = _spec(ge=1)
    batch_size: int = _spec(ge=1)
    seed: int = _spec(ge=0)
    threads: int = _spec(ge=0, le=1024)


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = _spec(ge=1)


@dataclass(frozen=True)
class ReportParams:
    misclassified_examples: int = _spec(ge=0, le=400)
    dpi: int = _spec(ge=30, le=600)


@dataclass(frozen=True)
class Params:
    download: DownloadParams
    normalize: NormalizeParams
    train: TrainParams
    evaluate: EvaluateParams
    report: ReportParams


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate the whole params file; raise ParamsError naming the bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found; run from the repository root") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ParamsError(f"{path}: YAML syntax error{where}: {problem}") from None
    return _build(Params, raw, prefix="", source=path)


def _build(cls: type, raw: Any, prefix: str, source: Path) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {where} must be a mapping of keys, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        raise ParamsError(
            f"{source}: unknown key {prefix}{unknown[0]}; allowed keys in {where}: "
            f"{', '.join(fields)}"
        )
    missing = [name for name in fields if name not in raw]
    if missing:
        raise ParamsError(f"{source}: missing key {prefix}{missing[0]}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        key = f"{prefix}{name}"
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, raw[name], f"{key}.", source)
        else:
            values[name] = _check(key, kind, raw[name], dict(spec.metadata), source)
    return cls(**values)


def _check(key: str, kind: Any, value: Any, rules: dict, source: Path) -> Any:
    def fail(expected: str, hint: str = "") -> typing.NoReturn:
        raise ParamsError(f"{source}: {key} must be {expected}, got {_show(value)}{hint}")

    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType):  # `T | None`
        if value is None:
            return None
        kind = next(arg for arg in args if arg is not type(None))
        rules = {**rules, "nullable": True}
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list) or len(value) < rules.get("min_items", 0):
            fail(f"a list of at least {rules.get('min_items', 0)} {args[0].__name__} values")
        item_rules = {k: v for k, v in rules.items() if k != "min_items"}
        return tuple(
            _check(f"{key}[{i}]", args[0], item, item_rules, source) for i, item in enumerate(value)
        )
    described = _describe(kind, rules)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and not isinstance(value, str):
        fail(described)
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, kind)):
        fail(described, _number_as_text_hint(value))
    if "choices" in rules and value not in rules["choices"]:
        fail(described)
    for bound, holds in _BOUNDS.items():
        if bound in rules and not holds(value, rules[bound]):
            fail(described)
    return value


_BOUNDS = {
    "gt": lambda value, limit: value > limit,
    "ge": lambda value, limit: value >= limit,
    "lt": lambda value, limit: value < limit,
    "le": lambda value, limit: value <= limit,
}
_SYMBOLS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _describe(kind: type, rules: dict) -> str:
    if "choices" in rules:
        text = "one of " + ", ".join(rules["choices"])
    else:
        text = {int: "an integer", float: "a number", str: "a string"}[kind]
        bounds = [f"{_SYMBOLS[b]} {rules[b]}" for b in _SYMBOLS if b in rules]
        if bounds:
            text += " " + " and ".join(bounds)
    return text + (" or null" if rules.get("nullable") else "")


def _number_as_text_hint(value: Any) -> str:
    """YAML reads `1e-3` (no dot) and quoted numbers as strings: say how to write the number."""
    try:
        number = float(value) if isinstance(value, str) else math.nan
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    written = int(number) if number.is_integer() else number
    return f" (YAML reads it as text; write {written!r})"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    return "null" if value is None else repr(value)

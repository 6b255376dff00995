"""Reading `params.yaml` against its schema, and writing the schema for editors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from digits.errors import InputError
from digits.params.messages import first_problem
from digits.params.sections import Params

SCHEMA_COMMAND = "python -m digits.params --schema params.schema.json"


class ParamsError(InputError):
    """params.yaml is missing, unreadable or does not match the schema."""


_ADAPTER = TypeAdapter(Params)


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
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as error:
        raise ParamsError(f"{path}: {first_problem(error.errors(), json_schema())}") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of params.yaml: valid as draft 2020-12 and as draft-07 alike."""
    comment = f"Generated from the models in src/digits/params/sections.py by: {SCHEMA_COMMAND}"
    return {"$comment": comment, **_ADAPTER.json_schema()}


def main(argv: list[str] | None = None) -> None:
    """`python -m digits.params --schema PATH`: write the JSON Schema of params.yaml."""
    cli = argparse.ArgumentParser(
        prog="python -m digits.params", description="Write the JSON Schema of params.yaml."
    )
    cli.add_argument("--schema", type=Path, required=True, help="the file (params.schema.json)")
    args = cli.parse_args(argv)
    from digits import storage  # here: it loads NumPy, which checking params.yaml does not need

    storage.write_json(args.schema, json_schema())

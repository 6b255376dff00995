"""digits-export: write the trained model as a TensorFlow SavedModel for serving.

    digits-export                                   # models/model.keras -> models/saved_model
    digits-export --model other.keras --out serving/digits/1

The SavedModel's `serve` endpoint takes float32 images of shape (N, 28, 28) in
[0, 1] (prepared and scaled as digits-predict does) and returns (N, 10) class
probabilities. The folder is replaced atomically, only after the export has
been reloaded and checked against the model. Exit status 0 on success, 2 when
the model is missing or refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digits.cli import (
    FAILED,
    OK,
    command_parser,
    configure_logging,
    console,
    error,
    heavy_imports,
)
from digits.errors import InputError

DEFAULT_OUT = Path("models/saved_model")


def parser() -> argparse.ArgumentParser:
    cli = command_parser(
        "digits-export", "Export the trained .keras model as a TensorFlow SavedModel.", __doc__
    )
    cli.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"the SavedModel folder ({DEFAULT_OUT})"
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(verbose=True)
    with heavy_imports():
        from digits import models, serving  # imports TensorFlow: only once the arguments are good
    try:
        model = models.load_model(args.model)
    except InputError as failure:
        error(str(failure))
        return FAILED
    serving.export_saved_model(model, args.out)
    return OK


def installed() -> int:
    """The installed command (pyproject.toml's project.scripts)."""
    return console(main)


if __name__ == "__main__":
    sys.exit(installed())

"""digits-predict: read the digit in each picture with the trained model.

    digits-predict photo.jpg scans/ --top 3
    digits-predict scans/ --json > predictions.jsonl
    digits-predict scans/ --csv > predictions.csv

Prints one result per picture on stdout (text, JSON lines or CSV) and one line
per unusable file on stderr. Exit status: 0 when every picture was predicted,
1 when some files failed (the rest are still printed), 2 when nothing could be
done (no model, no input files, bad arguments).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from digits import images, prediction, preprocessing
from digits.cli import (
    FAILED,
    OK,
    SOME_FAILED,
    command_parser,
    configure_logging,
    console,
    error,
    heavy_imports,
)
from digits.errors import InputError

CSV_HEADER = ("file", "rank", "digit", "probability")


def parser() -> argparse.ArgumentParser:
    cli = command_parser(
        "digits-predict",
        "Predict the handwritten digit in each picture (PNG, JPEG or .npy).",
        __doc__,
    )
    cli.add_argument("inputs", nargs="+", type=Path, help="picture files and/or folders")
    cli.add_argument(
        "--top", type=positive, default=1, metavar="K", help="show the K most likely digits"
    )
    output = cli.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object per line")
    output.add_argument("--csv", action="store_true", help=f"CSV: {','.join(CSV_HEADER)}")
    cli.add_argument(
        "--batch-size",
        type=positive,
        default=256,
        metavar="N",
        help="pictures per model call (256)",
    )
    cli.add_argument("--verbose", action="store_true", help="log what is done on stderr")
    return cli


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def as_text(result: prediction.Prediction) -> str:
    ranked = ", ".join(
        f"{digit} ({chance:.2%})"
        for digit, chance in zip(result.digits, result.probabilities, strict=True)
    )
    return f"{result.name}: {ranked}"


def as_json(result: prediction.Prediction) -> str:
    top = [
        {"digit": digit, "probability": round(chance, 6)}
        for digit, chance in zip(result.digits, result.probabilities, strict=True)
    ]
    return json.dumps({"file": result.name, **top[0], "top": top})


def as_csv(result: prediction.Prediction) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for rank, (digit, chance) in enumerate(
        zip(result.digits, result.probabilities, strict=True), start=1
    ):
        writer.writerow((result.name, rank, digit, round(chance, 6)))
    return buffer.getvalue().rstrip("\n")


def checked_model(path: Path, top: int):
    """The model, checked to take 28x28 images and to know at least `top` classes."""
    with heavy_imports():
        from digits import models  # imports TensorFlow: only once the arguments are good

    model = models.load_model(path)
    side = preprocessing.SIZE
    if tuple(model.input_shape[1:]) != (side, side) or len(model.output_shape) != 2:
        raise InputError(
            f"{path}: the model maps {model.input_shape} to {model.output_shape}; "
            f"digits-predict needs one that maps ({side}, {side}) images to class probabilities"
        )
    if top > model.output_shape[1]:
        raise InputError(f"--top {top}: the model knows only {model.output_shape[1]} classes")
    return model


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.verbose)
    files, problems = images.find(args.inputs)
    for problem in problems:
        error(problem)
    if not files:
        error("no pictures to predict")
        return FAILED
    try:
        model = checked_model(args.model, args.top)
    except InputError as failure:
        error(str(failure))
        return FAILED
    formatter: Callable[[prediction.Prediction], str] = (
        as_json if args.json else as_csv if args.csv else as_text
    )
    if args.csv:
        tqdm.write(",".join(CSV_HEADER), file=sys.stdout)
    failed = len(problems)
    try:
        for outcome in prediction.predict(
            model, files, args.top, args.batch_size, progress=len(files) > args.batch_size
        ):
            if isinstance(outcome, prediction.Failure):
                failed += 1
                error(outcome.message)
            else:
                tqdm.write(formatter(outcome), file=sys.stdout)
        sys.stdout.flush()
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a pipe does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return SOME_FAILED if failed else OK


def installed() -> int:
    """The installed command (pyproject.toml's project.scripts)."""
    return console(main)


if __name__ == "__main__":
    sys.exit(installed())

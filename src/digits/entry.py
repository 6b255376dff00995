"""What every stage script does around its work: logging, params and clean failure."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from digits.errors import InputError
from digits.params import Params, load_params

logger = logging.getLogger("digits")


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the `--params` option every stage takes."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--params", default="params.yaml", help="the params file (params.yaml)")
    return result


def run(main: Callable[[argparse.Namespace, Params], None], cli: argparse.ArgumentParser) -> None:
    """Parse arguments, validate params.yaml, then call `main(args, params)`.

    Bad input (an InputError) becomes one line on stderr and exit status 1;
    Ctrl-C becomes "interrupted" and exit status 130. Anything else is a bug
    and keeps its traceback.
    """
    args = cli.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    try:
        params = load_params(args.params)
        main(args, params)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"interrupted: {cli.prog} stopped; no output was replaced", file=sys.stderr)
        sys.exit(130)

"""What every stage script does around its work: logging, params and clean failure."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable

from digits.errors import InputError
from digits.params import Params, load_params

logger = logging.getLogger("digits")


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that `finally` blocks remove temporary files."""


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the `--params` option every stage takes."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--params", default="params.yaml", help="the params file (params.yaml)")
    return result


def run(main: Callable[[argparse.Namespace, Params], None], cli: argparse.ArgumentParser) -> None:
    """Parse arguments, validate params.yaml, then call `main(args, params)`.

    Bad input (an InputError) becomes one line on stderr and exit status 1;
    Ctrl-C (SIGINT) and SIGTERM become one line and exit status 130 or 143,
    after every temporary file has been removed. Anything else is a bug and
    keeps its traceback.
    """
    args = cli.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    signal.signal(signal.SIGTERM, _terminate)
    try:
        params = load_params(args.params)
        main(args, params)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except (KeyboardInterrupt, Terminated) as stop:
        name = "interrupted" if isinstance(stop, KeyboardInterrupt) else "terminated"
        print(f"{name}: {cli.prog} stopped; no partly written file was left", file=sys.stderr)
        sys.exit(130 if name == "interrupted" else 128 + signal.SIGTERM)

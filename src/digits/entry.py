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
    """Raised on SIGTERM, as KeyboardInterrupt is on SIGINT: `finally` blocks remove temporaries."""


STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_received: list[int] = []


def _stop(signum: int, frame: object) -> None:
    _received.append(signum)
    signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the `--params` option every stage takes."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--params", default="params.yaml", help="the params file (params.yaml)")
    return result


def run(main: Callable[[argparse.Namespace, Params], None], cli: argparse.ArgumentParser) -> None:
    """Parse arguments, validate params.yaml, then call `main(args, params)`.

    Bad input (an InputError) becomes one line on stderr and exit status 1.
    Ctrl-C (SIGINT) or SIGTERM stops the work where it is; once every temporary
    file is removed, one line says so and the exit status is 130 or 143, even
    if the interruption surfaced as another exception inside a library.
    Anything else is a bug and keeps its traceback.
    """
    args = cli.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    for number in STOP_SIGNALS:
        signal.signal(number, _stop)
    try:
        params = load_params(args.params)
        main(args, params)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except BaseException:
        if not _received:
            raise
        print(
            f"{STOP_SIGNALS[_received[0]]}: {cli.prog} stopped; no partly written file was left",
            file=sys.stderr,
        )
        sys.exit(128 + _received[0])

"""What every stage script does around its work: logging, params and clean failure.

Importing this module installs the SIGINT and SIGTERM handlers. A stage script
imports it before the package modules that load TensorFlow or matplotlib, so
Ctrl-C in the seconds those take to import also ends in one line, not in a
KeyboardInterrupt traceback from deep inside TensorFlow.

Importing it also pauses Python's cyclic garbage collector until `run` starts the
work. Each full pass of the collector walks every object Python tracks, and
TensorFlow's import makes about 600,000 of them: its passes cost 0.8 s of the
import, and the pass at exit 1.1 s (benchmarks/README.md). `run` moves what the
imports made into the permanent generation (`gc.freeze`), which no pass walks, and
turns the collector back on for the work; it freezes what the work made before the
process exits. What this gives up: the few cycles of garbage that the imports leave
are never collected, and the finalizers of cycles left at exit do not run. Every
stage has written and renamed its outputs by then.

And it holds back stderr (`digits.notices`) until `run` starts the work, a stop signal
comes or the process ends: the notices that TensorFlow's import writes whatever its log
level are dropped, and anything else written meanwhile (a traceback, a warning) shows.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable

from digits import notices, storage
from digits.errors import InputError
from digits.params import Params, load_params

STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


def _stop_handler(program: str) -> Callable[[int, object], None]:
    """On SIGINT or SIGTERM: remove this process's temporaries, say so in one line, exit.

    It exits from the handler instead of raising KeyboardInterrupt: an exception
    raised while TensorFlow's C++ code calls back into Python can be turned into
    a SystemError, printed and dropped, and the work would go on.
    """

    def stop(signum: int, frame: object) -> None:
        notices.release()
        storage.remove_temporaries()
        line = f"{STOP_SIGNALS[signum]}: {program} stopped; no partly written file was left\n"
        os.write(sys.stderr.fileno(), line.encode())
        os._exit(128 + signum)

    return stop


def _install_stop_handlers() -> None:
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    for number in STOP_SIGNALS:
        signal.signal(number, _stop_handler(program))


def _release_notices_first(*exception: object) -> None:
    notices.release()
    sys.__excepthook__(*exception)


_install_stop_handlers()
gc.disable()  # until `run` starts the work (above)
notices.hold()  # until `run` starts the work, a stop signal, a traceback or the exit
sys.excepthook = _release_notices_first
atexit.register(notices.release)


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the `--params` option every stage takes."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--params", default="params.yaml", help="the params file (params.yaml)")
    return result


def run(main: Callable[[argparse.Namespace, Params], None], cli: argparse.ArgumentParser) -> None:
    """Parse arguments, validate params.yaml, then call `main(args, params)`.

    Bad input (an InputError) becomes one line on stderr and exit status 1;
    Ctrl-C (SIGINT) or SIGTERM removes the temporary files being written, says
    so in one line and exits with status 130 or 143. Anything else is a bug and
    keeps its traceback.
    """
    notices.release()
    gc.freeze()
    gc.enable()
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
    finally:
        gc.freeze()  # the interpreter's pass at exit skips it all

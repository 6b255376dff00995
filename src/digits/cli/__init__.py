"""Console commands installed with the package: `digits-predict` and `digits-export`.

Each command's `main(argv)` returns its exit status, so tests can call it; only
these entry points configure logging and print. The installed command runs it
through `console`, which spares it the garbage collector's passes over
TensorFlow's objects, as `digits.entry` spares the stages.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from digits import notices

# Exit statuses shared by the commands.
OK = 0
SOME_FAILED = 1  # some inputs could not be used; the rest were
FAILED = 2  # nothing done: bad arguments, no model, no inputs

DEFAULT_MODEL = Path("models/model.keras")  # where the train stage saves it (dvc.yaml)


def command_parser(prog: str, description: str, doc: str) -> argparse.ArgumentParser:
    """A command's parser: the notes after the first paragraph of `doc`, and `--model`."""
    cli = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help=f"the .keras model ({DEFAULT_MODEL})"
    )
    return cli


def configure_logging(verbose: bool) -> None:
    """Warnings from everything on stderr; this package's progress notes too when `verbose`."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("digits").setLevel(logging.INFO if verbose else logging.WARNING)


def error(message: str) -> None:
    """One line on stderr (around any progress bar)."""
    tqdm.write(f"error: {message}", file=sys.stderr)


_collector_paused = False  # by `console`, until `heavy_imports` ends


def console(main: Callable[[], int]) -> int:
    """Run a command's `main()` as the installed command: Python's cyclic garbage
    collector paused until TensorFlow has been imported (`heavy_imports`) and frozen out
    of the interpreter's pass at exit, as `digits.entry` does for the stages (why: its
    docstring). `main` called directly, as tests do, keeps the collector as it finds it.
    """
    global _collector_paused
    gc.disable()
    _collector_paused = True
    try:
        return main()
    finally:
        gc.freeze()  # the pass at exit skips it all


@contextlib.contextmanager
def heavy_imports() -> Iterator[None]:
    """Import TensorFlow (and what uses it) in the block, its notices on stderr dropped
    (`digits.notices`); under `console`, what the imports made is then frozen and the
    collector turned back on for the work."""
    global _collector_paused
    with notices.held():
        yield
    if _collector_paused:
        gc.freeze()
        gc.enable()
        _collector_paused = False

"""What every stage does on bad input and on SIGINT or SIGTERM: one line, a clean exit."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, environment, run

# A stage in miniature: it writes `out` atomically and meets `fault` half way through.
STAGE = """
import os, signal, sys
from digits import entry, storage
from digits.errors import InputError

def main(args, params):
    with storage.atomic_path(args.out) as temporary:
        temporary.write_text("half")
        if args.fault == "input":
            raise InputError("data/x.npz: broken")
        if args.fault == "bug":
            raise RuntimeError("a bug")
        os.kill(os.getpid(), getattr(signal, args.fault))
        signal.pause()

cli = entry.parser(None)
cli.add_argument("--out")
cli.add_argument("--fault")
entry.run(main, cli)
"""


STOPPED = "stage.py stopped; no partly written file was left"


@pytest.mark.parametrize(
    ("fault", "status", "last_line"),
    [
        ("input", 1, "error: data/x.npz: broken"),
        ("SIGTERM", 128 + signal.SIGTERM, f"terminated: {STOPPED}"),
        ("SIGINT", 130, f"interrupted: {STOPPED}"),
        ("bug", 1, "RuntimeError: a bug"),  # not bad input, not stopped: the traceback stays
    ],
)
def test_a_stage_stops_with_one_line_and_removes_its_temporary(tmp_path, fault, status, last_line):
    script = tmp_path / "stage.py"
    script.write_text(STAGE)
    out = tmp_path / "out" / "result.txt"
    params = REPO_ROOT / "params.yaml"
    result = run(
        [sys.executable, str(script), "--params", str(params), "--out", str(out), "--fault", fault],
        tmp_path,
        check=False,
    )
    assert result.returncode == status
    lines = result.stderr.splitlines()
    assert lines[-1] == last_line
    assert (lines[0] == "Traceback (most recent call last):") == (fault == "bug")
    assert len(lines) == 1 or fault == "bug"
    assert list(out.parent.iterdir()) == []  # neither the output nor its temporary


# Loaded at start-up (sitecustomize) by the stage process: Ctrl-C arrives exactly as the
# stage script starts importing `heavy`, instead of after a guessed delay.
CTRL_C_DURING_IMPORT = """
import os, signal, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["HEAVY"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
"""


@pytest.mark.parametrize(
    ("stage", "heavy"),
    [("train", "tensorflow"), ("evaluate", "tensorflow"), ("report", "matplotlib")],
)
def test_ctrl_c_while_a_stage_imports_its_libraries_gives_one_line(tmp_path, stage, heavy):
    (tmp_path / "sitecustomize.py").write_text(CTRL_C_DURING_IMPORT)
    env = dict(environment(), HEAVY=heavy, PYTHONPATH=str(tmp_path))
    script = REPO_ROOT / "stages" / f"{stage}.py"
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr.splitlines() == [
        f"interrupted: {stage}.py stopped; no partly written file was left"
    ]


def test_the_collector_skips_the_imports_and_the_exit_but_runs_during_the_work(tmp_path):
    """Importing entry pauses Python's cyclic garbage collector; `run` freezes what the
    imports made, turns the collector on for `main`, and freezes again before exit."""
    script = tmp_path / "stage.py"
    script.write_text(
        "import gc\n"
        "from digits import entry\n"
        "print('imports', gc.isenabled())\n"
        "def main(args, params):\n"
        "    print('work', gc.isenabled(), gc.get_freeze_count() > 0)\n"
        "    global made\n"
        "    made = [[] for _ in range(1000)]\n"
        "    gc.collect()\n"
        "    print('collected', gc.get_freeze_count())\n"
        "entry.run(main, entry.parser(None))\n"
        "print('exit', gc.get_freeze_count())\n"
    )
    result = run(
        [sys.executable, str(script), "--params", str(REPO_ROOT / "params.yaml")], tmp_path
    )
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["imports"] == "False"
    assert lines["work"] == "True True"
    assert int(lines["exit"]) >= int(lines["collected"]) + 1000  # the work's lists, frozen

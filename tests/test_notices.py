"""TensorFlow's import notices are dropped from stderr; nothing else written there is."""

from __future__ import annotations

import sys

from conftest import REPO_ROOT, run

ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = (
    "I0000 00:00:1796085424.591644   11674 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`."
)


def stderr_of(code: str, tmp_path) -> list[str]:
    return run([sys.executable, "-c", code], tmp_path).stderr.splitlines()


def test_held_stderr_comes_back_in_order_less_the_notices(tmp_path):
    code = (
        "import os, sys\n"
        "from digits import notices\n"
        "with notices.held():\n"
        f"    os.write(2, b'before\\n{ABSL}\\n{ONEDNN}\\n')\n"
        "    print('a warning', file=sys.stderr)\n"
        f"    os.write(2, b'{ABSL}\\nafter\\n')\n"
        "print('released', file=sys.stderr)\n"
    )
    assert stderr_of(code, tmp_path) == ["before", "a warning", "after", "released"]


def test_tensorflow_writes_the_notices_and_a_stage_shows_none_of_them(tmp_path):
    bare = stderr_of("import tensorflow", tmp_path)
    assert ABSL in bare, "TensorFlow no longer writes the notice: digits.notices may go"
    assert any("oneDNN custom operations are on" in line for line in bare)
    stage = stderr_of(
        "from digits import entry, models, training\n"
        "entry.run(lambda args, params: print('work'), entry.parser(None))\n",
        REPO_ROOT,
    )
    assert stage == []


def test_a_stage_that_fails_while_importing_still_shows_its_traceback(tmp_path):
    result = run(
        [sys.executable, "-c", "from digits import entry, models\nimport not_a_module\n"],
        tmp_path,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ModuleNotFoundError: No module named 'not_a_module'"
    assert ABSL not in lines

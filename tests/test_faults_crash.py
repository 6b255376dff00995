"""Crashes and concurrent runs: never a half-written output, and `dvc repro` completes.

Signals reach `train` from outside while it fits (the stage logs a line first). In
`normalize` they are sent at the worst moment, exactly: as it renames a finished
temporary onto an output, after writing an earlier one (tests/faults.py injects
this into the stage process only).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import dvc, git, stages_run
from faults import (
    Background,
    assert_nothing_partial,
    assert_restored,
    digests,
    injected,
    killed,
    temporaries,
)

pytestmark = pytest.mark.pipeline

NORMALIZE = ("repro", "--force", "--single-item", "normalize")
TRAIN = ("repro", "--force", "--single-item", "train")
FITTING = "digits.training: training"  # logged by the train stage just before it fits


def crash_normalize(baseline, tmp_path, action):
    """Run normalize, hit by `action` as it renames validation.npz into place."""
    env = injected(tmp_path / "injection", "stages/normalize.py", "validation.npz", action)
    code, output = Background(baseline.repo, *NORMALIZE, env=env).finish()
    normalized = baseline.repo / "data/normalized"
    assert (normalized / "train.npz").exists()  # the fault came after the first output
    assert not (normalized / "validation.npz").exists()
    assert "Traceback" not in output
    assert_nothing_partial(baseline)
    return code, output


def recover(baseline, *command):
    """Run `dvc <command>` after the crash: the baseline's outputs again, byte for byte."""
    repo = baseline.repo
    git(repo, "checkout", "-q", "--", ".")  # results/ is in Git, DVC removed its files
    result = dvc(repo, *command)
    assert digests(repo) == baseline.digests
    assert git(repo, "status", "--porcelain") == ""  # a leftover temporary is git-ignored
    return result.stdout + result.stderr


def test_sigkill_of_normalize_while_it_renames_an_output(clean_baseline, tmp_path):
    code, output = crash_normalize(clean_baseline, tmp_path, "SIGKILL")
    assert code != 0
    assert "ERROR: failed to reproduce 'normalize'" in output and killed(output, signal.SIGKILL)
    # SIGKILL cannot be caught: the finished temporary stays, hidden, beside its output...
    left = temporaries(clean_baseline.repo)
    assert len(left) == 1 and left[0].startswith("data/normalized/.validation.npz.")
    # ...until the stage runs again: the same command now completes and removes it.
    assert stages_run(recover(clean_baseline, *NORMALIZE)) == {"normalize"}
    assert temporaries(clean_baseline.repo) == []


def test_sigterm_of_normalize_while_it_renames_an_output(clean_baseline, tmp_path):
    code, output = crash_normalize(clean_baseline, tmp_path, "SIGTERM")
    assert code != 0
    assert "exited with 143" in output
    stopped = "terminated: normalize.py stopped; no partly written file was left"
    assert output.count(stopped) == 1
    assert temporaries(clean_baseline.repo) == []  # removed on the way out
    recover(clean_baseline, "repro")


def test_sigkill_of_dvc_and_normalize_together(clean_baseline, tmp_path):
    code, _ = crash_normalize(clean_baseline, tmp_path, "group-SIGKILL")
    assert code == -signal.SIGKILL
    output = recover(clean_baseline, "repro")  # from the run-cache: normalize does not run
    assert "had been killed. Auto removed it from the lock file" in output  # DVC's stale lock


def start_training(baseline):
    job = Background(baseline.repo, *TRAIN)
    job.wait_for(FITTING)
    return job, job.stage_pid("stages/train.py")


def wait_gone(pid, timeout=60):
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_sigkill_of_train_while_it_fits(clean_baseline):
    job, pid = start_training(clean_baseline)
    os.kill(pid, signal.SIGKILL)
    code, output = job.finish()
    assert code != 0
    assert "ERROR: failed to reproduce 'train'" in output and killed(output, signal.SIGKILL)
    assert not (clean_baseline.repo / "models/model.keras").exists()
    assert_nothing_partial(clean_baseline)
    assert temporaries(clean_baseline.repo)  # killed mid-run: dvclive's folder is still there
    ran = stages_run(recover(clean_baseline, *TRAIN))
    assert ran == {"train"}  # trained again: the same model, byte for byte
    assert temporaries(clean_baseline.repo) == []  # the rerun removed the killed run's leftovers
    assert stages_run(dvc(clean_baseline.repo, "repro").stdout) == set()


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (signal.SIGTERM, "terminated: train.py stopped; no partly written file was left"),
        (signal.SIGINT, "interrupted: train.py stopped; no partly written file was left"),
    ],
    ids=["SIGTERM", "SIGINT (Ctrl-C)"],
)
def test_a_stop_signal_to_dvc_and_train_gives_one_line(clean_baseline, number, message):
    """As from `kill` on the job, a container stop or Ctrl-C: DVC and the stage both get it."""
    job, pid = start_training(clean_baseline)
    job.signal_group(number)
    code, output = job.finish()
    wait_gone(pid)
    assert code != 0
    assert output.count(message) == 1, output
    assert "Traceback" not in output
    assert not (clean_baseline.repo / "models/model.keras").exists()
    assert temporaries(clean_baseline.repo) == []  # the stage removed its temporaries
    assert_nothing_partial(clean_baseline)
    assert_restored(clean_baseline)


def test_a_second_repro_fails_fast_on_the_lock_and_the_first_completes(clean_baseline, tmp_path):
    repo = clean_baseline.repo
    env = injected(tmp_path / "injection", "stages/normalize.py", "validation.npz", "SIGSTOP")
    first = Background(repo, *NORMALIZE, env=env)
    pid = first.stage_pid("stages/normalize.py", stopped=True)  # frozen in the middle of writing
    started = time.monotonic()
    second = dvc(repo, "repro", check=False)
    waited = time.monotonic() - started
    os.kill(pid, signal.SIGCONT)
    code, output = first.finish()
    assert second.returncode != 0
    assert "is busy, it is being blocked by" in second.stderr, second.stderr
    assert waited < 60  # failed at once, without waiting for the first run
    assert code == 0, output
    assert digests(repo) == clean_baseline.digests
    assert temporaries(repo) == []
    assert stages_run(dvc(repo, "repro").stdout) == set()

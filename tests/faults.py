"""What the fault tests share: a baseline run to attack, and what "nothing lost" means.

The baseline is one shrunken `dvc repro` in a temporary git + DVC repository whose
only dataset source is the bundled copy (no test reaches the internet). Every
fault test breaks something, runs the real pipeline, and then checks that:

- the command failed with a non-zero exit and one clear message;
- every output file that exists is byte-identical to the baseline's (DVC deletes a
  stage's outputs before running it; a half-written file must never appear);
- after the fault is removed, `dvc checkout` restores the baseline's outputs byte
  for byte from the DVC cache, and `dvc repro` succeeds.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import SMALL, dvc, environment, git, make_repo, stages_run

# The shrunken params, with the bundled copy as the only source and no retries.
PARAMS = {
    **SMALL,
    "download": {"sources": ["data/bundled/mnist"], "timeout_seconds": 1.0, "retries": 0},
}
# Where the stages write: DVC-cached outputs and the small results committed to Git.
OUTPUT_FOLDERS = ("data/raw", "data/normalized", "models", "results", "report")
# The temporaries of src/digits/storage.py: `.NAME.PID.RANDOM.tmp[.SUFFIX]`.
TEMPORARY = re.compile(r"\..+\.\d+\.[^.]+\.tmp(\.[^.]+)?")


@dataclass(frozen=True)
class Baseline:
    repo: Path
    digests: dict[str, str]  # output file -> sha256, after the good run


def make_baseline(destination: Path) -> Baseline:
    repo = make_repo(destination, PARAMS)
    dvc(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "baseline run")
    return Baseline(repo, digests(repo))


def reset(baseline: Baseline) -> Path:
    """The baseline repository as committed, with the baseline's outputs checked out."""
    repo = baseline.repo
    git(repo, "reset", "-q", "--hard", "main")
    git(repo, "clean", "-q", "-d", "--force")
    for leftover in map(repo.joinpath, temporaries(repo)):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    if digests(repo) != baseline.digests:
        dvc(repo, "checkout", "--force", "-q")
    assert digests(repo) == baseline.digests, "could not restore the baseline"
    return repo


def digests(repo: Path) -> dict[str, str]:
    """sha256 of every file in the output folders, temporaries left aside."""
    found = {}
    for folder in OUTPUT_FOLDERS:
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file() and not any(TEMPORARY.fullmatch(p) for p in path.parts):
                found[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def temporaries(repo: Path) -> list[str]:
    """Temporaries of atomic writes anywhere in the workspace (outside .git and .dvc)."""
    return sorted(
        str(path.relative_to(repo))
        for path in repo.rglob(".*")
        if TEMPORARY.fullmatch(path.name) and not {".git", ".dvc"} & set(path.parts)
    )


def assert_nothing_partial(baseline: Baseline, tampered: tuple[str, ...] = ()) -> None:
    """Every output file still there is the baseline's own; `tampered` ones are the fault."""
    now = digests(baseline.repo)
    different = sorted(p for p, d in now.items() if baseline.digests.get(p) != d)
    assert different == sorted(p for p in tampered if p in now)


def assert_one_error(output: str, message: str) -> None:
    """The stage said what is wrong in exactly one `error:` line, without a traceback."""
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert message in errors[0], errors[0]
    assert "Traceback" not in output


def assert_restored(baseline: Baseline) -> None:
    """Remove the fault (Git), restore outputs from the DVC cache, then `dvc repro`."""
    repo = baseline.repo
    git(repo, "checkout", "-q", "--", ".")
    dvc(repo, "checkout", "--force", "-q")
    assert digests(repo) == baseline.digests
    output = dvc(repo, "repro").stdout
    assert stages_run(output) == set() and "Data and pipelines are up to date" in output
    assert temporaries(repo) == []


def assert_recovered_by_repro(baseline: Baseline, rerun: set[str]) -> None:
    """After a crash, `dvc repro` re-runs exactly `rerun` and gives the baseline's bytes."""
    repo = baseline.repo
    git(repo, "checkout", "-q", "--", ".")  # results/ is in Git; DVC removed the files
    assert stages_run(dvc(repo, "repro").stdout) == rerun
    assert digests(repo) == baseline.digests
    assert temporaries(repo) == []
    assert git(repo, "status", "--porcelain") == ""


class Background:
    """A `dvc` command running in its own process group, its output read as it comes."""

    def __init__(self, repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dvc", *args],
            cwd=repo,
            env=env or environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # like a shell job: a signal to the group reaches the stage
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        RUNNING.append(self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, f"exited before {text!r}:\n{self.output}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{self.output}"
            time.sleep(0.05)

    def stage_pid(self, script: str, stopped: bool = False, timeout: float = 120) -> int:
        """The process id of the stage script that `dvc` runs, once running (or stopped).

        DVC runs a stage's command through the user's shell ($SHELL, else /bin/sh). bash
        replaces itself with the command; dash stays as its parent. So the stage is
        whichever descendant has `script` as an argument of its own, not the shell
        whose one argument is the whole command line.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"exited before {script} ran:\n{self.output}"
            for pid, state in _descendants(self.process.pid).items():
                arguments = _read(f"/proc/{pid}/cmdline").split("\0")
                if script in arguments and (not stopped or state == "T"):
                    return pid
            time.sleep(0.05)
        raise AssertionError(f"{script} did not {'stop' if stopped else 'start'}:\n{self.output}")

    def signal_group(self, number: signal.Signals) -> None:
        os.killpg(self.process.pid, number)

    def finish(self, timeout: float = 180) -> tuple[int, str]:
        returncode = self.process.wait(timeout)
        self.reader.join(timeout)
        return returncode, self.output

    def stop(self) -> None:
        """Kill the whole group if still running: a failed test must not leave DVC's lock held."""
        if self.process.poll() is None:
            for number in (signal.SIGCONT, signal.SIGKILL):  # a frozen stage too
                try:
                    os.killpg(self.process.pid, number)
                except ProcessLookupError:
                    break
            self.process.wait(60)
        self.reader.join(60)


# Every Background job a test started; the fault tests' fixture stops the ones left running.
RUNNING: list[Background] = []


def stop_all() -> None:
    while RUNNING:
        RUNNING.pop().stop()


def killed(output: str, number: signal.Signals) -> bool:
    """Whether DVC reported its stage's command killed by signal `number`.

    DVC prints the command's exit status: -N when the stage itself was the command
    (bash execs it), 128+N when a shell in between reported it (dash, /bin/sh on Debian).
    """
    return f"exited with -{number.value}" in output or f"exited with {128 + number.value}" in output


def _descendants(ancestor: int) -> dict[int, str]:
    """The processes below `ancestor`, with their state (R, S, T...); Linux only."""
    parents: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _read(str(stat)).rsplit(")", 1)[-1].split()
        if len(fields) >= 2:
            parents[int(stat.parent.name)] = (int(fields[1]), fields[0])
    found: dict[int, str] = {}
    level = {ancestor}
    while level:
        level = {pid for pid, (ppid, _) in parents.items() if ppid in level and pid not in found}
        found.update((pid, parents[pid][1]) for pid in level)
    return found


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:  # the process has just ended
        return ""


# Loaded by every Python process started with the injection folder on PYTHONPATH; acts only
# in the stage script FAULT_SCRIPT, at the moment it renames a finished temporary onto
# FAULT_TARGET: the worst moment for a crash, made exact instead of left to timing.
INJECTION = """
import os, signal, sys

if sys.argv and sys.argv[0].endswith(os.environ["FAULT_SCRIPT"]):
    _replace = os.replace

    def _replace_after_fault(source, target, *args, **kwargs):
        if os.path.basename(os.fspath(target)) == os.environ["FAULT_TARGET"]:
            action = os.environ["FAULT_ACTION"]
            if action.startswith("group-"):
                os.killpg(os.getpgrp(), getattr(signal, action.removeprefix("group-")))
            else:
                os.kill(os.getpid(), getattr(signal, action))
        return _replace(source, target, *args, **kwargs)

    os.replace = _replace_after_fault
"""


def injected(folder: Path, script: str, target: str, action: str) -> dict[str, str]:
    """An environment in which `script` gets `action` (a signal) as it renames onto `target`.

    `action` is a signal name such as SIGKILL (sent to the stage process) or
    group-SIGINT (sent to its process group: `dvc` too, as Ctrl-C in a terminal).
    """
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(INJECTION)
    env = environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    env.update(FAULT_SCRIPT=script, FAULT_TARGET=target, FAULT_ACTION=action)
    return env

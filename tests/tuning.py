"""What the tuning tests share: the README's Tune commands, run as written, and DVC's queue.

Every command in the README's "Tune" section is a line of a ```bash block there. A test
runs one through `readme()`, which refuses a command the README does not hold, and runs
it with bash exactly as written, the README's `$NAME` placeholders given as environment
variables. `tests/test_readme.py` checks the other direction: that every command of the
section is passed to `readme()` by some test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from conftest import REPO_ROOT, dvc, environment

SECTION = "## Tune"
FINISHED = {"Success", "Failed"}


def readme_commands() -> list[str]:
    """The command lines of the README's Tune section, comments and blank lines left out."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)\n```", section, flags=re.DOTALL):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


# kombu's file-system broker, which DVC's queue uses, creates a message file before it
# writes it, and a reader can take it empty (celery/kombu#1551). Under load `dvc queue
# status` or `dvc queue start` then fails with this before it does anything, and asking
# again answers; a worker that reads a half-written message dies of it, and one whose
# idle check reads one never exits (README, Tune).
EMPTY_MESSAGE = "unexpected error - Expecting value: line 1 column 1 (char 0)"


QUEUE_READERS = ("dvc queue status", "dvc queue start")


def again_if_half_read(
    call: Callable[[], subprocess.CompletedProcess], tries: int = 5
) -> subprocess.CompletedProcess:
    """`call()`, made again (up to `tries` times) while it fails on a half-written message."""
    for _ in range(tries):
        result = call()
        if result.returncode == 0 or EMPTY_MESSAGE not in result.stderr:
            break
        time.sleep(1)
    return result


def readme(
    cwd: Path, command: str, check: bool = True, **variables: str
) -> subprocess.CompletedProcess:
    """Run one command of the README's Tune section with bash, as written."""
    assert command in readme_commands(), f"not a command of the README's Tune section: {command}"
    env = dict(environment(), **variables)
    args = ["bash", "-c", command]
    if command.startswith(QUEUE_READERS):
        result = again_if_half_read(lambda: detached(args, cwd, env))
    else:
        result = detached(args, cwd, env, revive_queue="--run-all" in command)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def detached(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    revive_queue: bool = False,
    seconds: float = 1800,
) -> subprocess.CompletedProcess:
    """Run `args`, its output read from files: `dvc queue start` leaves workers behind that
    would hold a pipe open, and a call that captures through pipes would wait for them.

    With `revive_queue` (for `dvc exp run --run-all`, which would otherwise wait for ever),
    a queue whose workers all died with experiments left is started again while it runs.
    It is killed after `seconds`."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        deadline, reviver = time.monotonic() + seconds, Reviver(cwd)
        while True:
            try:
                code = process.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise AssertionError(f"{' '.join(args)} ran over {seconds} s") from None
                if revive_queue:
                    reviver.check(queue_status(cwd))
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(
            args, code, stdout.read().decode(), stderr.read().decode()
        )


# How long a queue may wait with no worker before it is started again: a worker just
# spawned takes a few seconds to write the file that `workers()` reads.
STALL_SECONDS = 30


class Reviver:
    """Starts the queue again once it has waited `STALL_SECONDS` with experiments queued,
    none running and no live worker: its workers died of a half-written message (README,
    Tune, the fourth trap). A warning says so in the test report."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.since: float | None = None  # when the queue was first seen stalled

    def check(self, status: dict[str, str]) -> None:
        states = set(status.values())
        if "Queued" not in states or "Running" in states or workers(self.repo):
            self.since = None
        elif self.since is None:
            self.since = time.monotonic()
        elif time.monotonic() - self.since > STALL_SECONDS:
            warnings.warn(
                f"the queue's workers died with experiments left ({status})", stacklevel=2
            )
            start_queue(self.repo)
            self.since = None


def start_queue(repo: Path, *options: str) -> None:
    """`dvc queue start`, returning once the workers are started (not when they end)."""
    result = again_if_half_read(
        lambda: detached(
            [sys.executable, "-m", "dvc", "queue", "start", *options], repo, environment()
        )
    )
    assert result.returncode == 0, result.stderr


def queue_status(repo: Path) -> dict[str, str]:
    """Experiment name (or task id) -> Queued, Running, Success or Failed: the table of `dvc
    queue status`, read from DVC's queue files by its own API. The command also asks each
    worker for its state through the broker (the race of `EMPTY_MESSAGE`, which can crash
    the worker that reads a half-written question), so the tests do not poll with it."""
    from dvc.repo import Repo

    with Repo(str(repo)) as project:
        rows = project.experiments.celery_queue.status()
    return {row["name"] or row["rev"][:7]: row["status"] for row in rows}


def wait_for(repo: Path, done, seconds: float, what: str) -> dict[str, str]:
    """Poll the queue's status until `done(status)` holds; return the last status."""
    deadline = time.monotonic() + seconds
    while True:
        status = queue_status(repo)
        if done(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}: {status}")
        time.sleep(1)


def workers(repo: Path) -> list[int]:
    """The process ids of the queue's live workers, from the files DVC keeps for each
    (`.dvc/tmp/exps/celery/dvc-exp-worker-N.json`, its return code set once it exits)."""
    alive = []
    for info in sorted((repo / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.json")):
        process = json.loads(info.read_text())  # DVC replaces it whole
        if process["returncode"] is None and running(process["pid"]):
            alive.append(process["pid"])
    return alive


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


NO_WORKERS = "Worker status: 0 active, 0 idle"


def no_workers(repo: Path, seconds: float = 120) -> None:
    """Wait until the last run's workers have exited (they idle ~10 s once the queue is
    empty): an experiment queued while one is shutting down can be stranded (README).

    A worker can outlive an empty queue: the thread that shuts it down dies when it reads a
    message half-written (celery/kombu#1551). Then, with nothing left queued or running,
    `dvc queue stop` ends it (README, Tune), and a warning says so in the test report."""
    if not wait_for_workers(repo, seconds):
        check_no_workers_shown(repo)
        return
    status = queue_status(repo)
    if {"Queued", "Running"} & set(status.values()):
        raise AssertionError(f"gave up after {seconds} s waiting for workers to exit: {status}")
    warnings.warn(f"a worker outlived an empty queue ({status}); stopping it", stacklevel=2)
    dvc(repo, "queue", "stop")
    assert not wait_for_workers(repo, seconds), f"`dvc queue stop` left a worker ({seconds} s)"
    check_no_workers_shown(repo)


def wait_for_workers(repo: Path, seconds: float) -> list[int]:
    """Wait until no worker is left or `seconds` pass; the live workers' process ids."""
    deadline = time.monotonic() + seconds
    while (alive := workers(repo)) and time.monotonic() < deadline:
        time.sleep(1)
    return alive


def check_no_workers_shown(repo: Path) -> None:
    """`dvc queue status` shows what the README says to wait for."""
    shown = again_if_half_read(lambda: dvc(repo, "queue", "status", check=False))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == NO_WORKERS, shown.stdout


def wait_until_finished(
    repo: Path, names: list[str] | None = None, seconds: float = 600
) -> dict[str, str]:
    """Wait until every experiment (or each of `names`) is Success or Failed, starting the
    queue again if its workers die with experiments left (`Reviver`)."""
    reviver = Reviver(repo)

    def finished(status: dict[str, str]) -> bool:
        states = [status.get(name) for name in names] if names else list(status.values())
        if bool(states) and set(states) <= FINISHED:
            return True
        reviver.check(status)
        return False

    return wait_for(repo, finished, seconds, f"{', '.join(names or ['the queue'])} to finish")


def experiments(repo: Path, *options: str) -> dict[str, dict]:
    """`dvc exp show --json`: experiment name -> {"params": ..., "metrics": ...}."""
    found = {}
    for row in json.loads(dvc(repo, "exp", "show", "--json", *options).stdout):
        for experiment in row.get("experiments") or []:
            data = experiment["revs"][0].get("data") or {}
            found[experiment["name"]] = {
                "params": (data.get("params") or {}).get("params.yaml", {}).get("data", {}),
                "metrics": {
                    path: entry.get("data", {})
                    for path, entry in (data.get("metrics") or {}).items()
                },
            }
    return found

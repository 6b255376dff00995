"""What the tuning tests share: the README's Tune commands, run as written, and DVC's queue.

Every command in the README's "Tune" section is a line of a ```bash block there. A test
runs one through `readme()`, which refuses a command the README does not hold, and runs
it with bash exactly as written, the README's `$NAME` placeholders given as environment
variables. `tests/test_readme.py` checks the other direction: that every command of the
section is passed to `readme()` by some test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
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


def readme(
    cwd: Path, command: str, check: bool = True, **variables: str
) -> subprocess.CompletedProcess:
    """Run one command of the README's Tune section with bash, as written."""
    assert command in readme_commands(), f"not a command of the README's Tune section: {command}"
    result = detached(["bash", "-c", command], cwd, dict(environment(), **variables))
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def detached(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `args`, its output read from files: `dvc queue start` leaves workers behind that
    would hold a pipe open, and a call that captures through pipes would wait for them."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        code = subprocess.run(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr).returncode
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(
            args, code, stdout.read().decode(), stderr.read().decode()
        )


def start_queue(repo: Path, *options: str) -> None:
    """`dvc queue start`, returning once the workers are started (not when they end)."""
    result = detached(
        [sys.executable, "-m", "dvc", "queue", "start", *options], repo, environment()
    )
    assert result.returncode == 0, result.stderr


def queue_status(repo: Path) -> dict[str, str]:
    """Experiment name (or task id) -> Queued, Running, Success or Failed."""
    rows = {}
    for line in dvc(repo, "queue", "status").stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[-1] in {"Queued", "Running", *FINISHED}:
            rows[parts[1] if len(parts) >= 5 else parts[0]] = parts[-1]
    return rows


def wait_for(repo: Path, done, seconds: float, what: str) -> dict[str, str]:
    """Poll `dvc queue status` until `done(status)` holds; return the last status."""
    deadline = time.monotonic() + seconds
    while True:
        status = queue_status(repo)
        if done(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}: {status}")
        time.sleep(1)


NO_WORKERS = "Worker status: 0 active, 0 idle"


def workers(repo: Path) -> str:
    """The last line of `dvc queue status`, e.g. "Worker status: 1 active, 0 idle"."""
    return dvc(repo, "queue", "status").stdout.splitlines()[-1]


def no_workers(repo: Path, seconds: float = 120) -> None:
    """Wait until the last run's workers have exited (they idle ~10 s once the queue is
    empty): an experiment queued while one is shutting down can be stranded (README)."""
    wait_for(repo, lambda _: workers(repo) == NO_WORKERS, seconds, "idle workers to exit")


def wait_until_finished(
    repo: Path, names: list[str] | None = None, seconds: float = 600
) -> dict[str, str]:
    """Wait until every experiment (or each of `names`) is Success or Failed."""

    def finished(status: dict[str, str]) -> bool:
        states = [status.get(name) for name in names] if names else list(status.values())
        return bool(states) and set(states) <= FINISHED

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

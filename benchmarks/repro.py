"""Timing `dvc repro` for the benchmark: a cold run per stage with peak memory, and no-ops."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit(project: Path, message: str) -> None:
    """Commit everything; a run that changed no tracked file (a cold repro that wrote the
    dvc.lock it was copied with, bit for bit) still marks its baseline."""
    git(project, "add", "-A")
    git(
        project,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "--allow-empty",
        "-qm",
        message,
    )


def make_project(destination: Path, changes: dict) -> Path:
    """A git + DVC copy of the working tree (tracked and untracked, not ignored files)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    params = yaml.safe_load((destination / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (destination / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(destination, "init", "-q")
    git(destination, "add", "-A")
    git(
        destination,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "-q",
        "-m",
        "benchmark copy",
    )
    return destination


class PeakMemory:
    """Samples the RSS of every descendant of a process; keeps each stage script's peak."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            parents, commands = {}, {}
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    parents[int(entry.name)] = int(
                        (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                    )
                    commands[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")
                except (OSError, IndexError, ValueError):
                    continue
            for pid, command in commands.items():
                ancestor = pid
                while ancestor in parents and ancestor != self.root_pid:
                    ancestor = parents[ancestor]
                script = next((c.decode() for c in command if c.startswith(b"stages/")), None)
                if ancestor != self.root_pid or script is None:
                    continue
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                rss = next(
                    (
                        int(line.split()[1])
                        for line in status.splitlines()
                        if line.startswith("VmHWM")
                    ),
                    0,
                )
                name = Path(script).stem
                self.peaks[name] = max(self.peaks.get(name, 0), rss * 1024)


def cold_repro(project: Path) -> dict:
    """Run `dvc repro` once from nothing; time each stage from DVC's own progress lines.

    Forced: every stage runs. Unforced, a copy whose train stage writes the very model
    in dvc.lock (the same CPU, bit-reproducible) skips evaluate, whose outputs are in Git,
    and the run would not be the end-to-end one that another machine pays.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force"],
        cwd=project,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stages: dict[str, float] = {}
    current, since = None, 0.0
    with PeakMemory(process.pid) as memory:
        for line in process.stdout:
            now = time.monotonic()
            # A stage ends where DVC records it in dvc.lock, or (when its lock entry is
            # unchanged and DVC prints nothing) where the next stage starts.
            ended = line.startswith(("Running stage '", "Generating lock", "Updating lock"))
            if ended and current:
                stages[current] = round(now - since, 2)
                current = None
            if line.startswith("Running stage '"):
                current, since = line.split("'")[1], now
        process.wait()
        if current:
            stages[current] = round(time.monotonic() - since, 2)
    if process.returncode != 0:
        raise SystemExit(f"dvc repro failed with exit status {process.returncode}")
    return {
        "total_s": round(time.monotonic() - started, 2),
        "stages_s": stages,
        "peak_rss_mib": {name: round(peak / 2**20) for name, peak in memory.peaks.items()},
    }


def timed_runs(command: list[str], cwd: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        subprocess.run(command, cwd=cwd, env=environment(), check=True, capture_output=True)
        times.append(round(time.monotonic() - started, 3))
    return times


def noop_repro(project: Path, floor: Path, repeats: int) -> dict:
    floor.mkdir()
    git(floor, "init", "-q")
    subprocess.run(
        [sys.executable, "-m", "dvc", "init", "-q"], cwd=floor, check=True, env=environment()
    )
    (floor / "f0").write_text("seed\n")
    stages = {
        f"s{i}": {"cmd": f"cp f{i - 1} f{i}", "deps": [f"f{i - 1}"], "outs": [f"f{i}"]}
        for i in range(1, 6)
    }
    (floor / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    dvc = [sys.executable, "-m", "dvc", "repro"]
    timed_runs(dvc, floor, 1)  # the first run does the work
    timed_runs(dvc, project, 1)  # and ours is timed warm too
    ours, theirs = [], []
    for _ in range(repeats):  # in turn, so that a change of load weighs on both
        ours += timed_runs(dvc, project, 1)
        theirs += timed_runs(dvc, floor, 1)
    return {
        "ours_s": ours,
        "floor_s": theirs,
        "ours_median_s": statistics.median(ours),
        "floor_median_s": statistics.median(theirs),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 2),
    }

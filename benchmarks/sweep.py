"""Sweeps through DVC's queue, for the benchmark: one job against two, and what each
experiment costs beyond its own work.

1. Wall time of a 4-experiment sweep (`dvc exp run --queue` of 4 seeds, then
   `dvc exp run --run-all --jobs N`) with one job (TensorFlow's default threads, one per
   core), two jobs with the default threads (oversubscribed), and two jobs with
   `train.threads=1` (the README's recipe). Each sweep has seeds of its own, so none of
   its experiments comes from DVC's run-cache.
2. What an experiment costs beyond training, from the one-job sweep's own output, read as
   it streams: an experiment's wall time runs from its start to the next one's; DVC's
   share of it (creating the experiment's temporary copy, checking out its data,
   committing and collecting the result) is that minus the time from its first stage
   starting to its last lock-file update; the stages' start-up
   (Python and the imports of TensorFlow, pandas, matplotlib) is timed on its own with
   `--help`, which imports everything a stage needs and then exits.
3. Whether the model's bytes depend on `train.threads`: the md5 of each sweep's model, as
   DVC records it, for the same seed with 1 thread and with the default.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from repro import environment

STAGES = ("train", "evaluate", "report")


def dvc(project: Path, *args: str) -> str:
    """Run DVC with its output in a file: queue workers outlive the command and would hold
    a pipe open."""
    with tempfile.TemporaryFile() as output:
        result = subprocess.run(
            [sys.executable, "-m", "dvc", *args],
            cwd=project,
            env=environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        output.seek(0)
        text = output.read().decode()
    if result.returncode != 0:
        raise SystemExit(f"dvc {' '.join(args)} failed:\n{text}")
    return text


def run_all(project: Path, jobs: int) -> tuple[float, list[dict]]:
    """`dvc exp run --run-all --jobs N`: its wall time, and per experiment (jobs 1 only,
    where the followed logs do not interleave) when it started and where its stages ran.

    Its output goes to a file read as it grows: the queue workers it starts outlive it and
    would hold a pipe open past its end.
    """
    started = time.monotonic()
    experiments: list[dict] = []
    with tempfile.NamedTemporaryFile("w+") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "dvc", "exp", "run", "--run-all", "--jobs", str(jobs)],
            cwd=project,
            env=environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        with open(output.name) as reader:
            pending = ""
            while True:
                finished = process.poll() is not None
                pending += reader.read()
                now = time.monotonic() - started
                *lines, pending = pending.split("\n")
                for line in lines:
                    _record(experiments, line, now)
                if finished:
                    break
                time.sleep(0.1)
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"dvc exp run --run-all failed with exit status {process.returncode}")
    if jobs > 1:
        return wall, []
    for this, following in zip(experiments, [*experiments[1:], None], strict=True):
        this["end"] = following["start"] if following else wall
    return wall, experiments


def _record(experiments: list[dict], line: str, now: float) -> None:
    if line.startswith("Reproducing experiment"):
        experiments.append({"start": now, "stages": {}})
    elif line.startswith("Running stage '") and experiments:
        experiments[-1]["stages"][line.split("'")[1]] = now
    elif line.startswith("Updating lock file") and experiments:
        experiments[-1]["stages_end"] = now  # the last one follows the last stage


def queue_seeds(project: Path, seeds: range, threads: int) -> None:
    dvc(
        project,
        "exp",
        "run",
        "--queue",
        "-S",
        f"train.seed=range({seeds.start},{seeds.stop})",
        "-S",
        f"train.threads={threads}",
    )


def models_by_seed(project: Path) -> dict[tuple[int, int], str]:
    """(seed, threads) -> md5 of models/model.keras, for every experiment `dvc exp show` has."""
    found = {}
    for row in json.loads(dvc(project, "exp", "show", "--json")):
        for experiment in row.get("experiments") or []:
            data = experiment["revs"][0].get("data") or {}
            train = data.get("params", {}).get("params.yaml", {}).get("data", {}).get("train")
            model = data.get("outs", {}).get("models/model.keras", {}).get("hash")
            if train and model:
                found[(train["seed"], train["threads"])] = model
    return found


def startup_seconds(project: Path, repeats: int = 3) -> dict[str, float]:
    """Median seconds of `python stages/NAME.py --help`: Python plus the stage's imports."""
    times = {}
    for stage in STAGES:
        runs = []
        for _ in range(repeats):
            started = time.monotonic()
            subprocess.run(
                [sys.executable, f"stages/{stage}.py", "--help"],
                cwd=project,
                env=environment(),
                check=True,
                capture_output=True,
            )
            runs.append(time.monotonic() - started)
        times[stage] = round(statistics.median(runs), 2)
    return times


def sweeps(project: Path, size: int = 4) -> dict:
    """The three sweeps, the per-experiment costs, and the threads-vs-bytes check."""
    configs = {
        "jobs1_default_threads": (1, 0),
        "jobs2_default_threads": (2, 0),
        "jobs2_threads1": (2, 1),
    }
    walls, timelines = {}, []
    for number, (name, (jobs, threads)) in enumerate(configs.items()):
        seeds = range(100 * (number + 1), 100 * (number + 1) + size)
        queue_seeds(project, seeds, threads)
        walls[name], found = run_all(project, jobs)
        timelines += found
    startup = startup_seconds(project)
    per_experiment = []
    for experiment in timelines:
        stages = experiment["stages"]
        if set(stages) != set(STAGES):
            continue
        wall = experiment["end"] - experiment["start"]
        inside = experiment["stages_end"] - stages["train"]  # first stage start to last's end
        per_experiment.append({"wall_s": wall, "dvc_s": wall - inside, "stages_s": inside})
    baseline = walls["jobs1_default_threads"]
    seed = 300  # trained with threads 1 in the last sweep, never with the default
    return {
        "experiments_per_sweep": size,
        "wall_s": {name: round(seconds, 1) for name, seconds in walls.items()},
        "ratio_to_jobs1": {name: round(seconds / baseline, 2) for name, seconds in walls.items()},
        "per_experiment_jobs1": {
            "wall_s": _median(per_experiment, "wall_s"),
            "dvc_s": _median(per_experiment, "dvc_s"),
            "stages_s": _median(per_experiment, "stages_s"),
            "stage_startup_s": startup,
            "stage_startup_total_s": round(sum(startup.values()), 2),
        },
        "model_bytes_depend_on_threads": _threads_matter(project, seed),
        "workers_left": stop_workers(project),
    }


def _threads_matter(project: Path, seed: int) -> dict:
    """Train one more experiment: the seed of a threads=1 experiment, with threads 0."""
    dvc(project, "exp", "run", "--queue", "-S", f"train.seed={seed}", "-S", "train.threads=0")
    run_all(project, 1)
    models = models_by_seed(project)
    one, default = models.get((seed, 1)), models.get((seed, 0))
    return {"seed": seed, "md5_threads1": one, "md5_default": default, "differ": one != default}


def stop_workers(project: Path, seconds: float = 60) -> int:
    """`dvc queue stop`, then wait until every queue worker has exited; the number still
    alive after `seconds`, which are then killed.

    The workers idle about 10 s once the queue is empty, and one can outlive it when the
    thread that shuts it down dies reading a half-written message (celery/kombu#1551). Left
    running, a worker writes under `.dvc/tmp` while the benchmark removes its scratch
    project, and the removal fails ("Directory not empty").
    """
    dvc(project, "queue", "stop")
    alive = _wait_for_workers(project, seconds)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):  # it exited since
            os.kill(pid, signal.SIGKILL)
    # Killed, a worker writes nothing more; it can still show as alive until whoever
    # adopted it reaps it, so this wait is bounded too.
    _wait_for_workers(project, 5)
    return len(alive)


def _wait_for_workers(project: Path, seconds: float) -> list[int]:
    """Wait until no queue worker is alive or `seconds` pass; the live workers' ids."""
    deadline = time.monotonic() + seconds
    while (alive := _workers(project)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return alive


def _workers(project: Path) -> list[int]:
    """The live queue workers' process ids, from the file DVC keeps for each
    (`.dvc/tmp/exps/celery/dvc-exp-worker-N.json`, its return code set once it exits)."""
    alive = []
    for info in (project / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.json"):
        process = json.loads(info.read_text())
        if process["returncode"] is None and _running(process["pid"]):
            alive.append(process["pid"])
    return alive


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _median(rows: list[dict], key: str) -> float | None:
    return round(statistics.median(row[key] for row in rows), 2) if rows else None

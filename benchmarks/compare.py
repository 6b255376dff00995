"""Timing `digits-compare` on 20 runs for the benchmark: the budget is 5 s and 3 MB.

The runs are commits made from the project's last real run, each with its own params, a
few hundred test predictions changed (and the evaluation's metrics recomputed from them),
and its training curves scaled a little: the comparison reads and draws exactly what it
would for 20 trained runs (full-size predictions, curves, metrics, the test set), without
the hours of training. Timed end to end as the command a user runs (median of several),
and phase by phase in this process.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from repro import commit, environment, git

PREDICTIONS = "results/predictions.csv"
EVALUATION = "results/evaluation.json"
TRAINING = "results/training"
SPLITS = ("train", "eval")  # dvclive's final values in metrics.json


def make_runs(project: Path, count: int, seed: int = 0) -> list[str]:
    """Tag the project's HEAD `run-00` and add `count - 1` varied runs as tagged commits."""
    from digits import evaluation

    rng = np.random.default_rng(seed)
    rows = list(csv.DictReader(io.StringIO((project / PREDICTIONS).read_text())))
    actual = np.array([int(row["actual"]) for row in rows])
    predicted = np.array([int(row["predicted"]) for row in rows])
    base_loss = json.loads((project / EVALUATION).read_text())["loss"]
    curves = sorted((project / TRAINING / "plots").rglob("*.tsv"))
    originals = {path: path.read_text() for path in curves}
    final = json.loads((project / TRAINING / "metrics.json").read_text())
    git(project, "tag", "run-00")
    names = ["run-00"]
    for i in range(1, count):
        changed = predicted.copy()
        flipped = rng.choice(len(actual), size=int(rng.integers(10, 300)), replace=False)
        changed[flipped] = rng.integers(0, 10, size=len(flipped))
        confusion = evaluation.confusion_matrix(actual, changed, 10)
        per_class = evaluation.per_class(confusion)
        macro = {
            name: round(float(np.mean([s[name] for s in per_class.values()])), 6)
            for name in ("precision", "recall", "f1")
        }
        metrics = {
            "loss": round(base_loss * float(rng.uniform(0.9, 1.3)), 6),
            "accuracy": round(float(np.mean(actual == changed)), 6),
            "samples": len(actual),
            "macro": macro,
            "per_class": per_class,
        }
        (project / PREDICTIONS).write_text(evaluation.predictions_csv(actual, changed))
        (project / EVALUATION).write_text(json.dumps(metrics, indent=2) + "\n")
        scale = float(rng.uniform(0.97, 1.03))
        for path, text in originals.items():
            lines = text.splitlines()
            scaled = [f"{step}\t{float(value) * scale}" for step, value in _rows(lines[1:])]
            path.write_text("\n".join([lines[0], *scaled]) + "\n")
        last = {
            split: {k: v * scale for k, v in final[split].items()} for split in ("train", "eval")
        }
        (project / TRAINING / "metrics.json").write_text(
            json.dumps({**last, "step": final["step"]}, indent=4) + "\n"
        )
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["train"]["learning_rate"] = float(rng.choice([0.001, 0.002, 0.004, 0.008]))
        params["train"]["convnet"]["dropout_rate"] = float(rng.choice([0.1, 0.2, 0.3]))
        params["train"]["seed"] = i
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        commit(project, f"run {i}")
        names.append(f"run-{i:02d}")
        git(project, "tag", names[-1])
    return names


def _rows(lines: list[str]) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")[:2]) for line in lines if line]


def comparison(project: Path, count: int = 20, repeats: int = 3) -> dict:
    names = make_runs(project, count)
    out = project.parent / "compare-benchmark"
    out.mkdir(exist_ok=True)
    command = ["digits-compare", *names, "--html", str(out / "compare.html")]
    command += ["--md", str(out / "compare.md"), "--json", str(out / "compare.json")]
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=project, env=environment(), capture_output=True)
        walls.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise RuntimeError(f"digits-compare failed: {result.stderr.decode()}")
    html = (out / "compare.html").read_text()
    svg = sum(len(part) for part in html.split("<svg")[1:] for part in [part.split("</svg>")[0]])
    pictures = sum(len(p.split('"')[0]) for p in html.split('src="data:image/png')[1:])
    return {
        "runs": count,
        "test_digits": len((project / PREDICTIONS).read_text().splitlines()) - 1,
        "wall_s": [round(w, 3) for w in walls],
        "median_wall_s": round(statistics.median(walls), 3),
        "phases_s": phases(project, names, repeats),
        "html_bytes": len(html.encode()),
        "html_parts_bytes": {"svg_charts": svg, "png_pictures": pictures},
        "markdown_bytes": (out / "compare.md").stat().st_size,
        "json_bytes": (out / "compare.json").stat().st_size,
        "budget": {"seconds": 5, "bytes": 3_000_000},
    }


def phases(project: Path, names: list[str], repeats: int) -> dict[str, float]:
    """Medians, in this process, of reading the runs from DVC, the test set, the page."""
    from digits.comparison import analysis, markdown, page, runs

    timings: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def clock(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        timings.setdefault(name, []).append(time.perf_counter() - start)

    for _ in range(repeats):
        with clock("read_runs_from_dvc"):
            found = runs.collect(project, names)
        with clock("read_test_set"):
            images = runs.test_images(project, found[0])
        with clock("html_page"):
            page.render(found, [], {}, images, None)
        with clock("markdown"):
            markdown.render(found, [], {})
        with clock("json"):
            json.dumps(analysis.summary(found, {}, []))
    return {name: round(statistics.median(values), 3) for name, values in timings.items()}

"""Differences from the baseline: params that vary, metric deltas and their verdicts, per-class
scores, confusion changes, digits that changed, and the regression gate. Pure: no I/O."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from digits import evaluation
from digits.comparison.runs import DONE, Run
from digits.errors import InputError

NUM_CLASSES = 10
# A metric's better direction, from the last part of its name; others get no verdict.
HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "auc")
LOWER_IS_BETTER = ("loss", "error", "seconds")
PER_CLASS = ".per_class."  # per-class scores have their own section, not table columns
EPSILON = 1e-12  # float noise when a delta is compared with a tolerance


def direction(key: str) -> int:
    """+1 when a higher value of metric `key` is better, -1 when lower is, 0 when neither."""
    name = key.rsplit(":", 1)[-1].rsplit(".", 1)[-1].lower()
    if name in HIGHER_IS_BETTER:
        return 1
    return -1 if name in LOWER_IS_BETTER else 0


def verdict(key: str, value: float | None, baseline: float | None) -> str:
    """ "better", "worse", "same", "changed" (no better direction) or "missing"."""
    if value is None or baseline is None:
        return "missing"
    change = value - baseline
    if abs(change) <= EPSILON:
        return "same"
    sign = direction(key)
    if sign == 0:
        return "changed"
    return "better" if change * sign > 0 else "worse"


def varying(values: list[dict[str, Any]]) -> list[str]:
    """The keys, in first-seen order, whose value is not the same in every dict (a key that
    some lack varies too)."""
    keys = list(dict.fromkeys(key for entry in values for key in entry))
    missing = object()
    return [key for key in keys if len({repr(entry.get(key, missing)) for entry in values}) > 1]


def table_metrics(runs: list[Run]) -> list[str]:
    """Every metric key of any run but the per-class scores: those with a better direction
    first, and within each group the last stage's file first (the test results before the
    training curves' final values before the data summary)."""
    keys = [key for key in dict.fromkeys(k for run in runs for k in run.metrics)]
    keys = [key for key in keys if PER_CLASS not in f".{key.split(':', 1)[-1]}."]
    files = list(dict.fromkeys(key.rsplit(":", 1)[0] for key in keys))
    return sorted(keys, key=lambda k: (direction(k) == 0, -files.index(k.rsplit(":", 1)[0])))


def scored_metrics(runs: list[Run]) -> list[str]:
    """The metrics with a better direction that differ between the finished runs, in table
    order (all of them when none has a direction)."""
    done = [run for run in runs if run.state == DONE]
    keys = table_metrics(done)
    varied = varying([{key: run.metrics.get(key) for key in keys} for run in done])
    return [key for key in varied if direction(key)] or varied


def headline_metrics(runs: list[Run]) -> list[str]:
    """The metrics a reader looks at first: the scored ones of the last stage's file (the
    test set's)."""
    scored = scored_metrics(runs)
    last = scored[0].rsplit(":", 1)[0] if scored else None
    return [key for key in scored if key.rsplit(":", 1)[0] == last]


def short_names(keys: list[str]) -> dict[str, str]:
    """A metric's dotted name without its file where that is unambiguous."""
    names = [key.rsplit(":", 1)[-1] for key in keys]
    return {
        key: name if names.count(name) == 1 else key for key, name in zip(keys, names, strict=True)
    }


def confusion(run: Run) -> np.ndarray | None:
    if run.actual is None or run.predicted is None:
        return None
    return evaluation.confusion_matrix(run.actual, run.predicted, NUM_CLASSES)


def per_class(run: Run) -> dict[str, list[float]] | None:
    """Recall and F1 of each class, from the run's predictions."""
    matrix = confusion(run)
    if matrix is None:
        return None
    scores = evaluation.per_class(matrix)
    return {name: [scores[str(c)][name] for c in range(NUM_CLASSES)] for name in ("recall", "f1")}


def comparable(baseline: Run, run: Run) -> str | None:
    """Why the two runs' test predictions cannot be matched digit by digit; None if they can."""
    if baseline.actual is None or run.actual is None:
        return f"{(run if baseline.actual is not None else baseline).name} has no predictions"
    if baseline.test_set is None or baseline.test_set != run.test_set:
        return (
            f"{run.name} was evaluated on another test set than {baseline.name} "
            f"(dvc.lock: {run.test_set} vs {baseline.test_set})"
        )
    if not np.array_equal(baseline.actual, run.actual):
        return f"{run.name}'s test labels differ from {baseline.name}'s"
    return None


def changed_digits(baseline: Run, run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Test indices the run gets wrong that the baseline got right, and the reverse."""
    base_right = baseline.predicted == baseline.actual
    run_right = run.predicted == run.actual
    return np.flatnonzero(base_right & ~run_right), np.flatnonzero(~base_right & run_right)


def parse_tolerances(specs: list[str], keys: list[str]) -> dict[str, float]:
    """`NAME=TOLERANCE` gate specs as {metric key: tolerance}; NAME is a metric's full key
    (`results/evaluation.json:accuracy`) or its name within its file (`accuracy`)."""
    tolerances = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        try:
            tolerance = float(text)  # also refuses a spec without "=" (text is then empty)
        except ValueError:
            raise InputError(
                f"--fail-on {spec!r}: expected METRIC=TOLERANCE, e.g. accuracy=-0.001"
            ) from None
        matches = [key for key in keys if name in (key, key.rsplit(":", 1)[-1])]
        if len(matches) > 1:
            raise InputError(
                f"--fail-on {spec!r}: {name!r} matches {', '.join(matches)}; give the full key"
            )
        if not matches:
            names = list(dict.fromkeys(key.rsplit(":", 1)[-1] for key in keys))
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise InputError(
                f"--fail-on {spec!r}: no metric {name!r} in these runs; {hint}"
                "`dvc metrics show` lists them"
            )
        key = matches[0]
        better = direction(key)
        if better == 0 and tolerance == 0:
            raise InputError(
                f"--fail-on {spec!r}: {name} has no better direction; sign the tolerance to say "
                f"which way is worse: {name}=-0.01 (a fall) or {name}=0.01 (a rise)"
            )
        if better and tolerance * better > 0:
            raise InputError(
                f"--fail-on {spec!r}: {'higher' if better > 0 else 'lower'} {name} is better, "
                f"so the tolerance is how much worse it may get: {name}={-tolerance:g}"
            )
        tolerances[key] = tolerance
    return tolerances


def gate(runs: list[Run], tolerances: dict[str, float]) -> list[str]:
    """One line per run and metric that got worse than the baseline by more than allowed."""
    baseline, lines = runs[0], []
    for run in runs[1:]:
        if run.state != DONE:
            continue  # a failed or queued experiment has no results to judge; the page says so
        for key, tolerance in tolerances.items():
            base, value = baseline.metrics.get(key), run.metrics.get(key)
            if base is None:
                continue  # a new metric has nothing to regress from
            if value is None:
                lines.append(f"worse: {run.name} {key} missing ({baseline.name}: {number(base)})")
                continue
            change = value - base
            worse = -1 if (direction(key) or (1 if tolerance < 0 else -1)) > 0 else 1
            if change * worse > abs(tolerance) + EPSILON:
                lines.append(
                    f"worse: {run.name} {key} {number(base)} -> {number(value)} "
                    f"({signed(change)}, tolerance {tolerance:g}) against {baseline.name}"
                )
    return lines


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def signed(value: float) -> str:
    if float(value).is_integer() and value != 0:
        return f"{int(value):+d}"
    return f"{value:+.4f}"


def summary(runs: list[Run], tolerances: dict[str, float], failures: list[str]) -> dict:
    """The numbers behind the page and the Markdown, ready for JSON."""
    baseline = runs[0]
    keys = list(dict.fromkeys(key for run in runs for key in run.metrics))
    entries = []
    for run in runs:
        matrix = confusion(run)
        entry: dict[str, Any] = {
            "name": run.name,
            "rev": run.rev,
            "kind": run.kind,
            "state": run.state,
            "params": run.params,
            "metrics": {
                key: {
                    "value": run.metrics.get(key),
                    "baseline": baseline.metrics.get(key),
                    "change": None
                    if key not in run.metrics or key not in baseline.metrics
                    else run.metrics[key] - baseline.metrics[key],
                    "verdict": verdict(key, run.metrics.get(key), baseline.metrics.get(key)),
                }
                for key in keys
            },
            "curves": run.curves,
            "per_class": per_class(run),
            "confusion": None if matrix is None else matrix.tolist(),
            "notes": run.notes,
        }
        if run is not baseline:
            reason = comparable(baseline, run)
            if reason is None:
                wrong, right = changed_digits(baseline, run)
                entry["changed"] = {"newly_wrong": wrong.tolist(), "newly_right": right.tolist()}
            else:
                entry["changed"] = {"missing": reason}
        entries.append(entry)
    return {
        "baseline": baseline.name,
        "params": {"varying": varying([run.params for run in runs])},
        "runs": entries,
        "gate": {"tolerances": tolerances, "failures": failures},
    }

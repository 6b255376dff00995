"""What DVC knows of each run: params, metrics, training curves, predictions, test set.

A run is a Git commit (a branch, a tag, any revision), a DVC experiment or the
workspace. Everything is read through DVC's Python API at once for all runs
(`Repo.params.show`, `Repo.metrics.show`, `Repo.plots.show`), so 20 runs cost about
as much as two. What a run lacks (a metric its revision predates, the results of a
failed or queued experiment) is noted on the run, never raised.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from digits.errors import InputError

logger = logging.getLogger(__name__)

WORKSPACE = "workspace"
DONE = "done"
# The files that dvc.yaml declares and this comparison reads (besides params and metrics).
PREDICTIONS = "results/predictions.csv"  # evaluate's confusion plot: actual,predicted
CURVES = "results/training/plots/metrics"  # the train stage's dvclive TSVs: {train,eval}/*.tsv
TEST_SET = "data/normalized/test.npz"  # evaluate's input; dvc.lock has its md5


@dataclass(eq=False)
class Run:
    """One run as the page shows it; `rev` is a full commit SHA or "workspace"."""

    name: str
    rev: str
    kind: str  # "commit", "experiment" or "workspace"
    state: str = DONE  # or DVC's word for an experiment that has no results: Failed, Queued...
    params: dict[str, Any] = field(default_factory=dict)  # flat: "train.learning_rate"
    metrics: dict[str, float] = field(default_factory=dict)  # "results/evaluation.json:accuracy"
    curves: dict[str, list[float]] = field(default_factory=dict)  # "train/loss": per epoch
    actual: np.ndarray | None = None  # the test labels and this run's predictions
    predicted: np.ndarray | None = None
    test_set: str | None = None  # md5 of the test set this run was evaluated on
    notes: list[str] = field(default_factory=list)  # what is missing, and why

    @property
    def short(self) -> str:
        return self.rev if self.rev == WORKSPACE else self.rev[:7]


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys; lists and scalars are leaves."""
    if not isinstance(values, dict):
        return {prefix: values}
    flat: dict[str, Any] = {}
    for key, value in values.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def collect(root: Path, names: list[str], baseline: str | None = None) -> list[Run]:
    """The runs called `names`, or by default HEAD, the workspace and the experiments based on
    HEAD (as `dvc exp show` lists them), with all their data; the baseline comes first.
    Raises InputError for a name that is neither a revision nor an experiment."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        listed: dict[str, dict] = {}
        if names:
            runs = [_named(repo, name, listed) for name in names]
        else:
            listed.update(_experiments(repo))
            head = _named(repo, "HEAD", listed)
            with contextlib.suppress(TypeError):  # a detached HEAD has no branch
                head.name = repo.scm.active_branch()
            workspace = Run(WORKSPACE, WORKSPACE, "workspace")
            runs = [head, workspace, *(_experiment(repo, row) for row in listed.values())]
        if baseline:
            first = _named(repo, baseline, listed)
            runs = [first, *(run for run in runs if run.rev != first.rev)]
        _load(repo, runs)
    if not names and any(run is workspace for run in runs[1:]) and _same(head, workspace):
        runs.remove(workspace)  # by default, the workspace only when it is not HEAD again
    return runs


def _same(one: Run, other: Run) -> bool:
    return (one.params, one.metrics, one.curves) == (other.params, other.metrics, other.curves)


def _experiments(repo) -> dict[str, dict]:
    """`dvc exp show`'s rows of the experiments based on HEAD, by name."""
    import dvc.api

    rows = dvc.api.exp_show(repo=repo.root_dir)
    return {row["Experiment"]: row for row in rows if row.get("Experiment")}


def _experiment(repo, row: dict) -> Run:
    state = row.get("State") or DONE
    rev = repo.scm.resolve_rev(row["rev"])
    return Run(row["Experiment"], rev, "experiment", DONE if state == "Success" else state)


def _named(repo, name: str, listed: dict[str, dict]) -> Run:
    from dvc.scm import RevError, resolve_rev
    from scmrepo.exceptions import RevError as GitRevError

    if name == WORKSPACE:
        return Run(WORKSPACE, WORKSPACE, "workspace")
    try:
        rev = repo.scm.resolve_rev(name)  # a commit, branch or tag
        return Run(name, rev, "commit")
    except GitRevError:
        pass
    try:
        return Run(name, resolve_rev(repo.scm, name), "experiment")  # a finished experiment
    except RevError:
        pass
    if not listed:  # a failed, queued or running experiment has no ref of its own
        listed.update(_experiments(repo))
    if name in listed:
        return _experiment(repo, listed[name])
    raise InputError(
        f"unknown revision or experiment {name!r}; `git log --oneline` lists commits, "
        "`dvc exp show` experiments"
    )


def _load(repo, runs: list[Run]) -> None:
    revs = list(dict.fromkeys(run.rev for run in runs))
    params = repo.params.show(revs=revs)
    done = [run.rev for run in runs if run.state == DONE]
    metrics = repo.metrics.show(revs=done) if done else {}
    plots = repo.plots.show(revs=done) if done else {}
    for run in runs:
        run.params = _params(params.get(run.rev, {}), run)
        if run.state != DONE:
            run.notes.append(f"experiment {run.state.lower()}: no results")
            continue
        run.metrics = _metrics(metrics.get(run.rev, {}), run)
        _plot_data(plots.get(run.rev, {}), run)
        run.test_set = _test_set(repo, run)


def _params(shown: dict, run: Run) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for path, content in shown.get("data", {}).items():
        if "data" not in content:
            run.notes.append(_missing(path, content))
            continue
        prefix = "" if Path(path).name == "params.yaml" else f"{path}:"
        flat.update({prefix + key: value for key, value in flatten(content["data"]).items()})
    return flat


def _metrics(shown: dict, run: Run) -> dict[str, float]:
    flat: dict[str, float] = {}
    for path, content in shown.get("data", {}).items():
        if "data" not in content:
            run.notes.append(_missing(path, content))
            continue
        for key, value in flatten(content["data"]).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                flat[f"{path}:{key}"] = float(value)
    return flat


def _missing(path: str, content: dict) -> str:
    error = content.get("error")
    if error is None or isinstance(error, FileNotFoundError):
        return f"{path}: not in this revision"
    return f"{path}: unreadable ({type(error).__name__})"


def _plot_data(shown: dict, run: Run) -> None:
    sources = shown.get("sources", {}).get("data", {})
    for path, content in sources.items():
        rows = content.get("data")
        if not rows:
            continue
        if path == PREDICTIONS:
            run.actual = np.array([int(row["actual"]) for row in rows])
            run.predicted = np.array([int(row["predicted"]) for row in rows])
        elif path.startswith(f"{CURVES}/"):
            curve = path[len(CURVES) + 1 :].removesuffix(".tsv")  # "train/loss"
            metric = curve.rsplit("/", 1)[-1]
            run.curves[curve] = [float(row[metric]) for row in rows]
    if run.actual is None:
        run.notes.append(f"{PREDICTIONS}: not in this revision")
    if not run.curves:
        run.notes.append(f"{CURVES}: no training curves in this revision")


def _test_set(repo, run: Run) -> str | None:
    """The md5 that dvc.lock records for the test set the run was evaluated on."""
    try:
        if run.rev == WORKSPACE:
            text = (Path(repo.root_dir) / "dvc.lock").read_text()
        else:
            text = repo.scm.get_fs(run.rev).read_text("dvc.lock")
    except FileNotFoundError:
        return None
    for stage in (yaml.safe_load(text) or {}).get("stages", {}).values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            if entry.get("path") == TEST_SET:
                return entry.get("md5")
    return None


def test_images(root: Path, run: Run) -> np.ndarray:
    """The test-set images `run` was evaluated on, from DVC's cache (or its remote)."""
    import dvc.api

    rev = None if run.rev == WORKSPACE else run.rev
    try:
        with dvc.api.open(TEST_SET, repo=str(root), rev=rev, mode="rb") as file:
            data = file.read()
    except Exception as error:  # DVC raises many kinds for "not here": missing cache, no remote
        raise InputError(
            f"{TEST_SET} of {run.name} could not be read ({type(error).__name__}); "
            f"`dvc pull {TEST_SET}` fetches it"
        ) from None
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return archive["images"]

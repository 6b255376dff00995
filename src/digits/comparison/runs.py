"""What DVC knows of each run: params, metrics, training curves, predictions, test set.

A run is a Git commit (a branch, a tag, any revision), a DVC experiment or the
workspace. Everything is read through DVC's Python API: files at each revision through
`dvc.api.DVCFileSystem`, and which files hold metrics from `Repo.metrics.show` (once per
distinct dvc.yaml). DVC's own passes over many revisions (`metrics.show`, `params.show`,
`plots.show`) each parse every revision's dvc.yaml and dvc.lock again: 1.5 s apiece for
20 runs, against 0.5 s for all of this. What a run lacks (a metric its revision predates,
the results of a failed or queued experiment) is noted on the run, never raised.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from digits.errors import InputError

WORKSPACE = "workspace"
DONE = "done"
# The files that dvc.yaml declares and this comparison reads (besides params and metrics).
PREDICTIONS = "results/predictions.csv"  # evaluate's confusion plot: actual,predicted
CURVES = "results/training/plots/metrics"  # the train stage's dvclive TSVs: {train,eval}/*.tsv
TEST_SET = "data/normalized/test.npz"  # evaluate's input; dvc.lock has its md5
PARAMS = "params.yaml"  # every stage's params (DVC's default params file)
# libyaml's loader where PyYAML has it: dvc.lock is long, and read once per run.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    from scmrepo.exceptions import SCMError

    with Repo(str(root)) as repo:
        listed: dict[str, dict] = {}
        if names:
            runs = [_named(repo, name, listed) for name in names]
        else:
            listed.update(_experiments(repo))
            head = _named(repo, "HEAD", listed)
            with contextlib.suppress(SCMError):  # a detached HEAD has no branch
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
    """Params, plot data and the lock file as files at each revision, through DVC's file
    system; the metrics files as DVC finds them, once per distinct dvc.yaml (DVC's metrics
    pass parses every revision's dvc.yaml and dvc.lock again: 1.6 s for 20 runs here)."""
    from dvc.api import DVCFileSystem

    metrics_files: dict[str, list[str]] = {}  # dvc.yaml's text -> its metrics files
    for run in runs:
        rev = None if run.rev == WORKSPACE else run.rev
        files = DVCFileSystem(url=repo.root_dir, rev=rev)
        run.params = flatten(_read(files, PARAMS, _yaml) or {})
        if not run.params:
            run.notes.append(f"{PARAMS}: not in this revision")
        if run.state != DONE:
            run.notes.append(f"experiment {run.state.lower()}: no results")
            continue
        pipeline = _read(files, "dvc.yaml", str) or ""
        if pipeline not in metrics_files:
            shown = repo.metrics.show(revs=[run.rev]).get(run.rev, {})
            metrics_files[pipeline] = list(shown.get("data", {}))
        run.metrics = _metrics(files, metrics_files[pipeline], run)
        _plot_data(files, run)
        run.test_set = _test_set(_read(files, "dvc.lock", _yaml) or {})


def _read(files, path: str, parse: Callable[[str], Any]) -> Any:
    """A file at the run's revision, parsed; None when the revision has no such file."""
    try:
        text = files.read_text(path)
    except FileNotFoundError:
        return None
    return parse(text)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=YamlLoader)


# How DVC reads a metrics file, by its extension.
PARSERS: dict[str, Callable[[str], Any]] = {
    ".json": json.loads,
    ".yaml": _yaml,
    ".yml": _yaml,
    ".toml": tomllib.loads,
}


def _metrics(files, paths: list[str], run: Run) -> dict[str, float]:
    """The numbers in the metrics files, as `path:dotted.key`."""
    flat: dict[str, float] = {}
    for path in paths:
        try:
            content = _read(files, path, PARSERS[Path(path).suffix])
        except (ValueError, yaml.YAMLError, KeyError) as error:
            run.notes.append(f"{path}: unreadable ({type(error).__name__})")
            continue
        if content is None:
            run.notes.append(f"{path}: not in this revision")
            continue
        for key, value in flatten(content).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                flat[f"{path}:{key}"] = float(value)
    return flat


def _plot_data(files, run: Run) -> None:
    """The test predictions (actual,predicted) and dvclive's curves (step<TAB>value)."""
    table = _read(files, PREDICTIONS, _columns)
    if table is None:
        run.notes.append(f"{PREDICTIONS}: not in this revision")
    else:
        run.actual = table["actual"].astype(np.int64)
        run.predicted = table["predicted"].astype(np.int64)
    for split in ("train", "eval"):
        for metric in ("loss", "accuracy"):
            curve = _read(files, f"{CURVES}/{split}/{metric}.tsv", _columns)
            if curve is not None:
                run.curves[f"{split}/{metric}"] = curve[metric].tolist()
    if not run.curves:
        run.notes.append(f"{CURVES}: no training curves in this revision")


def _columns(text: str) -> dict[str, np.ndarray]:
    """A CSV or TSV with a header row as {column: numbers}."""
    rows = list(csv.reader(io.StringIO(text), delimiter="\t" if "\t" in text[:200] else ","))
    values = np.array(rows[1:], dtype=np.float64).reshape(len(rows) - 1, len(rows[0]))
    return {name: values[:, i] for i, name in enumerate(rows[0])}


def _test_set(lock: dict) -> str | None:
    """The md5 that dvc.lock records for the test set the run was evaluated on."""
    for stage in lock.get("stages", {}).values():
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

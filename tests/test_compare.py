"""`digits-compare` on a real history: commits, tags, experiments (finished, failed, queued).

In a temporary git + DVC repository: a commit with full-size results, an older-style
commit that predates the evaluation (and calls a param by another name), a shrunken
baseline (`v1`), a second commit (`main`) and three experiments on it, one failed and one
still-queued experiment. The page, the Markdown and the JSON carry the numbers that
`dvc metrics diff` gives; the page works offline in headless Chromium; the gate's exit
status and lines hold for a regression, an improvement and a tie.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from browser import not_blank, offline_page
from conftest import (
    REPO_ROOT,
    SMALL,
    copy_project,
    dvc,
    environment,
    git,
    run,
    update_params,
)
from digits.comparison.analysis import number, signed
from tuning import detached, no_workers

pytestmark = pytest.mark.pipeline

ACCURACY = "results/evaluation.json:accuracy"
EXPERIMENTS = {
    "seed-1": "train.seed=1",
    "dropout-0.1": "train.convnet.dropout_rate=0.1",
    "lr-0.01": "train.learning_rate=0.01",
}
COMMITS = ["v1", "main", *EXPERIMENTS, "old", "full"]
SHRUNKEN = {**SMALL, "train": {**SMALL["train"], "epochs": 2, "threads": 1}}


def commit(repo: Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", tag)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("compare") / "project")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "tests@example.com")
    git(repo, "config", "user.name", "tests")
    commit(repo, "the project with its full-size results (10,000 test digits)", "full")
    # Before the evaluate stage wrote its files, when a report param had another name.
    (repo / "results/evaluation.json").unlink()
    (repo / "results/predictions.csv").unlink()
    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(params.replace("misclassified_examples:", "mistakes:"))
    commit(repo, "an older layout", "old")
    (repo / "params.yaml").write_text(params)
    update_params(repo / "params.yaml", SHRUNKEN)
    dvc(repo, "repro")
    commit(repo, "shrunken baseline", "v1")
    update_params(repo / "params.yaml", {"train": {"learning_rate": 0.002}})
    dvc(repo, "repro")
    commit(repo, "a lower learning rate")
    for name, change in EXPERIMENTS.items():
        dvc(repo, "exp", "run", "-n", name, "-S", change)
    dvc(repo, "exp", "run", "--queue", "-n", "broken", "-S", "train.learning_rate=-1")
    run_all = [sys.executable, "-m", "dvc", "exp", "run", "--run-all"]
    detached(run_all, repo, environment(), revive_queue=True)
    no_workers(repo)  # so that the next one stays queued
    dvc(repo, "exp", "run", "--queue", "-n", "waiting", "-S", "train.seed=7")
    return repo


def compare(repo: Path, *args: str):
    return run(["digits-compare", *args], repo, check=False)


def test_by_default_head_the_workspace_and_heads_experiments(history, tmp_path):
    result = compare(history, "--json", str(tmp_path / "c.json"), "--html", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    entries = json.loads((tmp_path / "c.json").read_text())["runs"]
    runs = {entry["name"]: entry for entry in entries}
    assert entries[0]["name"] == "main"
    # The workspace holds the last experiment's results, so it differs from HEAD and is shown.
    assert set(runs) == {"main", "workspace", *EXPERIMENTS, "broken", "waiting"}
    assert runs["broken"]["state"] == "Failed" and runs["waiting"]["state"] == "Queued"
    assert runs["waiting"]["params"]["train.seed"] == 7
    for name in ("broken", "waiting"):
        assert runs[name]["metrics"][ACCURACY]["value"] is None
        assert runs[name]["changed"] == {"missing": f"{name} has no predictions"}
    assert runs["workspace"]["metrics"] == runs["lr-0.01"]["metrics"]


def test_a_detached_head_and_another_baseline(history, tmp_path):
    """CI checks out a detached HEAD: it is called HEAD; --baseline puts a run first."""
    git(history, "checkout", "-q", "--detach")
    try:
        result = compare(history, "--baseline", "seed-1", "--json", str(tmp_path / "c.json"))
    finally:
        git(history, "checkout", "-q", "main")
        (history / "compare.html").unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "c.json").read_text())["runs"]
    assert [run["name"] for run in runs][:3] == ["seed-1", "HEAD", "workspace"]
    assert len(runs) == 7  # seed-1 once, not again among HEAD's experiments
    assert runs[1]["metrics"][ACCURACY]["baseline"] == runs[0]["metrics"][ACCURACY]["value"]


def test_numbers_are_dvc_metrics_diff_s(history, tmp_path):
    out = tmp_path / "c.json"
    result = compare(
        history, *COMMITS, "--json", str(out), "--md", "-", "--html", str(tmp_path / "p.html")
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    runs = {entry["name"]: entry for entry in summary["runs"]}
    assert list(runs) == COMMITS
    for name in COMMITS[1:]:
        diff = json.loads(dvc(history, "metrics", "diff", "v1", name, "--all", "--json").stdout)
        checked = 0
        for path, metrics in diff.items():
            for metric, values in metrics.items():
                ours = runs[name]["metrics"][f"{path}:{metric}"]
                assert (ours["baseline"], ours["value"]) == (values["old"], values["new"])
                if values.get("diff") is not None:
                    assert ours["change"] == pytest.approx(values["diff"], abs=1e-9)
                checked += 1
        assert checked >= 40, (name, diff)
    # The Markdown row of each run holds its test accuracy and the change from v1.
    base = runs["v1"]["metrics"][ACCURACY]["value"]
    for name in ["main", *EXPERIMENTS]:
        value = runs[name]["metrics"][ACCURACY]["value"]
        row = next(line for line in result.stdout.splitlines() if line.startswith(f"| {name} |"))
        assert number(value) in row
        assert (signed(value - base) in row) or value == base
    # What the old commit lacks is shown as missing, not a crash; so is the renamed param.
    old = runs["old"]
    assert old["metrics"][ACCURACY]["verdict"] == "missing"
    assert old["notes"] == [
        "results/evaluation.json: not in this revision",
        "results/predictions.csv: not in this revision",
    ]
    assert (
        "report.mistakes" in old["params"] and "report.misclassified_examples" not in old["params"]
    )
    assert {"report.mistakes", "report.misclassified_examples"} <= set(summary["params"]["varying"])
    assert "another test set" in runs["full"]["changed"]["missing"]
    assert runs["full"]["metrics"]["results/evaluation.json:samples"]["value"] == 10_000


def test_the_page_works_offline_in_a_real_browser(history, tmp_path):
    page_path = tmp_path / "compare.html"
    names = [*COMMITS, "broken", "waiting"]
    assert compare(history, *names, "--html", str(page_path)).returncode == 0
    with offline_page(page_path) as (page, visit):
        assert page.title() == f"Compare: {len(names)} runs against v1"
        rows = page.locator("table.runs tbody tr")
        assert rows.count() == len(names)
        charts = page.evaluate(
            """() => Array.from(document.querySelectorAll("figure.chart svg"), (svg) => {
                const box = svg.getBoundingClientRect();
                return [box.width, box.height, svg.querySelectorAll("path, use").length];
            })"""
        )
        assert len(charts) == 3  # curves, per class, sweep
        for width, height, marks in charts:
            assert width > 300 and height > 150 and marks > 20
        pictures = page.evaluate(
            """() => Array.from(document.images, (img) => img.complete && img.naturalWidth)"""
        )
        assert pictures and set(pictures) == {28}
        page.screenshot(path=tmp_path / "compare.png", full_page=True)
        # Sorting: a click on the test accuracy's header puts the rows in accuracy order.
        page.locator("table.runs th", has_text="accuracy").first.click()
        page.locator("table.runs th", has_text="accuracy").first.click()  # descending
        order = page.evaluate(
            """() => Array.from(document.querySelectorAll("table.runs tbody tr"),
                (row) => row.cells[4].dataset.sort)"""
        )
        values = [float(value) for value in order if value]
        assert values == sorted(values, reverse=True) and order[-2:] == ["", ""]
        # The switch shows the params that are the same in every run.
        same = page.locator("table.runs th.same").first
        assert not same.is_visible()
        page.locator("#show-all").check()
        assert same.is_visible()
        page.screenshot(path=tmp_path / "compare-all-columns.png")
    assert visit.requests == [], f"the page made network requests: {visit.requests}"
    assert visit.errors == [], f"console errors: {visit.errors}"
    levels, inked = not_blank(tmp_path / "compare.png")
    assert levels > 50 and inked > 0.05, (levels, inked, tmp_path / "compare.png")


def accuracies(history: Path, tmp_path: Path) -> dict[str, float]:
    out = tmp_path / "numbers.json"
    compare(history, "v1", "main", *EXPERIMENTS, "--json", str(out), "--html", str(tmp_path / "p"))
    runs = json.loads(out.read_text())["runs"]
    return {run["name"]: run["metrics"][ACCURACY]["value"] for run in runs}


def test_gate_regression_improvement_and_tie(history, tmp_path):
    found = accuracies(history, tmp_path)
    best, worst = max(found, key=found.get), min(found, key=found.get)
    assert found[best] > found[worst] + 0.001, found
    gate = ["--fail-on", "accuracy=-0.001", "--fail-on", "loss=1", "--html", str(tmp_path / "g")]
    regression = compare(history, best, worst, *gate)
    assert regression.returncode == 1, regression.stderr
    assert regression.stdout.splitlines() == [
        f"worse: {worst} {ACCURACY} {number(found[best])} -> {number(found[worst])} "
        f"({signed(found[worst] - found[best])}, tolerance -0.001) against {best}"
    ]
    improvement = compare(history, worst, best, *gate)
    assert (improvement.returncode, improvement.stdout) == (0, "")
    sha = git(history, "rev-parse", "main").strip()
    tie = compare(history, "main", sha, "--fail-on", "accuracy=0", "--html", str(tmp_path / "t"))
    assert (tie.returncode, tie.stdout) == (0, "")
    # With Markdown on stdout, the gate's lines go to stderr and the Markdown says it failed.
    review = compare(history, best, worst, *gate, "--md", "-")
    assert review.returncode == 1
    assert review.stderr.splitlines() == regression.stdout.splitlines()
    assert "**Gate failed**" in review.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["v1", "no-such-run"], "error: unknown revision or experiment 'no-such-run'; "),
        (["v1", "main", "--fail-on", "acuracy=-0.01"], "error: --fail-on 'acuracy=-0.01': no"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(history, tmp_path, args, message):
    outputs = [tmp_path / "page.html", tmp_path / "review.md", tmp_path / "numbers.json"]
    options = ["--html", str(outputs[0]), "--md", str(outputs[1]), "--json", str(outputs[2])]
    result = compare(history, *args, *options)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1
    assert not any(path.exists() for path in outputs)
    assert list(tmp_path.iterdir()) == []  # not even a temporary file


def test_the_ci_recipe_compares_with_the_base_branch_and_gates(history, tmp_path):
    """The example workflow's compare step, run as written, with `origin/main` at v1."""
    workflow = yaml.safe_load((REPO_ROOT / "docs/ci/github-compare.yml").read_text())
    steps = workflow["jobs"]["compare"]["steps"]
    script = next(step["run"] for step in steps if step.get("id") == "compare")
    outputs = tmp_path / "github-output"
    env = dict(environment(), GITHUB_BASE_REF="main", GITHUB_OUTPUT=str(outputs))
    git(history, "update-ref", "refs/remotes/origin/main", "v1")
    try:
        result = subprocess.run(
            ["bash", "-e", "-c", script], cwd=history, env=env, capture_output=True, text=True
        )
        written = {name: (history / name).read_text() for name in ("compare.md", "compare.json")}
    finally:
        git(history, "update-ref", "-d", "refs/remotes/origin/main")
        for name in ("compare.html", "compare.md", "compare.json"):
            (history / name).unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    runs = json.loads(written["compare.json"])["runs"]
    assert [run["name"] for run in runs] == ["origin/main", "HEAD"]
    change = runs[1]["metrics"][ACCURACY]["change"]
    assert outputs.read_text() == f"status={1 if change < -0.001 else 0}\n"
    assert written["compare.md"].startswith("### Compare: 2 runs against `origin/main`")
    assert ("**Gate failed**" in written["compare.md"]) == (change < -0.001)

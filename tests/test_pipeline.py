"""The real `dvc repro`, with shrunken params, in a temporary git + DVC repository.

Proves the DVC contract: a rerun with nothing changed runs nothing, a change
re-runs exactly the stages it affects, a forced rerun reproduces every output
bit for bit, and `dvc metrics diff` compares two commits.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import dvc, git, make_repo, stages_run, update_params

pytestmark = pytest.mark.pipeline
ALL = {"download", "normalize", "train", "evaluate", "report"}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("pipeline"))
    output = dvc(repo, "repro").stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "baseline run")
    return repo, output


@pytest.fixture
def repo(baseline):
    """The baseline repository, reset to its baseline commit and outputs."""
    repo, _ = baseline
    git(repo, "reset", "-q", "--hard", "main")
    dvc(repo, "checkout", "-q")
    return repo


def test_first_run_runs_every_stage_and_writes_every_output(baseline):
    repo, output = baseline
    assert stages_run(output) == ALL
    assert len(list((repo / "data/raw").iterdir())) == 4
    summary = json.loads((repo / "results/data_summary.json").read_text())
    counts = {split: part["samples"] for split, part in summary.items()}
    assert counts["train"] + counts["validation"] == 1500 and counts["test"] == 400
    assert abs(counts["validation"] - 150) <= 5  # 10% of each class, rounded per class
    metrics = json.loads((repo / "results/evaluation.json").read_text())
    predictions = pd.read_csv(repo / "results/predictions.csv")
    assert len(predictions) == 400
    assert metrics["accuracy"] == round((predictions.actual == predictions.predicted).mean(), 6)
    assert metrics["accuracy"] > 0.2  # one epoch on 1,350 images: far above chance (0.1)
    training = json.loads((repo / "results/training/metrics.json").read_text())
    assert training["step"] == 0 and 0 < training["eval"]["accuracy"] <= 1
    report = (repo / "report/report.md").read_text()
    assert f"**Test accuracy {metrics['accuracy']:.2%}**" in report
    for figure in ("training_curves.png", "confusion_matrix.png", "misclassified.png"):
        assert (repo / "report" / figure).stat().st_size > 1000
    assert git(repo, "status", "--porcelain") == ""


def test_nothing_changed_runs_nothing(repo):
    output = dvc(repo, "repro").stdout
    assert stages_run(output) == set()
    assert "Data and pipelines are up to date" in output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"train": {"epochs": 2}}, {"train", "evaluate", "report"}),
        ({"report": {"dpi": 50}}, {"report"}),
        ({"normalize": {"seed": 1}}, {"normalize", "train", "evaluate", "report"}),
    ],
)
def test_a_param_change_reruns_exactly_the_stages_that_use_it(repo, change, expected):
    update_params(repo / "params.yaml", change)
    assert stages_run(dvc(repo, "repro").stdout) == expected


def test_an_evaluate_param_does_not_retrain(repo):
    update_params(repo / "params.yaml", {"evaluate": {"batch_size": 7}})
    ran = stages_run(dvc(repo, "repro").stdout)
    assert "evaluate" in ran and ran <= {"evaluate", "report"}


def test_editing_the_report_code_reruns_only_the_report(repo):
    with (repo / "src/digits/reporting.py").open("a") as module:
        module.write("\n# an edit\n")
    assert stages_run(dvc(repo, "repro").stdout) == {"report"}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.epoch=3", "Could not override 'train.epoch'"),  # DVC refuses a new key itself
        ("+train.epoch=3", "unknown key train.epoch;"),  # forced in: our schema refuses it
        ("train.epochs=ten", "train.epochs must be an integer >= 1, got the string 'ten'"),
        ("train.learning_rate=-1", "train.learning_rate must be a number > 0"),
    ],
)
def test_bad_values_through_exp_run_set_param_fail_before_any_work(repo, setting, message):
    result = dvc(repo, "exp", "run", "-S", setting, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Epoch 1/" not in result.stdout  # the stage stopped before training


def test_a_forced_rerun_reproduces_every_output_bit_for_bit(repo):
    lock_before = (repo / "dvc.lock").read_text()
    model_before = (repo / "models/model.keras").read_bytes()
    output = dvc(repo, "repro", "--force").stdout
    assert stages_run(output) == ALL
    assert (repo / "models/model.keras").read_bytes() == model_before
    assert (repo / "dvc.lock").read_text() == lock_before
    assert git(repo, "status", "--porcelain") == ""


def test_metrics_and_params_diff_between_two_commits(repo):
    update_params(repo / "params.yaml", {"train": {"epochs": 2}})
    dvc(repo, "repro")
    git(repo, "commit", "-q", "-am", "two epochs")
    metrics = json.loads(dvc(repo, "metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    accuracy = metrics["results/evaluation.json"]["accuracy"]
    assert accuracy["old"] != accuracy["new"]
    assert accuracy["diff"] == pytest.approx(accuracy["new"] - accuracy["old"])
    params = json.loads(dvc(repo, "params", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert params["params.yaml"]["train.epochs"] == {"old": 1, "new": 2, "diff": 1}
    plots = json.loads(dvc(repo, "plots", "diff", "HEAD~1", "HEAD", "--json", "--split").stdout)
    curves = {
        f"results/training/plots/metrics/{split}/{metric}.tsv"
        for split in ("train", "eval")
        for metric in ("loss", "accuracy")
    }
    assert set(plots["data"]) == {"Loss", "Accuracy", "results/predictions.csv", *curves}
    for rendered in plots["data"].values():
        assert rendered[0]["revisions"] == ["HEAD~1", "HEAD"]
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"]["epochs"] == 2

"""The comparison's analysis, gate, page and Markdown on hand-made runs (no DVC, no browser)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from digits.comparison import analysis, markdown, page
from digits.comparison.runs import Run, flatten
from digits.errors import InputError

ACCURACY = "results/evaluation.json:accuracy"
LOSS = "results/evaluation.json:loss"
SAMPLES = "results/evaluation.json:samples"
EVAL_LOSS = "results/training/metrics.json:eval.loss"
ACTUAL = np.arange(20) % 10


def make_run(name: str, accuracy: float | None, wrong: list[int], **changes) -> Run:
    """A run whose predictions are right except at the `wrong` test indices."""
    predicted = ACTUAL.copy()
    predicted[wrong] = (ACTUAL[wrong] + 1) % 10
    metrics = {LOSS: 0.1 + len(wrong) / 100, SAMPLES: 20.0, EVAL_LOSS: 0.2}
    if accuracy is not None:
        metrics[ACCURACY] = accuracy
    run = Run(
        name,
        f"{abs(hash(name)):040x}"[:40],
        "experiment",
        params={"train.learning_rate": 0.004, "train.seed": 0, "train.optimizer": "adam"},
        metrics=metrics,
        curves={"train/loss": [1.0, 0.5], "eval/loss": [1.1, 0.6], "train/accuracy": [0.8, 0.9]},
        actual=ACTUAL.copy(),
        predicted=predicted,
        test_set="md5-of-the-test-set",
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def test_flatten_nests_dicts_into_dotted_keys_and_keeps_lists():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": "x",
    }


@pytest.mark.parametrize(
    ("key", "value", "baseline", "expected"),
    [
        (ACCURACY, 0.99, 0.98, "better"),
        (ACCURACY, 0.97, 0.98, "worse"),
        (LOSS, 0.2, 0.1, "worse"),
        (EVAL_LOSS, 0.1, 0.2, "better"),
        ("results/evaluation.json:macro.f1", 0.5, 0.4, "better"),
        (SAMPLES, 30.0, 20.0, "changed"),
        (ACCURACY, 0.98, 0.98, "same"),
        (ACCURACY, None, 0.98, "missing"),
        (ACCURACY, 0.98, None, "missing"),
    ],
)
def test_verdict_knows_which_way_is_better(key, value, baseline, expected):
    assert analysis.verdict(key, value, baseline) == expected


def test_varying_keeps_keys_that_differ_or_that_some_runs_lack():
    assert analysis.varying([{"a": 1, "b": 2}, {"a": 1, "b": 3}, {"a": 1, "b": 2, "c": 0}]) == [
        "b",
        "c",
    ]
    assert analysis.varying([{"a": [1, 2]}, {"a": [1, 2]}]) == []


def test_table_metrics_put_scored_test_metrics_first_and_leave_per_class_out():
    run = make_run("a", 0.9, [])
    run.metrics = {
        "results/data_summary.json:test.samples": 20.0,
        "results/training/metrics.json:eval.loss": 0.2,
        "results/evaluation.json:samples": 20.0,
        ACCURACY: 0.9,
        "results/evaluation.json:per_class.3.recall": 0.5,
    }
    assert analysis.table_metrics([run]) == [
        ACCURACY,
        "results/training/metrics.json:eval.loss",
        "results/evaluation.json:samples",
        "results/data_summary.json:test.samples",
    ]


def test_changed_digits_are_the_ones_that_flipped_each_way():
    baseline, run = make_run("base", 0.9, [1, 2]), make_run("new", 0.9, [2, 5, 7])
    wrong, right = analysis.changed_digits(baseline, run)
    assert wrong.tolist() == [5, 7]
    assert right.tolist() == [1]
    assert analysis.comparable(baseline, run) is None


def test_digits_are_not_matched_across_different_test_sets():
    other = make_run("other", 0.9, [], test_set="md5-of-another-test-set")
    reason = analysis.comparable(make_run("base", 0.9, []), other)
    assert "another test set" in reason and "md5-of-another-test-set" in reason
    no_predictions = make_run("old", 0.9, [], actual=None, predicted=None)
    assert analysis.comparable(make_run("base", 0.9, []), no_predictions) == (
        "old has no predictions"
    )


def test_per_class_recall_and_f1_come_from_the_predictions():
    scores = analysis.per_class(make_run("a", 0.9, [0, 10]))  # both true 0s predicted as 1
    assert scores["recall"][0] == 0.0
    assert scores["recall"][1] == 1.0
    assert scores["f1"][1] == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1), abs=1e-6)


# The gate: exit status and lines for a regression, an improvement and a tie.
@pytest.mark.parametrize(
    ("accuracy", "lines"),
    [
        (0.9700, ["worse: pr results/evaluation.json:accuracy 0.9800 -> 0.9700 (-0.0100, "]),
        (0.9795, []),  # within the tolerance
        (0.9790, []),  # exactly the tolerance: allowed
        (0.9850, []),  # an improvement
        (0.9800, []),  # a tie
    ],
)
def test_gate_fails_only_beyond_the_tolerance(accuracy, lines):
    runs = [make_run("main", 0.98, []), make_run("pr", accuracy, [])]
    tolerances = analysis.parse_tolerances(["accuracy=-0.001"], list(runs[0].metrics))
    failures = analysis.gate(runs, tolerances)
    assert [line[: len(lines[0])] for line in failures] == lines if lines else failures == []
    if lines:
        assert failures[0].endswith("tolerance -0.001) against main")


def test_gate_on_a_loss_fails_when_it_rises_and_names_each_run_and_metric():
    runs = [make_run("main", 0.98, []), make_run("a", 0.97, [1, 2, 3]), make_run("b", 0.99, [])]
    tolerances = analysis.parse_tolerances(["loss=0.01", "accuracy=0"], list(runs[0].metrics))
    assert tolerances == {LOSS: 0.01, ACCURACY: 0.0}
    failures = analysis.gate(runs, tolerances)
    assert [line.split()[1:3] for line in failures] == [["a", LOSS], ["a", ACCURACY]]


def test_gate_counts_a_missing_metric_as_worse_but_skips_runs_without_results():
    runs = [
        make_run("main", 0.98, []),
        make_run("dropped", None, []),
        make_run("queued", None, [], state="Queued"),
    ]
    failures = analysis.gate(runs, {ACCURACY: -0.001})
    assert failures == [f"worse: dropped {ACCURACY} missing (main: 0.9800)"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("accuracy", "expected METRIC=TOLERANCE"),
        ("accuracy=lots", "expected METRIC=TOLERANCE"),
        ("acuracy=-0.001", "no metric 'acuracy' in these runs; did you mean accuracy? `dvc"),
        ("accuracy=0.001", "higher accuracy is better, so the tolerance is how much worse"),
        ("loss=-0.01", "lower loss is better"),
        ("samples=0", "samples has no better direction; sign the tolerance"),
    ],
)
def test_bad_gate_specs_say_what_is_wrong(spec, message):
    with pytest.raises(InputError, match=re.escape(message)):
        analysis.parse_tolerances([spec], list(make_run("a", 0.9, []).metrics))


def test_a_gate_name_must_match_one_metric():
    keys = ["a.json:loss", "b.json:loss"]
    with pytest.raises(InputError, match="'loss' matches a.json:loss, b.json:loss; give the full"):
        analysis.parse_tolerances(["loss=0.1"], keys)
    assert analysis.parse_tolerances(["b.json:loss=0.1"], keys) == {"b.json:loss": 0.1}


def sweep_runs() -> list[Run]:
    runs = [make_run("main", 0.98, [3])]
    for i, (rate, accuracy) in enumerate([(0.001, 0.97), (0.01, 0.99), (0.1, 0.95)]):
        run = make_run(f"exp-{i}", accuracy, [1, 4][: i + 1])
        run.params = {**run.params, "train.learning_rate": rate}
        runs.append(run)
    runs.append(make_run("waiting", None, [], state="Queued", metrics={}, curves={}))
    runs[-1].actual = runs[-1].predicted = None
    return runs


def test_page_holds_every_section_and_fetches_nothing():
    runs = sweep_runs()
    images = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    html = page.render(runs, [], {}, images, None)
    for section in ("runs", "curves", "per-class", "confusion", "changed", "sweep"):
        assert f'<section id="{section}">' in html
    # Nothing that a browser would fetch: no remote or relative URLs, imports or fonts.
    urls = re.findall(r'(?:src|href)="([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)
    assert urls and all(url.startswith(("data:image/png;base64,", "#")) for url in urls)
    assert "@import" not in html and "@font-face" not in html
    assert html.count("<svg") == 3  # curves, per class, sweep
    assert "<script>" in html and "<style>" in html
    # The changed digits: exp-0 newly gets 1 wrong and 3 right; one picture each.
    assert "exp-0 gets 1 digit wrong that main got right" in html
    assert "exp-1 gets 2 digits wrong that main got right" in html
    assert "exp-0 gets 1 digit right that main got wrong" in html
    assert html.count("data:image/png;base64,") == sum(
        len(a) + len(b) for a, b in (analysis.changed_digits(runs[0], r) for r in runs[1:4])
    )
    # The queued run: its state, dashes for its metrics, and why.
    row = re.search(r"<tr><td[^>]*><span[^>]*></span>waiting</td>.*?</tr>", html).group(0)
    assert "Queued" in row and row.count("—") >= 3


def test_page_marks_better_and_worse_against_the_baseline():
    runs = [make_run("main", 0.98, []), make_run("up", 0.99, []), make_run("down", 0.97, [1])]
    html = page.render(runs, [], {}, None, "no test set here")
    assert '0.9900<span class="delta better" title="better">+0.0100</span>' in html
    assert '0.9700<span class="delta worse" title="worse">-0.0100</span>' in html
    assert "No pictures: no test set here." in html
    params_same = re.findall(r'<th class="group-param same">([^<]+)</th>', html)
    assert params_same == ["train.learning_rate", "train.seed", "train.optimizer"]


def test_page_with_two_runs_has_no_sweep_and_a_failed_gate_says_so():
    runs = [make_run("main", 0.98, []), make_run("pr", 0.97, [1])]
    failures = analysis.gate(runs, {ACCURACY: -0.001})
    html = page.render(runs, failures, {ACCURACY: -0.001}, None, "x")
    assert '<section id="sweep">' not in html
    assert 'class="gate-fail"' in html and "worse: pr " in html


def test_markdown_is_a_review_comment_with_the_table_and_the_verdicts():
    runs = sweep_runs()
    failures = analysis.gate(runs, {ACCURACY: -0.001})
    text = markdown.render(runs, failures, {ACCURACY: -0.001})
    lines = text.splitlines()
    assert lines[0] == f"### Compare: 5 runs against `main` (`{runs[0].short}`)"
    assert "**Gate failed** (`results/evaluation.json:accuracy` -0.001):" in lines
    header = next(line for line in lines if line.startswith("| run |"))
    assert header.split(" | ")[3:] == ["loss", "accuracy |"]
    assert "| run | train.learning_rate |" in lines
    assert "| exp-2 | 0.1 |" in lines and "| waiting | 0.004 |" in lines
    assert "| exp-1 | " in text and "0.9900 (+0.0100 better)" in text
    assert "0.9700 (**-0.0100 worse**)" in text
    assert "- exp-2: 2 test digits newly wrong, 1 newly right" in text
    assert "- waiting: not compared digit by digit (waiting has no predictions)" in text


def test_summary_holds_the_numbers_behind_the_page():
    runs = sweep_runs()
    summary = analysis.summary(runs, {ACCURACY: -0.001}, ["x"])
    first = summary["runs"][1]
    assert first["metrics"][ACCURACY] == {
        "value": 0.97,
        "baseline": 0.98,
        "change": pytest.approx(-0.01),
        "verdict": "worse",
    }
    assert first["changed"] == {"newly_wrong": [1], "newly_right": [3]}
    assert summary["params"]["varying"] == ["train.learning_rate"]
    assert summary["runs"][4]["changed"] == {"missing": "waiting has no predictions"}
    assert summary["gate"] == {"tolerances": {ACCURACY: -0.001}, "failures": ["x"]}

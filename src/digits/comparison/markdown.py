"""The comparison as GitHub/GitLab-flavoured Markdown, short enough for a review comment."""

from __future__ import annotations

from digits.comparison import analysis
from digits.comparison.runs import Run


def render(runs: list[Run], failures: list[str], tolerances: dict[str, float]) -> str:
    baseline = runs[0]
    params = analysis.varying([run.params for run in runs])
    # The headline metrics and any the gate watches; the page and the JSON have the rest.
    metrics = analysis.headline_metrics(runs)
    metrics += [key for key in tolerances if key not in metrics]
    names = analysis.short_names(metrics)
    lines = [
        f"### Compare: {len(runs)} runs against `{baseline.name}` (`{baseline.short}`)",
        "",
        *_gate(failures, tolerances),
        "| run | revision | state | " + " | ".join(names[key] for key in metrics) + " |",
        "| --- | --- | --- |" + " ---: |" * len(metrics),
    ]
    for run in runs:
        cells = [
            f"**{run.name}** (baseline)" if run is baseline else run.name,
            f"`{run.short}`",
            run.state,
            *(_metric(key, run, baseline) for key in metrics),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if params:
        lines += ["", "Params that differ:", "", "| run | " + " | ".join(params) + " |"]
        lines.append("| --- |" + " ---: |" * len(params))
        for run in runs:
            values = (_cell(run.params.get(key, "—")) for key in params)
            lines.append(f"| {run.name} | " + " | ".join(values) + " |")
    lines += ["", *_changes(runs), *_per_class(runs), *_missing(runs)]
    lines.append(
        "<sub>Made by `digits-compare`; the HTML page has every metric, the curves and the "
        "pictures.</sub>"
    )
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def _metric(key: str, run: Run, baseline: Run) -> str:
    value, base = run.metrics.get(key), baseline.metrics.get(key)
    text = analysis.number(value)
    if run is baseline or value is None or base is None:
        return text
    word = analysis.verdict(key, value, base)
    if word == "same":
        return f"{text} (±0)"
    change = analysis.signed(value - base)
    return f"{text} (**{change} worse**)" if word == "worse" else f"{text} ({change} {word})"


def _gate(failures: list[str], tolerances: dict[str, float]) -> list[str]:
    if not tolerances:
        return []
    rules = ", ".join(f"`{key}` {tolerance:g}" for key, tolerance in tolerances.items())
    if not failures:
        return [f"**Gate passed**: nothing got worse beyond {rules}.", ""]
    return [f"**Gate failed** ({rules}):", "", *(f"- `{line}`" for line in failures), ""]


def _changes(runs: list[Run]) -> list[str]:
    baseline, items = runs[0], []
    for run in runs[1:]:
        reason = analysis.comparable(baseline, run)
        if reason:
            items.append(f"- {run.name}: not compared digit by digit ({reason})")
        else:
            wrong, right = analysis.changed_digits(baseline, run)
            items.append(
                f"- {run.name}: {len(wrong)} test digits newly wrong, {len(right)} newly right"
            )
    return [f"Against `{baseline.name}`:", "", *items, ""] if items else []


def _per_class(runs: list[Run]) -> list[str]:
    scores = [(run, analysis.per_class(run)) for run in runs]
    scores = [(run, score) for run, score in scores if score]
    if not scores:
        return []
    lines = [
        "<details><summary>Recall per class</summary>",
        "",
        "| digit | " + " | ".join(run.name for run, _ in scores) + " |",
        "| ---: |" + " ---: |" * len(scores),
    ]
    for digit in range(analysis.NUM_CLASSES):
        values = [f"{score['recall'][digit]:.4f}" for _, score in scores]
        lines.append(f"| {digit} | " + " | ".join(values) + " |")
    return [*lines, "", "</details>", ""]


def _missing(runs: list[Run]) -> list[str]:
    items = [f"- {run.name}: {'; '.join(run.notes)}" for run in runs if run.notes]
    return ["Missing:", "", *items, ""] if items else []

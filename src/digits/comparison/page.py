"""One self-contained HTML page: runs side by side, curves, per-class scores, confusion changes,
the digits that changed and, for a sweep, metrics against params. Every style, script and
picture is inside the page; it makes no network request."""

from __future__ import annotations

import base64
import io
from html import escape
from importlib import resources

import numpy as np
from PIL import Image

from digits.comparison import analysis, charts
from digits.comparison.runs import DONE, Run

MAX_DIGITS = 40  # pictures per run and direction; the JSON lists them all


def render(
    runs: list[Run],
    failures: list[str],
    tolerances: dict[str, float],
    images: np.ndarray | None,
    note: str | None,
) -> str:
    palette = charts.colours(len(runs))
    baseline = runs[0]
    sections = [
        _gate(failures, tolerances),
        _section("runs", "Runs", _runs_table(runs, palette)),
        _section("curves", "Training curves", _chart(charts.curves(runs, palette), "curves")),
        _section(
            "per-class", "Per class", _chart(charts.per_class_scores(runs, palette), "scores")
        ),
        _section("confusion", "Confusion", _confusions(runs, palette)),
        _section(
            "changed", f"What changed from {escape(baseline.name)}", _digits(runs, images, note)
        ),
    ]
    if len(runs) >= 3:
        sections.append(_section("sweep", "Sweep: metrics against params", _sweep(runs, palette)))
    title = f"{len(runs)} runs against {baseline.name}"
    style = resources.files(__package__).joinpath("page.css").read_text()
    script = resources.files(__package__).joinpath("page.js").read_text()
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Compare: {escape(title)}</title>\n<style>\n{style}</style>\n</head>\n<body>\n"
        f"<h1>Compare: {escape(title)}</h1>\n"
        f'<p class="note">Baseline: <b>{escape(baseline.name)}</b> '
        f'<span class="rev">{escape(baseline.short)}</span>. Each run keeps its colour '
        "throughout the page.</p>\n"
        + "".join(sections)
        + f"<script>\n{script}</script>\n</body>\n</html>\n"
    )


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{title}</h2>\n{body}</section>\n'


def _chart(svg: str | None, what: str) -> str:
    if svg is None:
        return f'<p class="note">No run has training {what}.</p>\n'
    return f'<figure class="chart">{svg}</figure>\n'


def _gate(failures: list[str], tolerances: dict[str, float]) -> str:
    if not tolerances:
        return ""
    rules = ", ".join(f"<code>{escape(key)}</code> {tol:g}" for key, tol in tolerances.items())
    if not failures:
        return f'<p class="gate-pass">Gate passed: nothing got worse beyond {rules}.</p>\n'
    items = "".join(f"<li><code>{escape(line)}</code></li>" for line in failures)
    return f'<div class="gate-fail"><p>Gate failed ({rules}):</p><ul>{items}</ul></div>\n'


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def _runs_table(runs: list[Run], palette: list[str]) -> str:
    baseline = runs[0]
    params = list(dict.fromkeys(key for run in runs for key in run.params))
    differ = set(analysis.varying([run.params for run in runs]))
    metrics = analysis.table_metrics(runs)
    metrics_differ = set(analysis.varying([run.metrics for run in runs if run.state == DONE]))
    names = analysis.short_names(metrics)

    def hidden(key: str, shown: set[str]) -> str:
        return "" if key in shown else ' class="same"'

    head = ["<th>run</th>", "<th>revision</th>", "<th>state</th>"]
    head += [
        f'<th title="{escape(k)}"{hidden(k, metrics_differ)}>{escape(names[k])}</th>'
        for k in metrics
    ]
    head += [
        f'<th class="group-param{"" if k in differ else " same"}">{escape(k)}</th>' for k in params
    ]
    body = []
    for run, colour in zip(runs, palette, strict=True):
        cells = [
            f'<td data-sort="{escape(run.name)}">{_swatch(colour)}{escape(run.name)}</td>',
            f'<td class="rev text" data-sort="{run.short}">{run.short}</td>',
            f'<td class="text" data-sort="{run.state}">{escape(run.state)}</td>',
        ]
        for key in metrics:
            cells.append(_metric_cell(key, run, baseline, hidden(key, metrics_differ)))
        for key in params:
            value = run.params.get(key)
            shown = "—" if key not in run.params else escape(str(value))
            cells.append(f'<td{hidden(key, differ)} data-sort="{escape(str(value))}">{shown}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    notes = [
        f"<li><b>{escape(r.name)}</b>: {escape('; '.join(r.notes))}</li>" for r in runs if r.notes
    ]
    return (
        '<input type="checkbox" id="show-all"> <label for="show-all">Show the params and '
        "metrics that are the same in every run</label>\n"
        f'<div class="scroll"><table class="runs"><thead><tr>{"".join(head)}</tr></thead>\n'
        f"<tbody>\n{chr(10).join(body)}\n</tbody></table></div>\n"
        '<p class="note">Click a column to sort. Below each metric: its change from the '
        "baseline, green when better, red when worse.</p>\n"
        + (f'<p>Missing:</p><ul class="note">{"".join(notes)}</ul>\n' if notes else "")
    )


def _metric_cell(key: str, run: Run, baseline: Run, hidden: str) -> str:
    value, base = run.metrics.get(key), baseline.metrics.get(key)
    if value is None:
        return f'<td{hidden} data-sort="" title="not in this run">—</td>'
    text = analysis.number(value)
    if run is not baseline and base is not None:
        word = analysis.verdict(key, value, base)
        change = analysis.signed(value - base) if word != "same" else "±0"
        text += f'<span class="delta {word}" title="{word}">{change}</span>'
    return f'<td{hidden} data-sort="{value!r}">{text}</td>'


def _confusions(runs: list[Run], palette: list[str]) -> str:
    baseline = runs[0]
    base = analysis.confusion(baseline)
    if base is None:
        return f'<p class="note">{escape(baseline.name)} has no predictions.</p>\n'
    parts = [_matrix(base, f"{_swatch(palette[0])}{escape(baseline.name)}: counts", None)]
    notes = []
    for run, colour in zip(runs[1:], palette[1:], strict=True):
        reason = analysis.comparable(baseline, run)
        if reason:
            notes.append(f"<li>{escape(reason)}</li>")
            continue
        title = f"{_swatch(colour)}{escape(run.name)} minus {escape(baseline.name)}"
        parts.append(_matrix(analysis.confusion(run) - base, title, base))
    return (
        '<p class="note">Rows: true digit; columns: predicted. In a difference, red marks '
        "mistakes that grew or hits that shrank, green the reverse.</p>\n"
        f'<div class="matrices">{"".join(parts)}</div>\n'
        + (f'<ul class="note">{"".join(notes)}</ul>\n' if notes else "")
    )


def _matrix(matrix: np.ndarray, title: str, base: np.ndarray | None) -> str:
    """A 10x10 table; counts shaded blue, differences red (worse) and green (better)."""
    size = len(matrix)
    head = "<th></th>" + "".join(f"<th>{c}</th>" for c in range(size))
    rows = []
    for true in range(size):
        cells = []
        for guess in range(size):
            count = int(matrix[true, guess])
            if base is None:
                share = count / max(int(matrix[true].sum()), 1)
                style = f"background:rgba(9,105,218,{share:.2f})" if count else ""
                style += ";color:#fff" if share > 0.5 else ""
                cells.append(f'<td style="{style}">{count or ""}</td>')
            else:
                good = count > 0 if true == guess else count < 0
                style = "" if not count else f"background:{'#dafbe1' if good else '#ffcecb'}"
                cells.append(f'<td style="{style}">{f"{count:+d}" if count else ""}</td>')
        rows.append(f"<tr><th>{true}</th>{''.join(cells)}</tr>")
    return (
        f'<div><h3>{title}</h3><table class="matrix"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _digits(runs: list[Run], images: np.ndarray | None, images_note: str | None) -> str:
    baseline, parts, cache = runs[0], [], {}
    if images is None:
        return f'<p class="note">No pictures: {escape(images_note or "no test set")}.</p>\n'
    for run in runs[1:]:
        reason = analysis.comparable(baseline, run)
        if reason:
            parts.append(f'<h3>{escape(run.name)}</h3><p class="note">{escape(reason)}.</p>')
            continue
        wrong, right = analysis.changed_digits(baseline, run)
        for indices, verb in ((wrong, "wrong"), (right, "right")):
            other = "right" if verb == "wrong" else "wrong"
            wrong_one = run if verb == "wrong" else baseline
            parts.append(
                f"<h3>{escape(run.name)} gets {_digits_count(len(indices))} {verb} that "
                f"{escape(baseline.name)} got {other} (true → {escape(wrong_one.name)}'s "
                "guess)</h3>"
                + _gallery(indices, run, baseline if verb == "right" else run, images, cache)
            )
    return "\n".join(parts) + "\n"


def _digits_count(count: int) -> str:
    return f"{count} digit" if count == 1 else f"{count} digits"


def _gallery(indices, run: Run, shown: Run, images: np.ndarray, cache: dict) -> str:
    """Pictures captioned `true → predicted`, the prediction of whichever run got it wrong."""
    figures = []
    for index in indices[:MAX_DIGITS]:
        if index not in cache:
            buffer = io.BytesIO()
            Image.fromarray(np.uint8(np.clip(images[index], 0, 1) * 255)).save(buffer, "PNG")
            cache[index] = base64.b64encode(buffer.getvalue()).decode("ascii")
        true, guess = int(run.actual[index]), int(shown.predicted[index])
        caption = f"{true} → {guess}"
        figures.append(
            f'<figure class="digit"><img src="data:image/png;base64,{cache[index]}" '
            f'alt="test digit {index}: true {true}, predicted {guess} by {escape(shown.name)}" '
            f'title="test #{index}"><figcaption>{caption}</figcaption></figure>'
        )
    more = len(indices) - MAX_DIGITS
    extra = f'<p class="note">and {more} more (the JSON lists them all)</p>' if more > 0 else ""
    return f'<div class="digits">{"".join(figures)}</div>{extra}'


def _sweep(runs: list[Run], palette: list[str]) -> str:
    finished = [(r, colour) for r, colour in zip(runs, palette, strict=True) if r.state == DONE]
    done = [run for run, _ in finished]
    params = analysis.varying([run.params for run in done])
    scored = analysis.scored_metrics(done)
    metrics = scored[: charts.MAX_SWEEP_METRICS]
    if not params or not metrics:
        return '<p class="note">No param or no metric varies between the finished runs.</p>\n'
    svg = charts.sweep(done, params, metrics, [colour for _, colour in finished])
    note = "Every metric with a better direction that varies"
    if len(metrics) < len(scored):
        note = f"The first {len(metrics)} of the {len(scored)} metrics that vary; the JSON has all"
    return f'<figure class="chart">{svg}</figure>\n<p class="note">{note}.</p>\n'

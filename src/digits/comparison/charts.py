"""The page's charts as static SVG from matplotlib: no script, no font or file to fetch.

Static SVG renders the same in a browser, a mail client that strips scripts and a
review tool's attachment viewer, and costs no JavaScript library in the page. Text
stays text (`svg.fonttype: none`), so it is selectable and small; each chart gets its
own id salt, so ids of several inline SVGs never clash.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from digits.comparison.analysis import NUM_CLASSES, per_class, short_names
from digits.comparison.runs import Run

CURVES = (("loss", "Loss"), ("accuracy", "Accuracy"))
SPLITS = (("train", "-"), ("eval", "--"))
MAX_SWEEP_METRICS = 10  # a sweep's scatter grid shows at most this many metrics (rows)


def colours(count: int) -> list[str]:
    """One colour per run, the same in every chart and table of the page."""
    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [matplotlib.colors.to_hex(palette(i % palette.N)) for i in range(count)]


def to_svg(figure: Figure, salt: str) -> str:
    """The figure as an inline <svg> element (no XML prolog)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _legend(figure: Figure, runs: list[Run], palette: list[str]) -> None:
    handles = [matplotlib.lines.Line2D([], [], color=c, lw=2) for c in palette]
    figure.legend(
        handles,
        [run.name for run in runs],
        loc="outside lower center",
        ncols=min(len(runs), 5),
        frameon=False,
        fontsize="small",
    )


def curves(runs: list[Run], palette: list[str]) -> str | None:
    """Loss and accuracy per epoch, training (solid) and validation (dashed), every run."""
    drawn = [(run, colour) for run, colour in zip(runs, palette, strict=True) if run.curves]
    if not drawn:
        return None
    figure = Figure(figsize=(10, 3.6 + 0.25 * (len(runs) // 5)), layout="constrained")
    axes = figure.subplots(1, len(CURVES))
    for ax, (metric, title) in zip(axes, CURVES, strict=True):
        for run, colour in drawn:
            for split, style in SPLITS:
                values = run.curves.get(f"{split}/{metric}")
                if values:
                    epochs = np.arange(1, len(values) + 1)
                    ax.plot(epochs, values, style, color=colour, marker=".", lw=1.5)
        ax.set(title=f"{title} (solid: training, dashed: validation)", xlabel="epoch")
        ax.title.set_fontsize("medium")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    _legend(figure, runs, palette)
    return to_svg(figure, "curves")


def per_class_scores(runs: list[Run], palette: list[str]) -> str | None:
    """Recall and F1 of each class, one marker per run, side by side within a class."""
    scores = [(per_class(run), colour) for run, colour in zip(runs, palette, strict=True)]
    if not any(score for score, _ in scores):
        return None
    figure = Figure(figsize=(10, 3.6 + 0.25 * (len(runs) // 5)), layout="constrained")
    width = 0.8 / len(runs)
    for ax, name in zip(figure.subplots(1, 2), ("recall", "f1"), strict=True):
        for i, (score, colour) in enumerate(scores):
            if score:
                x = np.arange(NUM_CLASSES) - 0.4 + width * (i + 0.5)
                ax.plot(x, score[name], "o", color=colour, ms=4)
        ax.set(title=f"{'Recall' if name == 'recall' else 'F1'} per class", xlabel="digit")
        ax.title.set_fontsize("medium")
        ax.set_xticks(range(NUM_CLASSES))
        for edge in np.arange(NUM_CLASSES - 1) + 0.5:
            ax.axvline(edge, color="0.9", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
    _legend(figure, runs, palette)
    return to_svg(figure, "per-class")


def sweep(runs: list[Run], params: list[str], metrics: list[str], palette: list[str]) -> str:
    """Each metric (rows) against each param that varies (columns), one dot per run."""
    names = short_names(metrics)
    rows, cols = len(metrics), len(params)
    figure = Figure(figsize=(2.6 * cols + 1, 1.7 * rows + 1), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False, sharey="row")
    for col, param in enumerate(params):
        positions, ticks = _positions([run.params.get(param) for run in runs])
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            shown = [
                (x, run.metrics[metric], colour)
                for run, x, colour in zip(runs, positions, palette, strict=True)
                if x is not None and metric in run.metrics
            ]
            if shown:  # one collection per chart: 20 runs draw as fast as one
                xs, ys, colours_shown = zip(*shown, strict=True)
                ax.scatter(xs, ys, c=colours_shown, s=30)
            if ticks:
                ax.set_xticks(range(len(ticks)), ticks, fontsize="small")
            elif _log_scale(positions):
                ax.set_xscale("log")
            elif all(float(x).is_integer() for x in positions if x is not None):
                ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.3)
            ax.margins(x=0.15, y=0.15)
            ax.tick_params(labelsize="small")
            if col == 0:
                ax.set_ylabel(names[metric], fontsize="small")
            if row == 0:
                ax.set_title(param, fontsize="medium")
    _legend(figure, runs, palette)
    return to_svg(figure, "sweep")


def _positions(values: list[Any]) -> tuple[list[float | None], list[str]]:
    """Numbers stay numbers; anything else becomes a category (its ticks returned)."""
    present = [value for value in values if value is not None]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return [None if v is None else float(v) for v in values], []
    ticks = sorted({str(v) for v in present})
    return [None if v is None else float(ticks.index(str(v))) for v in values], ticks


def _log_scale(positions: list[float | None]) -> bool:
    numbers = [x for x in positions if x is not None]
    return bool(numbers) and min(numbers) > 0 and max(numbers) / min(numbers) >= 10

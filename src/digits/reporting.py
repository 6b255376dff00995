"""A human report: Markdown with PNG figures of the curves, confusions and mistakes.

Reads only files (dvclive's TSVs, metrics JSON, predictions CSV, test arrays);
no TensorFlow. Figures use matplotlib's object API, so no GUI backend is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from digits.errors import InputError

CURVE_METRICS = ("loss", "accuracy")
SPLIT_NAMES = {"train": "train", "eval": "validation"}


def read_curves(live_dir: str | Path) -> pd.DataFrame:
    """dvclive's per-epoch metrics as rows of (split, metric, step, value)."""
    frames = []
    for split in SPLIT_NAMES:
        for metric in CURVE_METRICS:
            path = Path(live_dir) / "plots" / "metrics" / split / f"{metric}.tsv"
            if not path.is_file():
                raise InputError(f"{path}: training curve not found; re-run the train stage")
            table = pd.read_csv(path, sep="\t")
            frames.append(
                pd.DataFrame(
                    {
                        "split": SPLIT_NAMES[split],
                        "metric": metric,
                        "step": table["step"],
                        "value": table[metric],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _save(figure: Figure, path: Path, dpi: int) -> None:
    figure.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})


def plot_curves(curves: pd.DataFrame, path: Path, dpi: int) -> None:
    figure = Figure(figsize=(9, 3.5))
    for axes, metric in zip(figure.subplots(1, len(CURVE_METRICS)), CURVE_METRICS, strict=True):
        for split, rows in curves[curves["metric"] == metric].groupby("split", sort=False):
            axes.plot(rows["step"] + 1, rows["value"], marker="o", label=split)
        axes.set(title=metric, xlabel="epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    _save(figure, path, dpi)


def plot_confusion(confusion: np.ndarray, path: Path, dpi: int) -> None:
    figure = Figure(figsize=(6, 5.2))
    axes = figure.subplots()
    image = axes.imshow(np.log1p(confusion), cmap="Blues")
    classes = range(len(confusion))
    axes.set(
        xticks=classes,
        yticks=classes,
        xlabel="predicted",
        ylabel="actual",
        title="confusion matrix (test set)",
    )
    brightest = np.log1p(confusion).max()
    for row in classes:
        for column in classes:
            if confusion[row, column]:
                dark = np.log1p(confusion[row, column]) > brightest / 2
                axes.text(
                    column,
                    row,
                    str(confusion[row, column]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
    figure.colorbar(image, ax=axes, label="log(1 + count)")
    _save(figure, path, dpi)


def plot_misclassified(
    images: np.ndarray, actual: np.ndarray, predicted: np.ndarray, path: Path, dpi: int
) -> None:
    columns = min(len(images), 9)
    rows = max(1, -(-len(images) // columns))
    figure = Figure(figsize=(columns * 1.1, rows * 1.45))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for axes in grid:
        axes.axis("off")
    for axes, image, true, guess in zip(grid, images, actual, predicted, strict=False):
        axes.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        axes.set_title(f"true {true}\npred {guess}", fontsize=8)
    _save(figure, path, dpi)


def render_markdown(
    metrics: dict, data_summary: dict, params: dict, mistakes: int, shown: int
) -> str:
    """The report's text; the figures sit beside it in the same folder."""
    lines = [
        "# Digit classifier report",
        "",
        f"**Test accuracy {metrics['accuracy']:.2%}**, test loss {metrics['loss']:.4f}, "
        f"macro F1 {metrics['macro']['f1']:.4f} on {metrics['samples']:,} test images "
        f"({mistakes} misclassified).",
        "",
        "Data: "
        + ", ".join(f"{split} {summary['samples']:,}" for split, summary in data_summary.items())
        + " images.",
        "",
        "## Training curves",
        "",
        "![training curves](training_curves.png)",
        "",
        "## Confusion matrix",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | support |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, scores in metrics["per_class"].items():
        lines.append(
            f"| {label} | {scores['precision']:.4f} | {scores['recall']:.4f} "
            f"| {scores['f1']:.4f} | {scores['support']} |"
        )
    lines += ["", f"## Misclassified test digits (first {shown} of {mistakes})", ""]
    lines += ["![misclassified digits](misclassified.png)" if shown else "None shown.", ""]
    lines += ["## Params", ""]
    for section, values in params.items():
        lines.append(f"- **{section}**: " + ", ".join(f"`{k}={v}`" for k, v in _flatten(values)))
    return "\n".join(lines) + "\n"


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested params as (dotted key, value) pairs, lists shown as YAML writes them."""
    pairs: list[tuple[str, object]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            pairs += _flatten(value, f"{prefix}{key}.")
        else:
            pairs.append((f"{prefix}{key}", list(value) if isinstance(value, tuple) else value))
    return pairs

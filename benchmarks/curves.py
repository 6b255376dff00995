"""The training curves of the recipe benchmark as a figure (README, "The accuracy frontier").

    python benchmarks/curves.py benchmarks/results-recipe-cpu.json benchmarks/results-recipe-cpu.png

Test accuracy after each epoch, one line per seed, for the default recipe and the
high-accuracy one, against cumulative training time. The test set is only looked at here:
every run trains for its fixed number of epochs and keeps its last weights.
`benchmarks/run.py --recipe-only` draws it beside its JSON.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

from matplotlib.figure import Figure

from run import machine_summary, precision_summary  # benchmarks/ is the script's folder

STYLES = ("solid", "dashed", "dotted")  # one per seed
RECIPES = (("accuracy", "default", "tab:blue"), ("high_accuracy", "high-accuracy", "tab:red"))


def draw(results: dict, path: Path) -> None:
    """Write the figure of `results` (run.py's JSON) to `path`, atomically."""
    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    axes = figure.subplots()
    for key, label, colour in RECIPES:
        recipe = results[key]
        runs = zip(
            recipe["seeds"], recipe["curves"], recipe["epoch_s"], recipe["final"], strict=True
        )
        for (seed, curve, seconds, final), style in zip(runs, itertools.cycle(STYLES)):
            elapsed = list(itertools.accumulate(seconds))
            axes.plot(
                elapsed,
                [100 * accuracy for accuracy in curve],
                marker="o",
                markersize=3,
                color=colour,
                linestyle=style,
                label=f"{label}, seed {seed}: {100 * final:.2f} %",
            )
    axes.axhline(99.6, color="grey", linestyle="--", linewidth=1)
    axes.text(
        0.01,
        99.61,
        "99.6 %, the high-accuracy recipe's mark",
        color="grey",
        fontsize=8,
        transform=axes.get_yaxis_transform(),  # x in axes fractions, y in data
    )
    axes.set_ylim(98.8, 99.8)
    axes.set_xlabel("training time, s (cumulative, epoch by epoch)")
    axes.set_ylabel("test accuracy, %")
    title = f"{machine_summary(results['machine'])}, train.precision {precision_summary(results)}"
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    partial = path.with_name(f".{path.name}.partial")
    figure.savefig(partial, format=path.suffix.lstrip("."), dpi=110)
    os.replace(partial, path)


if __name__ == "__main__":
    import json

    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} RESULTS.json FIGURE.png")
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))

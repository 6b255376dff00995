"""The README's benchmark tables show what the benchmark's JSON files in Git hold.

Each figure in a row's cell must be one of that run's values, to the decimals the README
prints, and each bold figure (what the aim is judged by) the one it stands for: a table
left behind when a JSON file is replaced, or the reverse, fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
BENCHMARKS = REPO_ROOT / "benchmarks"
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def results(name: str) -> dict:
    return json.loads((BENCHMARKS / name).read_text())


def table_rows(heading: str) -> list[list[str]]:
    """The cells of each row of the first table under `heading` (its header rows left out)."""
    section = README.split(heading, 1)[1]
    lines = section[section.index("\n|") + 1 :].splitlines()
    rows = lines[: next(index for index, line in enumerate(lines) if not line.startswith("|"))]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def shown(text: str) -> list[tuple[float, int]]:
    """Each number in `text`, with the decimals it is printed to."""
    found = []
    for written in NUMBER.findall(text):
        plain = written.replace(",", "")
        found.append((float(plain), len(plain.partition(".")[2])))
    return found


def agrees(number: tuple[float, int], value: float) -> bool:
    printed, decimals = number
    return abs(printed - value) <= 0.5 * 10**-decimals + 1e-9


def check_cell(cell: str, values: list[float], bold: float | None, where: str) -> None:
    for number in shown(cell):
        assert any(agrees(number, value) for value in values), (
            f"{where}: {number[0]} in {cell!r} is none of the JSON's {values}"
        )
    if bold is not None:
        [emphasized] = re.findall(r"\*\*(.*?)\*\*", cell)
        assert agrees(shown(emphasized)[-1], bold), f"{where}: {emphasized} is not {bold}"


def percent(fractions: list[float]) -> list[float]:
    return [100 * fraction for fraction in fractions]


# The headline table of Performance: each row's values, and the one its bold figure shows.
HEADLINE: dict[str, Callable[[dict], tuple[list[float], float | None]]] = {
    "cold `dvc repro`": lambda run: (
        [
            run["cold_repro"]["total_s"],
            run["time_to_target"]["reference_s"],
            run["targets"]["cold_repro_over_reference"],
        ],
        run["targets"]["cold_repro_over_reference"],
    ),
    "training time to 99.2 %": lambda run: (
        [
            run["time_to_target"]["default_s"],
            *run["time_to_target"]["default_per_seed_s"],
            run["time_to_target"]["reference_s"],
            run["time_to_target"]["reference_epochs"],
            run["time_to_target"]["speedup"],
        ],
        run["time_to_target"]["speedup"],
    ),
    "the matrix multiply meanwhile": lambda run: (
        [
            run["time_to_target"]["default_matmul_gflops"],
            run["time_to_target"]["reference_matmul_gflops"],
        ],
        None,
    ),
    "training throughput": lambda run: (
        [
            run["throughput"]["samples_per_s"],
            run["throughput"]["train_mflop_per_sample"],
            run["throughput"]["gflops"],
            *percent([run["throughput"]["share_of_matmul_around_epochs"]]),
            *percent([run["throughput"]["share_of_matmul"]]),
            run["throughput"]["matmul_gflops"],
        ],
        100 * run["throughput"]["share_of_matmul_around_epochs"],
    ),
    "no-op `dvc repro`": lambda run: (
        [
            run["noop_repro"]["ours_median_s"],
            run["noop_repro"]["floor_median_s"],
            run["noop_repro"]["ratio"],
        ],
        run["noop_repro"]["ratio"],
    ),
    "test accuracy over 3 seeds": lambda run: (
        percent([run["accuracy"]["mean"], run["accuracy"]["min"], *run["accuracy"]["final"]]),
        None,
    ),
    "peak memory of any stage": lambda run: (
        [mib / 1024 for mib in run["cold_repro"]["peak_rss_mib"].values()],
        None,
    ),
}
# Its columns after the figure and the aim, and the JSON file behind each.
HEADLINE_COLUMNS = {
    "native (AVX-512)": "results-cpu.json",
    "oneDNN capped at AVX2": "results-cpu-avx2.json",
}


@pytest.mark.parametrize("figure", list(HEADLINE))
def test_the_performance_table_shows_the_benchmark_runs_in_git(figure):
    rows = table_rows("## Performance")
    [row] = [row for row in rows if row[0].startswith(figure)]
    for cell, name in zip(row[2:], HEADLINE_COLUMNS.values(), strict=True):
        values, bold = HEADLINE[figure](results(name))
        check_cell(cell, values, bold, f"{figure} ({name})")


# The recipe table of the accuracy frontier: (recipe, oneDNN) -> the JSON file behind it.
RECIPES = {
    ("default (4 epochs, strided first block)", "native"): "results-recipe-cpu.json",
    ("high-accuracy (16 epochs)", "native"): "results-recipe-cpu.json",
    ("default (4 epochs, strided first block)", "AVX2"): "results-recipe-cpu-avx2.json",
    ("high-accuracy (16 epochs)", "AVX2"): "results-recipe-cpu-avx2.json",
    (
        "default (4 epochs, strided first block), `precision: auto`",
        "native: bfloat16",
    ): "results-recipe-cpu-bf16-amd.json",
    ("high-accuracy (16 epochs), `precision: auto`", "native: bfloat16"): (
        "results-recipe-cpu-bf16-amd.json"
    ),
}


@pytest.mark.parametrize(("recipe", "isa"), list(RECIPES))
def test_the_recipe_table_shows_the_recipe_benchmark_runs_in_git(recipe, isa):
    rows = table_rows("### The accuracy frontier")
    [row] = [row for row in rows if row[:2] == [recipe, isa]]
    run = results(RECIPES[recipe, isa])
    figures = run["high_accuracy" if recipe.startswith("high") else "accuracy"]
    validation, tests, mean_min, training, ratio = row[2:]
    where = f"{recipe}, {isa}"
    check_cell(validation, percent([figures["validation_mean"]]), None, where)
    check_cell(tests, percent(figures["final"]), None, where)
    check_cell(mean_min, percent([figures["mean"], figures["min"]]), None, where)
    check_cell(training, [min(figures["training_s"]), max(figures["training_s"])], None, where)
    if recipe.startswith("high"):
        ratios = [
            figures["training_ratio_to_default"],
            figures["training_ratio_from_median_epochs"],
        ]
        check_cell(ratio, ratios, figures["training_ratio_to_default"], where)
    else:
        assert ratio == "1"

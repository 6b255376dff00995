"""Benchmark the pipeline on this machine, in one run, and write the figures as JSON.

    python benchmarks/run.py            # the full benchmark (about 10 minutes on 2 cores)
    python benchmarks/run.py --quick    # a smoke test on a slice of the data (about 1 minute)

Measures, side by side in one process tree so that a busy machine slows both alike:
1. a cold `dvc repro` of the default pipeline in a temporary copy: wall time and peak
   memory (RSS) per stage, and in total;
2. a no-op `dvc repro` against DVC's floor (a 5-stage pipeline whose stages only copy a
   small file), median of several runs, and their ratio;
3. time to reach the target test accuracy (99.2%): the default recipe against the keras-io
   reference recipe (benchmarks/reference.py), on the same normalized data;
4. training throughput of the default model: samples/s and GFLOP/s, as a share of the
   machine's nominal FP32 peak and of a float32 matrix multiply measured here, and where
   an epoch's time goes, layer by layer and kernel by kernel (benchmarks/epoch_profile.py);
5. final test accuracy of the default recipe over several seeds (mean, min);
6. sweeps through DVC's queue: a 4-experiment sweep with one job and with two, and what an
   experiment costs beyond its work (benchmarks/sweep.py);
7. `digits-compare` on 20 runs: wall time (median of 3), time per phase, and the size of
   the page, the Markdown and the JSON (benchmarks/compare.py).
Load averages are recorded beside the figures. A benchmark, not a test: nothing fails
on a slow machine.

`--isa avx2` caps oneDNN, which runs TensorFlow's convolutions and matrix multiplies, at
AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, for this process and every stage it starts): on a CPU with
AVX-512 it shows what a CPU with AVX2 only would get, beside the native figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from compare import comparison  # benchmarks/ is the script's folder
from digits import notices
from repro import cold_repro, commit, environment, make_project, noop_repro
from sweep import sweeps

# Quiet TensorFlow's C++ logs (as the package does) before recipes.py imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_ACCURACY = 0.992
QUICK_PARAMS = {
    "normalize": {"max_train_samples": 3000, "max_test_samples": 1000},
    "train": {"epochs": 1},
}


def main() -> None:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument(
        "--quick", action="store_true", help="a slice of the data, one epoch, one seed"
    )
    cli.add_argument("--out", default="benchmark.json", help="where to write the JSON figures")
    cli.add_argument(
        "--sweeps-only", action="store_true", help="only section 6, after a cold repro (1/5)"
    )
    cli.add_argument(
        "--compare-only", action="store_true", help="only section 7, on the normalized data"
    )
    cli.add_argument(
        "--recipe-only",
        action="store_true",
        help="only sections 5 and 8: the default and the high-accuracy recipe over the seeds",
    )
    cli.add_argument(
        "--try",
        dest="tries",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --recipe-only: a change to the high-accuracy recipe's train params, as "
        "dvc exp run -S takes it without 'train.' (e.g. augment.elastic=34); repeatable",
    )
    cli.add_argument(
        "--speed-only", action="store_true", help="only sections 1 to 5 (no sweeps, no compare)"
    )
    cli.add_argument(
        "--isa",
        choices=("native", "avx2"),
        default="native",
        help="native, or cap oneDNN at AVX2 to stand in for a CPU without AVX-512",
    )
    cli.add_argument(
        "--precision",
        choices=("float32", "mixed_bfloat16", "auto"),
        default="float32",
        help="train.precision of our recipe (the reference stays as written, float32)",
    )
    cli.add_argument("--seeds", type=int, default=3, help="seeds of the default recipe (3)")
    cli.add_argument("--repeats", type=int, default=5, help="runs of each no-op repro (5)")
    cli.add_argument("--ghz", type=float, default=2.45, help="clock for the nominal peak (2.45)")
    cli.add_argument("--flops-per-cycle", type=int, default=32, help="per core: AVX2 FMA, FP32")
    args = cli.parse_args()
    if args.isa == "avx2":  # before TensorFlow starts, here and in the stages (inherited)
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    seeds = 1 if args.quick else args.seeds
    results: dict = {
        "machine": machine(args),
        "quick": args.quick,
        "precision": args.precision,
        "load": {"start": load()},
    }
    if args.precision == "auto":  # what it becomes on this machine, with this --isa
        with notices.held():  # TensorFlow's import notices (digits.notices)
            from digits.precision import training_precision

        results["precision_applied"] = training_precision("auto")
    with tempfile.TemporaryDirectory(prefix="digits-benchmark-") as scratch:
        changes = {section: dict(values) for section, values in QUICK_PARAMS.items()}
        changes = changes if args.quick else {}
        if args.precision != "float32":
            changes.setdefault("train", {})["precision"] = args.precision
        project = make_project(Path(scratch) / "project", changes)
        if args.compare_only:  # the committed results of the last full run, and their test set
            say("7/7 digits-compare on 20 runs")
            normalize(project)
            results["compare"] = comparison(project, 20, args.repeats)
            finish(results, args.out, lambda: json.dumps(results["compare"], indent=2))
            return
        if args.recipe_only:  # the normalized data of the project, both recipes, same seeds
            normalize(project)
            recipes_run = recipes(project, seeds, say, high_accuracy(args.tries))
            results["accuracy"], results["high_accuracy"] = recipes_run
            finish(results, args.out, lambda: json.dumps(results["high_accuracy"], indent=2))
            from curves import draw

            figure = Path(args.out).with_suffix(".png")
            draw(results, figure)
            print(f"drew {figure}")
            return
        say("1/7 cold dvc repro of the default pipeline")
        results["cold_repro"] = cold_repro(project)
        commit(project, "the cold run")  # the sweeps' baseline
        if args.sweeps_only:
            say("6/7 sweeps through DVC's queue")
            results["sweeps"] = sweeps(project, 1 if args.quick else 4)
            finish(results, args.out, lambda: json.dumps(results["sweeps"], indent=2))
            return
        say("2/7 no-op dvc repro against DVC's floor")
        results["noop_repro"] = noop_repro(project, Path(scratch) / "floor", args.repeats)
        results["load"]["after_pipeline"] = load()
        say("3/7 time to target: default recipe and keras-io reference")
        from recipes import accuracy_runs, matmul_gflops, reference_run

        data = project / "data" / "normalized"
        runs = accuracy_runs(project / "params.yaml", data, seeds, TARGET_ACCURACY, say)
        reference = reference_run(data, TARGET_ACCURACY, 1 if args.quick else None, say)
        results["time_to_target"] = time_to_target(runs, reference)
        say("4/7 throughput, and where an epoch goes")
        results["throughput"] = throughput(runs, matmul_gflops(), results["machine"])
        from epoch_profile import profile

        results["epoch_profile"] = profile(project / "params.yaml", data)
        say("5/7 accuracy over seeds")
        accuracies = [run["final_accuracy"] for run in runs]
        results["accuracy"] = {
            "seeds": [run["seed"] for run in runs],
            "final": accuracies,
            "mean": statistics.mean(accuracies),
            "min": min(accuracies),
        }
        results["targets"] = targets(results)
        if args.speed_only:
            finish(results, args.out, lambda: table(results))
            return
        say("6/7 sweeps through DVC's queue")
        results["sweeps"] = sweeps(project, 1 if args.quick else 4)
        say("7/7 digits-compare on 20 runs")
        results["compare"] = comparison(project, 5 if args.quick else 20, args.repeats)
    finish(results, args.out, lambda: table(results))


def normalize(project: Path) -> None:
    """The project's normalized data (and its test set in DVC's cache), nothing more."""
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "normalize"],
        cwd=project,
        env=environment(),
        check=True,
        capture_output=True,
    )


def high_accuracy(tries: list[str]) -> dict:
    """The high-accuracy recipe's changes to the train params, with `tries` on top."""
    from recipes import HIGH_ACCURACY, recipe, with_settings

    try:
        changes = with_settings(HIGH_ACCURACY, tries)
    except ValueError as error:
        sys.exit(f"error: --try {error}")
    try:  # refused now, not after the default recipe's runs
        recipe(Path(__file__).resolve().parents[1] / "params.yaml", changes)
    except (TypeError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        found = getattr(error, "errors", lambda: [])()
        reason = f"{found[0]['loc'][0]}: {found[0]['msg']}" if found else str(error)
        sys.exit(f"error: --try {' '.join(tries)}: {reason}")
    return changes


def recipes(project: Path, seeds: int, say, high: dict) -> tuple[dict, dict]:
    """Sections 5 and 8: the default recipe and the high-accuracy one, seed by seed."""
    from recipes import accuracy_runs

    data = project / "data" / "normalized"
    figures = []
    for name, changes in (("default", None), ("high-accuracy", high)):
        say(f"{name} recipe over {seeds} seeds")
        runs = accuracy_runs(project / "params.yaml", data, seeds, 0.996, say, changes)
        accuracies = [run["final_accuracy"] for run in runs]
        figures.append(
            {
                "changes": changes,
                "seeds": [run["seed"] for run in runs],
                "final": accuracies,
                "mean": statistics.mean(accuracies),
                "min": min(accuracies),
                "training_s": [run["training_s"] for run in runs],
                "test_scoring_s": [run["scoring_s"] for run in runs],  # not in training_s
                "curves": [run["curve"] for run in runs],
                # What a recipe is chosen by (never the test set): after each epoch, and
                # of the model as saved.
                "validation_curves": [run["validation_curve"] for run in runs],
                "validation_final": [run["final_validation_accuracy"] for run in runs],
                "validation_mean": statistics.mean(
                    run["final_validation_accuracy"] for run in runs
                ),
                "epoch_s": [run["epoch_s"] for run in runs],
                "others_cpu_s": [run["others_cpu_s"] for run in runs],
            }
        )
    default, high = figures
    high["training_ratio_to_default"] = round(
        statistics.mean(high["training_s"]) / statistics.mean(default["training_s"]), 2
    )
    # The same ratio from each recipe's median epoch times epochs: what it costs when no
    # other process slows some of its epochs (others_cpu_s says which were).
    high["training_ratio_from_median_epochs"] = round(
        median_training(high) / median_training(default), 2
    )
    return default, high


def median_training(recipe: dict) -> float:
    """Training seconds of one run at the recipe's median epoch time."""
    epochs = [seconds for run in recipe["epoch_s"] for seconds in run]
    return statistics.median(epochs) * len(epochs) / len(recipe["epoch_s"])


def finish(results: dict, out: str, summary: Callable[[], str]) -> None:
    """Record the load at the end, write the JSON, print the summary."""
    results["load"]["end"] = load()
    Path(out).write_text(json.dumps(results, indent=2) + "\n")
    print(summary())
    print(f"\nwrote {out}")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine(args: argparse.Namespace) -> dict:
    cores = len(os.sched_getaffinity(0))
    cpuinfo = first_cpu(Path("/proc/cpuinfo").read_text())
    versions = {}
    for package in ("tensorflow", "keras", "dvc", "dvclive", "numpy"):
        try:
            from importlib.metadata import version

            versions[package] = version(package if package != "tensorflow" else "tensorflow-cpu")
        except Exception:
            versions[package] = None
    flags = cpuinfo.get("flags", "").split()
    return {
        "cpu": cpuinfo.get("model name", platform.processor()),
        # Two CPUs of one name can differ (family and model tell AMD's Zen 3 from Zen 4,
        # and the caches differ): a run is compared with another only if these match.
        "cpu_family_model_stepping": [cpuinfo.get(k) for k in ("cpu family", "model", "stepping")],
        "caches_kib": caches(),
        # What TensorFlow's kernels can use: raw speed differs about 2x between these.
        "vector_extensions": sorted(f for f in flags if f.startswith(("avx", "amx", "fma"))),
        "cores": cores,
        "nominal_peak_gflops": cores * args.flops_per_cycle * args.ghz,
        "nominal_peak_basis": f"{cores} cores x {args.flops_per_cycle} FLOP/cycle x {args.ghz} GHz",
        "isa": "AVX2 (oneDNN capped: ONEDNN_MAX_CPU_ISA=AVX2)"
        if os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2"
        else "native",
        "python": platform.python_version(),
        "versions": versions,
    }


def first_cpu(cpuinfo: str) -> dict[str, str]:
    """The fields of the first processor in the text of /proc/cpuinfo."""
    fields = (line.partition(":") for line in cpuinfo.split("\n\n")[0].splitlines())
    return {key.strip(): value.strip() for key, _, value in fields}


def caches(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, int]:
    """The first CPU's caches in KiB by name (L1d, L1i, L2, L3), as Linux lists them."""
    sizes = {}
    for index in sorted(root.glob("index*")):
        try:
            level, kind, size = (
                (index / name).read_text().strip() for name in ("level", "type", "size")
            )
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes[f"L{level}{suffix}"] = int(size.rstrip("K"))
    return sizes


def time_to_target(runs: list[dict], reference: dict) -> dict:
    reached = [run["time_to_target_s"] for run in runs if run["time_to_target_s"] is not None]
    ours = statistics.median(reached) if len(reached) == len(runs) else None
    theirs = reference["time_to_target_s"]
    return {
        "target": TARGET_ACCURACY,
        "default_s": ours,
        "default_per_seed_s": [run["time_to_target_s"] for run in runs],
        "default_epoch_s": [run["epoch_s"] for run in runs],
        # The training process's own CPU seconds in each epoch, beside its seconds.
        "default_epoch_cpu_s": [run["epoch_cpu_s"] for run in runs],
        "reference_s": theirs,
        "reference_epochs": reference["epochs"],
        "reference_curve": reference["curve"],
        "reference_epoch_s": reference["epoch_s"],
        "reference_epoch_cpu_s": reference["epoch_cpu_s"],
        "speedup": round(theirs / ours, 2) if ours and theirs else None,
        # When the reference never reaches the target, its whole run bounds the speed-up.
        "speedup_at_least": round((theirs or reference["total_s"]) / ours, 2) if ours else None,
        "reference_total_s": reference["total_s"],
        "reference_samples_per_s": reference["samples_per_s"],
        # The matrix-multiply rate around each epoch: whether the machine ran as fast
        # while the reference trained as while ours did.
        "default_matmul_gflops": statistics.median(
            rate for run in runs for rate in run["matmul_gflops"]
        ),
        "reference_matmul_gflops": statistics.median(reference["matmul_gflops"]),
        "default_matmul_probes": [run["matmul_gflops"] for run in runs],
        "reference_matmul_probes": reference["matmul_gflops"],
    }


def throughput(runs: list[dict], matmul: float, machine_info: dict) -> dict:
    rate = statistics.median(run["samples_per_s"] for run in runs)
    flops = runs[0]["train_flops_per_sample"]
    achieved = rate * flops / 1e9
    # What a training process's first epoch costs beyond its others: tracing the train
    # and test steps, rewriting their graphs, making oneDNN's kernels for their shapes.
    extra = [
        run["epoch_s"][0] - statistics.median(run["epoch_s"][1:])
        for run in runs
        if len(run["epoch_s"]) > 1
    ]
    return {
        "first_epoch_extra_s": round(statistics.median(extra), 2) if extra else None,
        "samples_per_s": round(rate),
        "train_mflop_per_sample": round(flops / 1e6, 2),
        "gflops": round(achieved, 1),
        "share_of_nominal_peak": round(achieved / machine_info["nominal_peak_gflops"], 3),
        "matmul_gflops": round(matmul, 1),
        "share_of_matmul": round(achieved / matmul, 3),
        # Each epoch against the matrix multiply measured right before and after it (the
        # aim's figure): one rate measured minutes later, as above, moves with the load.
        "share_of_matmul_around_epochs": round(
            statistics.median(shares_around_epochs(run, flops) for run in runs), 3
        ),
    }


def shares_around_epochs(run: dict, flops: int) -> float:
    """Median over `run`'s epochs of its GFLOP/s over the mean of the two matrix-multiply
    rates measured around the epoch."""
    rates = run["matmul_gflops"]
    return statistics.median(
        run["samples"] / seconds * flops / 1e9 / statistics.mean(rates[epoch : epoch + 2])
        for epoch, seconds in enumerate(run["epoch_s"])
    )


def targets(results: dict) -> dict:
    """The ratios the recipe aims at, each measured in this run."""
    cold, reach = results["cold_repro"]["total_s"], results["time_to_target"]
    reference = reach["reference_s"] or reach["reference_total_s"]
    return {
        # At most 1/3: a cold `dvc repro` against the reference's training to the target.
        "cold_repro_over_reference": round(cold / reference, 3),
        "reference_reached_target": reach["reference_s"] is not None,
        # At least 10x: training time to the target, the reference's over ours.
        "time_to_target_speedup": reach["speedup"] or reach["speedup_at_least"],
        "throughput_share_of_matmul": results["throughput"]["share_of_matmul_around_epochs"],
        "noop_over_floor": results["noop_repro"]["ratio"],
    }


def machine_summary(machine_info: dict) -> str:
    """E.g. "Intel(R) Xeon(R) Processor, 2 cores, AVX2+AVX-512+AMX", and ", oneDNN capped
    at AVX2" after it in a run with --isa avx2."""
    extensions = {"avx512f": "AVX-512", "amx_tile": "AMX"}
    vector = ["AVX2"] + [
        name for flag, name in extensions.items() if flag in machine_info["vector_extensions"]
    ]
    capped = ", oneDNN capped at AVX2" if machine_info.get("isa", "native") != "native" else ""
    return f"{machine_info['cpu']}, {machine_info['cores']} cores, {'+'.join(vector)}{capped}"


def precision_summary(results: dict) -> str:
    """E.g. "float32", or "auto (mixed_bfloat16 here)"."""
    requested = results.get("precision", "float32")
    applied = results.get("precision_applied")
    return f"{requested} ({applied} here)" if applied else requested


def table(results: dict) -> str:
    cold, noop = results["cold_repro"], results["noop_repro"]
    target, speed, accuracy = results["time_to_target"], results["throughput"], results["accuracy"]
    rows = [
        ("machine", machine_summary(results["machine"])),
        ("oneDNN instruction set", results["machine"].get("isa", "native")),
        ("train.precision", precision_summary(results)),
    ]
    rows += [("load average (start, end)", f"{results['load']['start']} {results['load']['end']}")]
    rows += [("cold dvc repro, total", f"{cold['total_s']:.1f} s")]
    for name, seconds in cold["stages_s"].items():
        peak = cold["peak_rss_mib"].get(name, 0)
        rows.append((f"  {name}", f"{seconds:.1f} s, peak {peak} MiB"))
    rows += [
        ("no-op dvc repro (median)", f"{noop['ours_median_s']:.2f} s"),
        ("DVC floor, 5 trivial stages", f"{noop['floor_median_s']:.2f} s (ratio {noop['ratio']})"),
        (f"time to {target['target']:.1%}: default", _seconds(target["default_s"])),
        (
            "  keras-io reference",
            _seconds(target["reference_s"])
            + f" ({target['reference_epochs']} epochs, best {max(target['reference_curve']):.2%})",
        ),
        (
            "  speed-up",
            f"{target['speedup']}x"
            if target["speedup"]
            else f"at least {target['speedup_at_least']}x"
            if target["speedup_at_least"]
            else "n/a",
        ),
        (
            "  matmul meanwhile",
            f"{target['default_matmul_gflops']:.1f} GFLOP/s (ours), "
            f"{target['reference_matmul_gflops']:.1f} (reference)",
        ),
        ("training throughput", f"{speed['samples_per_s']} samples/s, {speed['gflops']} GFLOP/s"),
        ("  share of nominal peak", f"{speed['share_of_nominal_peak']:.0%}"),
        (
            "  share of measured matmul",
            f"{speed['share_of_matmul']:.0%} ({speed['matmul_gflops']} GFLOP/s)",
        ),
        ("  around each epoch", f"{speed['share_of_matmul_around_epochs']:.0%}"),
        (
            "test accuracy over seeds",
            f"mean {accuracy['mean']:.2%}, min {accuracy['min']:.2%} "
            f"({', '.join(f'{a:.2%}' for a in accuracy['final'])})",
        ),
    ]
    epoch = results["epoch_profile"]
    rows += [
        ("one epoch (fit)", f"{epoch['fit_epoch_s']} s"),
        ("  validation pass", f"{epoch['validation_pass_s']} s"),
        ("  train steps", f"{epoch['train_steps_s']} s"),
        ("  same, Keras' batch norm", f"{epoch['train_steps_keras_batch_norm_s']} s"),
    ]
    rows += [
        (f"    {kind}", f"{share:.0%}") for kind, share in epoch["layers_share_of_steps"].items()
    ]
    rows += [("  kernels, by the profiler", f"{epoch['kernels_ms_per_step']} ms a step")]
    rows += [
        (f"    {kind}", f"{share:.0%}") for kind, share in epoch["kernels_share_of_steps"].items()
    ]
    rows += [("  input pipeline", f"{epoch['input_pipeline_s']} s")]
    rows += [("  first epoch's extra (tracing)", f"{speed['first_epoch_extra_s']} s")]
    goal = results["targets"]
    rows += [
        ("cold repro / reference to target", f"{goal['cold_repro_over_reference']} (aim <= 1/3)"),
        ("time-to-target speed-up", f"{goal['time_to_target_speedup']}x (aim >= 10x)"),
        ("share of matmul", f"{goal['throughput_share_of_matmul']:.0%} (aim >= 50%)"),
        ("no-op over floor", f"{goal['noop_over_floor']} (aim <= 1.3)"),
    ]
    if "sweeps" in results:
        rows += sweep_rows(results["sweeps"])
    if "compare" in results:
        compared = results["compare"]
        rows.append(
            (
                f"digits-compare, {compared['runs']} runs",
                f"{compared['median_wall_s']} s, page {compared['html_bytes'] / 1e6:.2f} MB",
            )
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def sweep_rows(sweeps: dict) -> list[tuple[str, str]]:
    size, walls, ratios = (
        sweeps["experiments_per_sweep"],
        sweeps["wall_s"],
        sweeps["ratio_to_jobs1"],
    )
    rows = [
        (f"sweep of {size}, {name.replace('_', ' ')}", f"{walls[name]:.1f} s ({ratios[name]}x)")
        for name in walls
    ]
    cost = sweeps["per_experiment_jobs1"]
    rows += [
        ("  per experiment (1 job)", f"{cost['wall_s']} s, of which DVC {cost['dvc_s']} s"),
        ("  stage start-up", f"{cost['stage_startup_total_s']} s {cost['stage_startup_s']}"),
        ("  model bytes depend on threads", str(sweeps["model_bytes_depend_on_threads"]["differ"])),
        ("  workers killed after `dvc queue stop`", str(sweeps.get("workers_left", "-"))),
    ]
    return rows


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "not reached"


if __name__ == "__main__":
    main()

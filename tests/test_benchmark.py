"""The benchmark script still runs end to end (its --quick smoke mode) and reports every
figure; the recipe benchmark's figure shows each seed's curve."""

import json
import os
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, run


@pytest.mark.pipeline
def test_quick_benchmark_reports_every_section(tmp_path):
    out = tmp_path / "benchmark.json"
    command = [sys.executable, "benchmarks/run.py", "--quick", "--repeats", "1", "--out", str(out)]
    result = run(command, REPO_ROOT)
    figures = json.loads(out.read_text())
    cold = figures["cold_repro"]
    assert set(cold["stages_s"]) == {"download", "normalize", "train", "evaluate", "report"}
    assert set(cold["peak_rss_mib"]) == set(cold["stages_s"])
    assert 0 < sum(cold["stages_s"].values()) <= cold["total_s"]
    assert figures["noop_repro"]["ratio"] > 0
    assert figures["throughput"]["samples_per_s"] > 0 and figures["throughput"]["matmul_gflops"] > 0
    speed, target = figures["throughput"], figures["time_to_target"]
    around = speed["gflops"] / speed["share_of_matmul_around_epochs"]  # mean rate around it
    # one seed, one epoch: the mean of the two probes around it, as the median of them
    assert around == pytest.approx(target["default_matmul_gflops"], rel=0.02)
    assert target["reference_matmul_gflops"] > 0
    # the process's own CPU seconds in each epoch, each no more than its cores could give
    for seconds, cpu in (
        (target["default_epoch_s"][0], target["default_epoch_cpu_s"][0]),
        (target["reference_epoch_s"], target["reference_epoch_cpu_s"]),
    ):
        assert len(cpu) == len(seconds)
        assert all(0 < c <= s * os.cpu_count() + 0.1 for s, c in zip(seconds, cpu, strict=True))
    assert "around each epoch" in result.stdout and "matmul meanwhile" in result.stdout
    assert len(figures["accuracy"]["final"]) == 1 and 0 <= figures["accuracy"]["mean"] <= 1
    assert len(figures["time_to_target"]["reference_curve"]) == 1
    sweeps = figures["sweeps"]
    assert set(sweeps["wall_s"]) == {
        "jobs1_default_threads",
        "jobs2_default_threads",
        "jobs2_threads1",
    }
    assert all(seconds > 0 for seconds in sweeps["wall_s"].values())
    assert sweeps["ratio_to_jobs1"]["jobs1_default_threads"] == 1
    cost = sweeps["per_experiment_jobs1"]
    assert 0 < cost["dvc_s"] < cost["wall_s"] and set(cost["stage_startup_s"]) == {
        "train",
        "evaluate",
        "report",
    }
    threads = sweeps["model_bytes_depend_on_threads"]
    assert threads["md5_threads1"] and threads["md5_default"]
    assert sweeps["workers_left"] in range(3)  # stopped (or killed), so the scratch can go
    compared = figures["compare"]
    assert compared["runs"] == 5 and compared["test_digits"] == 1000
    assert compared["median_wall_s"] > 0 and compared["phases_s"]["read_runs_from_dvc"] > 0
    assert 0 < compared["html_parts_bytes"]["svg_charts"] < compared["html_bytes"]
    assert figures["machine"]["vector_extensions"] and figures["machine"]["isa"] == "native"
    epoch = figures["epoch_profile"]
    assert {"convolutions", "max-pooling", "batch normalization"} <= set(epoch["layers_alone_s"])
    assert sum(epoch["layers_share_of_steps"].values()) == pytest.approx(1, abs=0.01)
    assert epoch["train_steps_s"] > 0 and epoch["validation_pass_s"] > 0
    assert epoch["fit_epoch_s"] > 0 and epoch["input_pipeline_s"] is not None
    kernels = epoch["kernels_share_of_steps"]
    assert {"convolutions", "batch normalization", "optimizer"} <= set(kernels)
    assert sum(kernels.values()) == pytest.approx(1, abs=0.01) and epoch["kernels_ms_per_step"] > 0
    assert kernels["convolutions"] > kernels.get("other", 0)
    assert set(figures["targets"]) == {
        "cold_repro_over_reference",
        "reference_reached_target",
        "time_to_target_speedup",
        "throughput_share_of_matmul",
        "noop_over_floor",
    }
    assert "share of matmul" in result.stdout and "batch normalization" in result.stdout
    assert "kernels, by the profiler" in result.stdout
    assert "cold dvc repro, total" in result.stdout
    assert "sweep of 1, jobs2 threads1" in result.stdout
    assert "digits-compare, 5 runs" in result.stdout


def test_the_recipe_figure_draws_a_curve_per_seed_and_the_mark(tmp_path, monkeypatch):
    import matplotlib.image

    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from curves import draw

    machine = {"cpu": "Some CPU", "cores": 2, "vector_extensions": ["avx2", "avx512f"]}
    results = {"machine": machine}
    for key, final, epochs in (("accuracy", 0.992, 4), ("high_accuracy", 0.9965, 12)):
        curves = [list(np.linspace(0.985, final, epochs)) for _ in range(2)]
        results[key] = {
            "seeds": [0, 1],
            "final": [final, final],
            "curves": curves,
            "epoch_s": [[10.0] * epochs, [11.0] * epochs],
        }
    path = tmp_path / "curves.png"
    draw(results, path)
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.shape[:2] == (462, 825)  # 7.5 x 4.2 inches at 110 dpi
    assert [path.name] == [child.name for child in tmp_path.iterdir()]  # no partial file left

    def share(colour: str) -> float:
        rgb = np.array(matplotlib.colors.to_rgb(colour))
        return float(np.mean(np.abs(pixels - rgb).sum(axis=-1) < 0.15))

    assert share("tab:blue") > 0.001 and share("tab:red") > 0.001  # both recipes' lines
    assert share("tab:green") < 0.0005  # nothing else


def test_try_changes_the_high_accuracy_recipe_and_refuses_a_bad_key_at_once(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from recipes import HIGH_ACCURACY
    from run import high_accuracy

    changes = high_accuracy(["augment.elastic=34", "epochs=15"])
    assert changes["augment"] == {**HIGH_ACCURACY["augment"], "elastic": 34}
    assert changes["epochs"] == 15 and HIGH_ACCURACY["epochs"] == 16  # a copy
    for bad, message in (
        ("augment.elstic=34", "error: --try augment.elstic=34: elstic: Unexpected keyword"),
        ("augment.elastic=-3", "elastic: Input should be greater than or equal to 0"),
        ("epochs", "error: --try epochs: write KEY=VALUE, e.g. augment.elastic=34"),
    ):
        with pytest.raises(SystemExit) as stop:
            high_accuracy([bad])
        assert message in str(stop.value)


def test_the_kernel_profile_tells_each_op_by_its_layer(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from epoch_profile import kernel_kind

    kinds = {
        "conv_1": "convolutions",
        "conv_2": "convolutions",
        "norm_1": "batch normalization",
        "dense": "dense layers",
        "dense_norm": "batch normalization",
        "dropout": "dropout",
    }
    ops = {
        "convnet_1/conv_1_1/convolution": "convolutions",
        "gradient_tape/convnet_1/conv_2_1/convolution/Conv2DBackpropInput": "convolutions",
        "convnet/norm_1/FusedBatchNormV3": "batch normalization",
        "gradient_tape/convnet_1/dense_norm_1/FusedBatchNormGradV3": "batch normalization",
        "convnet_1/dense_1/MatMul": "dense layers",
        "convnet_1/dropout_1/stateless_dropout/GreaterEqual": "dropout",
        "adam/Sub_27": "optimizer",
        "compile_loss/categorical_crossentropy/Sum": "other",
    }
    assert {op: kernel_kind(op, kinds, "adam") for op in ops} == ops


def test_a_run_capped_at_avx2_says_so_beside_the_machine(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from run import machine_summary

    machine = {"cpu": "Some CPU", "cores": 2, "vector_extensions": ["avx2", "avx512f", "amx_tile"]}
    assert machine_summary(machine) == "Some CPU, 2 cores, AVX2+AVX-512+AMX"
    capped = {**machine, "isa": "AVX2 (oneDNN capped: ONEDNN_MAX_CPU_ISA=AVX2)"}
    assert machine_summary(capped) == "Some CPU, 2 cores, AVX2+AVX-512+AMX, oneDNN capped at AVX2"


def test_the_machine_is_named_by_its_first_cpus_family_model_and_caches(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from run import caches, first_cpu

    cpuinfo = (
        "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n\n"
        "processor\t: 1\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
    )
    assert first_cpu(cpuinfo) == {
        "processor": "0",
        "cpu family": "25",
        "model": "17",
        "model name": "AMD EPYC",
    }
    for number, (level, kind, size) in enumerate(
        [
            ("1", "Data", "48K"),
            ("1", "Instruction", "32K"),
            ("2", "Unified", "2048K"),
            ("3", "Unified", "32768K"),
        ]
    ):
        index = tmp_path / f"index{number}"
        index.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (index / name).write_text(value + "\n")
    (tmp_path / "index4").mkdir()  # unreadable: left out
    assert caches(tmp_path) == {"L1d": 48, "L1i": 32, "L2": 2048, "L3": 32768}


def test_the_first_epochs_extra_cost_is_the_median_over_seeds(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from run import throughput

    def seed(epoch_s: list[float]) -> dict:
        return {
            "samples": 100,
            "samples_per_s": 100.0,
            "train_flops_per_sample": 1e6,
            "epoch_s": epoch_s,
            "matmul_gflops": [1.0] * (len(epoch_s) + 1),
        }

    machine = {"nominal_peak_gflops": 1.0}
    runs = [seed([3.0, 1.0, 1.2]), seed([2.5, 1.1, 1.0]), seed([9.0, 1.0, 1.0])]
    assert throughput(runs, 1.0, machine)["first_epoch_extra_s"] == 1.9  # 3.0 - 1.1
    assert throughput([seed([3.0])], 1.0, machine)["first_epoch_extra_s"] is None


def test_throughput_compares_each_epoch_with_the_matmul_rate_around_it(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from run import throughput

    # 1,000 samples of 1 MFLOP: 1 GFLOP an epoch, so 1, 0.5 and 2 GFLOP/s; probes of 2
    # before, then 1, 1 and 4 GFLOP/s after each epoch: around them 1.5, 1 and 2.5.
    run = {
        "samples": 1000,
        "samples_per_s": 1000.0,
        "train_flops_per_sample": 1e6,
        "epoch_s": [1.0, 2.0, 0.5],
        "matmul_gflops": [2.0, 1.0, 1.0, 4.0],
    }
    speed = throughput([run], 4.0, {"nominal_peak_gflops": 8.0})
    assert speed["share_of_matmul_around_epochs"] == 0.667  # median of 1/1.5, 0.5/1, 2/2.5
    assert speed["share_of_matmul"] == 0.25  # 1 GFLOP/s at the median epoch, against 4

"""The benchmark script still runs end to end (its --quick smoke mode) and reports every figure."""

import json
import sys

import pytest

from conftest import REPO_ROOT, run

pytestmark = pytest.mark.pipeline


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
    assert len(figures["accuracy"]["final"]) == 1 and 0 <= figures["accuracy"]["mean"] <= 1
    assert len(figures["time_to_target"]["reference_curve"]) == 1
    assert "cold dvc repro, total" in result.stdout

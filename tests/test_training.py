"""Training on tiny arrays: the learning-rate schedule, dvclive's logs, bad batch sizes."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, run
from digits import training
from digits.errors import InputError
from digits.params import load_params

TRAIN = load_params(REPO_ROOT / "params.yaml").train
TINY = dataclasses.replace(TRAIN, architecture="mlp", epochs=2, batch_size=16)


def data(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((count, 28, 28), dtype=np.float32), np.arange(count, dtype=np.uint8) % 10


def test_cosine_schedule_warms_up_then_decays_to_zero():
    config = dataclasses.replace(
        TRAIN, learning_rate=0.01, lr_schedule="cosine", warmup_fraction=0.1
    )
    schedule = training.learning_rate(config, steps=100)
    assert float(schedule(0)) == 0.0
    assert float(schedule(10)) == pytest.approx(0.01)
    assert float(schedule(55)) == pytest.approx(0.005, rel=1e-3)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)
    constant = dataclasses.replace(config, lr_schedule="constant")
    assert training.learning_rate(constant, steps=100) == 0.01


def test_training_logs_every_epoch_with_dvclive(tmp_path):
    logger = training.live_logger(tmp_path / "live")
    model = training.train(TINY, data(64), data(20, seed=1), 10, [logger], verbose=0)
    assert model.name == "mlp"
    for split in ("train", "eval"):
        for metric in ("loss", "accuracy"):
            rows = (tmp_path / "live/plots/metrics" / split / f"{metric}.tsv").read_text().split()
            assert rows[:2] == ["step", metric] and len(rows) == 2 + 2 * TINY.epochs
    assert not (tmp_path / "live" / "dvc.yaml").exists()


def test_a_batch_larger_than_the_training_set_is_refused():
    config = dataclasses.replace(TINY, batch_size=65)
    with pytest.raises(InputError, match="train.batch_size=65 is larger than the training set"):
        training.train(config, data(64), data(20), 10, verbose=0)


def test_threads_set_tensorflows_pools_before_it_starts():
    """In a new process: train.threads sets both pools; once TensorFlow ran, a change is refused."""
    script = (
        "import tensorflow as tf\n"
        "from digits import training\n"
        "training.use_threads(1)\n"
        "threading = tf.config.threading\n"
        "print(threading.get_intra_op_parallelism_threads(), "
        "threading.get_inter_op_parallelism_threads())\n"
        "tf.constant(1.0) + 1.0\n"
        "training.use_threads(1)\n"  # unchanged: nothing to do
        "training.use_threads(2)\n"
    )
    result = run([sys.executable, "-c", script], REPO_ROOT, check=False)
    assert result.stdout.split() == ["1", "1"]
    assert result.returncode == 1
    assert "RuntimeError: train.threads=2: TensorFlow's thread pools are already running" in (
        result.stderr
    )

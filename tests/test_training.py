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


@pytest.mark.parametrize(
    ("batch_size", "precision"),
    [(64, "float32"), (256, "float32"), (256, "mixed_bfloat16")],
)
def test_a_short_run_on_a_slice_does_not_collapse_into_one_class(batch_size, precision):
    """The real recipe, shrunk: 1,800 training digits, one epoch (7 steps at batch 256).
    Batch normalization's moving averages then still trail the weights; before they were
    settled (training.settle_batch_norm), every test digit landed in one class (13%)."""
    from conftest import bundled_mnist
    from digits.preparation import scale

    images, labels = bundled_mnist("train", 2000)
    test_images, test_labels = bundled_mnist("test", 500)
    config = dataclasses.replace(TRAIN, epochs=1, batch_size=batch_size, precision=precision)
    model = training.train(
        config,
        (scale(images[:1800]), labels[:1800]),
        (scale(images[1800:]), labels[1800:]),
        10,
        verbose=0,
    )
    predicted = model.predict(scale(test_images), verbose=0).argmax(axis=1)
    assert len(np.unique(predicted)) == 10
    assert np.mean(predicted == test_labels) >= 0.5


def test_settling_batch_norm_sets_the_statistics_of_the_final_weights():
    import keras

    inputs = keras.Input((3,))
    norm = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Model(inputs, norm(inputs))
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(3000, 3)) * [1, 2, 3] + [5, -1, 0]).astype(np.float32)
    training.settle_batch_norm(model, images, batch_size=1000)
    assert norm.moving_mean.numpy() == pytest.approx(images.mean(axis=0), abs=1e-4)
    batches = images.reshape(3, 1000, 3)
    assert norm.moving_variance.numpy() == pytest.approx(batches.var(axis=1).mean(0), rel=1e-4)
    assert norm.momentum == 0.99  # restored


def test_augmentation_changes_training_batches_the_same_way_every_run():
    from digits.augmentation import augmenter, training_batches
    from digits.params import AugmentParams

    config = dataclasses.replace(TINY, augment=AugmentParams(shift=0.1, rotation=10, zoom=0.1))
    images, labels = data(32)

    def batches():
        augment = augmenter(config.augment, config.seed)
        return [x.numpy() for x, _ in training_batches(config, images, labels, augment)]

    first, again = batches(), batches()
    assert len(first) == 2 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(np.allclose(batch, images[: len(batch)]) for batch in first)
    assert augmenter(TRAIN.augment, 0) is None  # the default: no augmentation


def test_training_with_augmentation_is_reproducible_and_differs_from_without():
    from digits.params import AugmentParams

    augmented = dataclasses.replace(TINY, augment=AugmentParams(shift=0.1, rotation=10, zoom=0.1))
    weights = [
        training.train(config, data(64), data(20, seed=1), 10, verbose=0).get_weights()
        for config in (augmented, augmented, TINY)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2], strict=True))


def test_bfloat16_training_is_reproducible_and_saves_a_float32_model():
    convnet = dataclasses.replace(TINY, architecture="convnet", precision="mixed_bfloat16")
    models = [
        training.train(config, data(64), data(20, seed=1), 10, verbose=0)
        for config in (convnet, convnet, dataclasses.replace(convnet, precision="float32"))
    ]
    weights = [model.get_weights() for model in models]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2], strict=True))
    assert {layer.dtype_policy.name for layer in models[0].layers} == {"float32"}
    assert all(weight.dtype == np.float32 for weight in weights[0])

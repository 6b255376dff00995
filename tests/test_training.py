"""Training on tiny arrays: the learning-rate schedule, dvclive's logs, bad batch sizes."""

from __future__ import annotations

import dataclasses
import logging
import sys

import keras
import numpy as np
import pytest

from conftest import REPO_ROOT, run
from digits import training
from digits.errors import InputError
from digits.params import load_params
from digits.precision import training_precision

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


def test_batch_norm_settles_on_the_images_as_training_changed_them():
    """A network trained on augmented batches normalizes by their statistics, not by those
    of plain digits (benchmarks/README.md)."""
    import keras

    inputs = keras.Input((4, 4))
    norm = keras.layers.BatchNormalization()
    model = keras.Model(inputs, norm(keras.layers.Flatten()(inputs)))
    images = np.random.default_rng(0).random((2048, 4, 4), dtype=np.float32)
    halve = keras.Sequential([keras.layers.Rescaling(0.5)])  # a stand-in "augmentation"
    training.settle_batch_norm(model, images, augment=halve)
    assert norm.moving_mean.numpy() == pytest.approx(images.mean(axis=0).ravel() / 2, abs=1e-5)


AUGMENTED = dataclasses.replace(
    TINY,
    augment=dataclasses.replace(TRAIN.augment, shift=0.1, rotation=10.0, zoom=0.1, elastic=34.0),
)


def test_augmentation_changes_training_batches_the_same_way_every_run():
    from digits.augmentation import augmenter
    from digits.training import training_batches

    config = AUGMENTED
    images, labels = data(32)

    def batches():
        augment = augmenter(config.augment, config.seed)
        return [x.numpy() for x, _ in training_batches(config, images, labels, augment)]

    first, again = batches(), batches()
    assert len(first) == 2 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(np.allclose(batch, images[: len(batch)]) for batch in first)
    assert augmenter(TRAIN.augment, 0) is None  # the default: no augmentation


def test_training_batches_cover_the_set_each_epoch_in_a_seeded_order_without_autotuning():
    images, _ = data(40)
    targets = np.arange(40)  # each batch's targets say which samples it holds

    def epochs(count: int) -> list[np.ndarray]:
        batches = training.training_batches(TINY, images, targets, augment=None)
        # The autotuner's thread held up each epoch's start by seconds (benchmarks/README.md).
        assert batches.options().autotune.enabled is False
        return [np.concatenate([t.numpy() for _, t in batches]) for _ in range(count)]

    first, second = epochs(2)
    assert sorted(first) == sorted(second) == list(range(40))
    assert not np.array_equal(first, second)  # shuffled anew each epoch
    assert all(np.array_equal(a, b) for a, b in zip(epochs(2), (first, second), strict=True))
    one = next(iter(training.training_batches(TINY, images, targets, augment=None)))
    assert np.array_equal(one[0].numpy(), images[one[1].numpy()])  # images stay with targets


def test_training_with_augmentation_is_reproducible_and_differs_from_without():
    augmented = AUGMENTED
    weights = [
        training.train(config, data(64), data(20, seed=1), 10, verbose=0).get_weights()
        for config in (augmented, augmented, TINY)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], weights[2], strict=True))


def test_bilinear_sampling_matches_keras_map_coordinates():
    from digits.augmentation import bilinear

    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28), dtype=np.float32)
    rows, columns = np.meshgrid(*[np.arange(28, dtype=np.float32)] * 2, indexing="ij")
    # Moves of up to 4 pixels, some past the border (read as 0), and a whole-pixel one.
    moved = [np.float32(axis + rng.uniform(-4, 4, (3, 28, 28))) for axis in (rows, columns)]
    batch = np.broadcast_to(np.arange(3.0)[:, None, None], (3, 28, 28)).astype(np.float32)
    expected = keras.ops.image.map_coordinates(images, np.stack([batch, *moved]), order=1)
    assert np.asarray(bilinear(images, *moved)) == pytest.approx(np.asarray(expected), abs=1e-6)
    shifted = np.broadcast_to(rows + 1, (3, 28, 28)).astype(np.float32)
    whole = np.asarray(bilinear(images, shifted, np.broadcast_to(columns, (3, 28, 28))))
    assert np.array_equal(whole[:, :-1], images[:, 1:]) and not whole[:, -1].any()


def test_elastic_distortion_moves_pixels_smoothly_and_not_only_along_the_diagonal():
    from digits.augmentation import ElasticDistortion

    # A dot on a grid of single pixels: each moves by the field where it stands.
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 14, 14] = 1
    moved = np.asarray(ElasticDistortion(34.0, 4.0, seed=0)(images, training=True))[..., 0]
    rows, columns = np.nonzero(moved.sum(axis=0) > 0)
    assert np.ptp(rows) > 1 and np.ptp(columns) > 1  # the dot went up/down and left/right
    centres = [np.unravel_index(image.argmax(), image.shape) for image in moved]
    down, right = (np.array(axis) - 14.0 for axis in zip(*centres, strict=True))
    assert abs(np.corrcoef(down, right)[0, 1]) < 0.5  # two fields, not one
    # Uniform noise smoothed by a Gaussian of 4 px keeps 1 / (2 sqrt(pi) 4) of its spread:
    # alpha 34 moves a pixel by 34 * 0.577 / 14.2 = 1.4 px (standard deviation).
    assert 0.9 < down.std() < 2.0 and 0.9 < right.std() < 2.0
    assert all(image.any() for image in moved)  # no dot lost
    partial = np.asarray(ElasticDistortion(10.0, 4.0, seed=0)(images[:5], training=True))
    assert partial.shape == (5, 28, 28, 1)  # a last, smaller batch
    assert np.array_equal(ElasticDistortion(10.0, 4.0, 0)(images, training=False), images)


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


def test_auto_precision_trains_as_the_precision_it_resolves_to_and_logs_it(caplog):
    convnet = dataclasses.replace(TINY, architecture="convnet", precision="auto")
    applied = training_precision("auto")  # mixed_bfloat16 or float32, by the machine
    with caplog.at_level(logging.INFO, logger="digits.training"):
        auto = training.train(convnet, data(64), data(20, seed=1), 10, verbose=0)
    assert f"for 2 epochs in {applied}" in caplog.text
    named = dataclasses.replace(convnet, precision=applied)
    same = training.train(named, data(64), data(20, seed=1), 10, verbose=0)
    pairs = zip(auto.get_weights(), same.get_weights(), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)

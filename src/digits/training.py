"""Fit a model from `params.train`, reproducibly: same params and data, same bytes."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from digits import batches
from digits.augmentation import augmented, augmenter
from digits.errors import InputError
from digits.models import build_model, portable
from digits.params import TrainParams

logger = logging.getLogger(__name__)


OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def use_threads(threads: int) -> None:
    """Run TensorFlow's kernels on `threads` threads; 0 keeps its default, one per core.

    The model's bytes depend on the number (kernels split their sums by thread), so it
    is a param rather than a setting of the machine. TensorFlow fixes its thread pools
    when it first runs an op: call this before anything else in the process uses it.
    """
    if threads == 0:
        return
    threading = tf.config.threading
    if (
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
    ) == (threads, threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:  # TensorFlow already started in this process
        raise RuntimeError(
            f"train.threads={threads}: TensorFlow's thread pools are already running "
            "in this process; train in a new process"
        ) from error


def learning_rate(
    config: TrainParams, steps: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A constant rate, or a linear warm-up to `learning_rate` followed by cosine decay to 0."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    warmup_steps = int(config.warmup_fraction * steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else config.learning_rate,
        decay_steps=steps - warmup_steps,
        warmup_target=config.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


# Training steps that one call into TensorFlow runs, and the validation pass's batch: how
# the work is driven, not what it computes (the model's bytes and every logged metric but
# the last bits of val_loss stay the same). Eight steps a call instead of one and batches
# of 1,000 images instead of the training batch made an epoch of the default recipe 1.09x
# as fast with oneDNN capped at AVX2, alternating in one process (benchmarks/README.md).
STEPS_PER_EXECUTION = 8
VALIDATION_BATCH_SIZE = 1000


def compile_model(model: keras.Model, config: TrainParams, steps: int) -> keras.Model:
    """Compile `model` with `config`'s optimizer and schedule over `steps` training steps,
    cross-entropy with its label smoothing, and accuracy."""
    model.compile(
        optimizer=OPTIMIZERS[config.optimizer](learning_rate=learning_rate(config, steps)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def live_logger(live_dir: str | Path) -> DVCLiveCallback:
    """A callback logging each epoch's metrics with dvclive into `live_dir`.

    dvclive writes only metrics here (no dvc.yaml edits, no experiment, no report):
    dvc.yaml declares the files, and `dvc exp run` already records experiments.
    """
    return DVCLiveCallback(live=Live(str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None))


def train(
    config: TrainParams,
    train_data: tuple[np.ndarray, np.ndarray],
    validation_data: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> keras.Model:
    """Build, compile and fit the model; return it trained, made of Keras' own layers."""
    images, labels = train_data
    if config.batch_size > len(labels):
        raise InputError(
            f"train.batch_size={config.batch_size} is larger than the training set "
            f"({len(labels)} samples); lower it or use more data"
        )
    use_threads(config.threads)
    seed_everything(config.seed)
    model = build_model(config, images.shape[1:], num_classes, for_training=True)
    steps = config.epochs * math.ceil(len(labels) / config.batch_size)
    compile_model(model, config, steps)
    logger.info(
        "training %s (%d parameters) on %d samples for %d epochs in %s",
        model.name,
        model.count_params(),
        len(labels),
        config.epochs,
        model.dtype_policy.name,  # the precision build_model applied
    )
    targets = keras.utils.to_categorical(labels, num_classes)
    augment = augmenter(config.augment, config.seed)
    validation = (validation_data[0], keras.utils.to_categorical(validation_data[1], num_classes))
    model.fit(
        training_batches(config, images, targets, augment),
        shuffle=False,  # the pipeline shuffles
        epochs=config.epochs,
        validation_data=batches.in_order(validation, VALIDATION_BATCH_SIZE),
        callbacks=list(callbacks),
        verbose=verbose,
    )
    settle_batch_norm(model, images[:BATCH_NORM_SAMPLES], augment=augment)
    return portable(model)


def training_batches(
    config: TrainParams,
    images: np.ndarray,
    targets: np.ndarray,
    augment: keras.Sequential | None,
) -> tf.data.Dataset:
    """Shuffled (seeded, anew each epoch) batches of (images, targets), each changed by
    `augment` if there is one."""

    @tf.autograph.experimental.do_not_convert
    def transform(batch: tf.Tensor, batch_targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return augmented(augment, batch), batch_targets

    dataset = batches.shuffled(images, targets, config.batch_size, config.seed)
    if augment is not None:
        dataset = dataset.map(transform)
    return batches.without_autotuning(dataset)


# Training images whose statistics replace batch normalization's moving averages.
BATCH_NORM_SAMPLES = 4096


def settle_batch_norm(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 1024,
    augment: keras.Sequential | None = None,
) -> None:
    """Set each batch normalization's moving mean and variance to the statistics of its
    inputs under the final weights, averaged over `images` ("precise BN"), changed by
    `augment` as training changed them.

    The moving averages trail the weights: after a short run (a slice of the data, one
    epoch, a large batch: a few dozen steps) they still hold statistics of earlier weights,
    and a model that is right on 90% of the test digits with batch statistics puts every
    digit in one class. With them settled it keeps its 90%; on the full data it costs one
    forward pass over 4,096 images. Dropout is active in the pass, but comes after the
    last normalization. The statistics are those of the images as training saw them:
    a network trained on augmented batches normalizes by their statistics (plain digits'
    cost the high-accuracy recipe 0.04 to 0.08 points of test accuracy; README).
    """
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    chunks = [images[start : start + batch_size] for start in range(0, len(images), batch_size)]
    try:
        for index, batch in enumerate(chunks):
            for layer in norms:  # a running mean over batches: weight index / (index + 1)
                layer.momentum = index / (index + 1)
            model(batch if augment is None else augmented(augment, batch), training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum

"""More training data from the data we have: seeded random shifts, rotations and zooms.

Applied to training batches only (a `tf.data` pipeline feeding `fit`), never to the
validation or test images, and never part of the saved model. Keras' own random image
layers do the work; seeded, they give the same batches on every run.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from digits.params import AugmentParams, TrainParams


def augmenter(config: AugmentParams, seed: int) -> keras.Sequential | None:
    """Keras' random image layers for the params that are not 0; None when all are."""
    layers = keras.layers
    steps = []
    if config.rotation:
        steps.append(layers.RandomRotation(config.rotation / 360, fill_mode="constant", seed=seed))
    if config.zoom:
        steps.append(layers.RandomZoom(config.zoom, fill_mode="constant", seed=seed + 1))
    if config.shift:
        shift = config.shift
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 2))
    return keras.Sequential(steps, name="augmentation") if steps else None


def training_batches(
    config: TrainParams, images: np.ndarray, targets: np.ndarray, augment: keras.Sequential
) -> tf.data.Dataset:
    """Shuffled (seeded, anew each epoch) batches of (images, targets), each augmented."""

    @tf.autograph.experimental.do_not_convert
    def transform(batch: tf.Tensor, batch_targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        changed = augment(batch[..., tf.newaxis], training=True)  # the layers want channels
        return tf.squeeze(changed, axis=-1), batch_targets

    dataset = tf.data.Dataset.from_tensor_slices((images, targets))
    dataset = dataset.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    return dataset.batch(config.batch_size).map(transform).prefetch(tf.data.AUTOTUNE)

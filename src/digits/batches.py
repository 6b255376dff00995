"""Batches for Keras from arrays in memory, through tf.data with its autotuning off.

Keras' own pipeline for NumPy arrays autotunes, and under TensorFlow 2.21 a spent
iterator of an autotuned pipeline waits for the autotuner's sleep to end before it goes:
see `without_autotuning`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def shuffled(
    images: np.ndarray, targets: np.ndarray, batch_size: int, seed: int
) -> tf.data.Dataset:
    """Batches of (images, targets) from a seeded shuffle of the whole set, anew each epoch."""
    dataset = tf.data.Dataset.from_tensor_slices((images, targets))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def in_order(arrays: np.ndarray | tuple[np.ndarray, ...], batch_size: int) -> tf.data.Dataset:
    """`arrays` (one, or a tuple cut alike) in batches of `batch_size`, in their order,
    without autotuning: for `fit`'s validation pass and for `predict`."""
    return without_autotuning(tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size))


def without_autotuning(batches: tf.data.Dataset) -> tf.data.Dataset:
    """`batches`, prefetched two ahead, with tf.data's autotuning off.

    The autotuner's thread sleeps between rounds for ever longer (seconds, late in an
    epoch), and TensorFlow 2.21 deletes a spent iterator only once that sleep ends: with
    it on, about two epochs in five started 2 to 3 s late (0.05 s otherwise) at 7 s an
    epoch, the validation pass ended 0.6 s late as often, and the high-accuracy recipe's
    19 s epochs now and then took 38 s. These pipelines are cheap without it (0.13 s a
    full epoch of training batches); their order, and so the model's bytes, do not
    depend on it.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.prefetch(2).with_options(options)

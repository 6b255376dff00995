"""Exporting the trained model for serving, as a TensorFlow SavedModel.

Keras' export API writes the model's forward pass only: a `serve` endpoint (and
the `serving_default` signature) taking float32 images of shape (N, 28, 28)
scaled to [0, 1], as `digits.preprocessing.prepare` and
`digits.preparation.scale` make them, and returning (N, 10) class
probabilities. TensorFlow Serving, TFLite converters or `tf.saved_model.load`
read it without this package or Keras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.storage import atomic_directory

logger = logging.getLogger(__name__)

PROBE_SAMPLES = 16
TOLERANCE = 1e-5  # the export may fuse operations differently; probabilities agree this closely


def export_saved_model(model: keras.Model, path: str | Path) -> None:
    """Write `model` as a SavedModel folder at `path`, atomically.

    The export is written beside `path`, reloaded and checked against `model` on
    a batch of random images, and only then swapped in for any old export.
    """
    with atomic_directory(path) as folder:
        model.export(str(folder), format="tf_saved_model", verbose=False)
        probe = np.random.default_rng(0).random(
            (PROBE_SAMPLES, *model.input_shape[1:]), dtype=np.float32
        )
        expected = np.asarray(model.predict_on_batch(probe))
        exported = serving_function(folder)(probe)
        gap = float(np.max(np.abs(exported - expected)))
        if gap > TOLERANCE:
            raise RuntimeError(
                f"the export at {folder} disagrees with the model by {gap:.2g}; kept the old one"
            )
    logger.info("exported %s to %s (checked on %d images)", model.name, path, PROBE_SAMPLES)


def serving_function(path: str | Path):
    """The exported `serve` endpoint as a function from a NumPy batch to NumPy probabilities."""
    loaded = tf.saved_model.load(str(path))  # holds the variables: keep it referenced
    return lambda batch: loaded.serve(tf.constant(batch, dtype=tf.float32)).numpy()

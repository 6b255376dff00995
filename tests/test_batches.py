"""Batches from arrays in memory, as training's validation pass and the evaluate stage
take them: in order, cut alike, without tf.data's autotuning."""

import keras
import numpy as np

from digits import batches


def test_in_order_batches_keep_the_order_and_cut_tuples_alike_without_autotuning():
    images = np.arange(10 * 4, dtype=np.float32).reshape(10, 2, 2)
    labels = np.arange(10)
    alone = batches.in_order(images, 4)
    # A spent iterator of an autotuned pipeline waits for the autotuner (benchmarks/README.md).
    assert alone.options().autotune.enabled is False
    assert [len(batch) for batch in alone] == [4, 4, 2]
    assert np.array_equal(np.concatenate([batch.numpy() for batch in alone]), images)
    paired = list(batches.in_order((images, labels), 4))
    assert all(np.array_equal(x.numpy(), images[y.numpy()]) for x, y in paired)
    assert np.array_equal(np.concatenate([y.numpy() for _, y in paired]), labels)


def test_predicting_through_in_order_batches_gives_kerass_predictions_bit_for_bit():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])
    images = np.random.default_rng(0).random((10, 2, 2), dtype=np.float32)
    ours = model.predict(batches.in_order(images, 4), verbose=0)
    assert np.array_equal(ours, model.predict(images, batch_size=4, verbose=0))

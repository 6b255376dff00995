"""More training data from the data we have: seeded random elastic distortions, shifts,
rotations and zooms.

Applied to training batches only (`training.training_batches`, feeding `fit`), never to the
validation or test images, and never part of the saved model. Keras' own random image
layers do the affine part; the elastic distortion is Simard et al.'s (ICDAR 2003) on
Keras' image ops. Seeded, they give the same batches on every run.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from digits.params import AugmentParams


class ElasticDistortion(keras.layers.Layer):
    """Simard et al.'s elastic distortion: each pixel moves by a random field, uniform in
    [-1, 1] per pixel and direction, smoothed by a Gaussian of `sigma` pixels and scaled by
    `alpha` pixels; the image is resampled bilinearly, zeros outside. For 28x28 digits
    the paper used alpha 34, sigma 4.

    Keras' `RandomElasticTransform` is not used: under TensorFlow it draws both directions
    from one seed (every pixel moves along the diagonal), resamples image by image in a
    Python loop over a fixed batch size (which a last, smaller batch breaks), and blurs
    with a square kernel. Here the blur is separable and the resampling one gather per
    corner: 68 ms for a batch of 256 on 2 busy cores, against 202 ms for the same field
    blurred by `keras.ops.image.gaussian_blur` and resampled by `map_coordinates`.
    """

    def __init__(self, alpha: float, sigma: float, seed: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha = alpha
        self.seed_generator = keras.random.SeedGenerator(seed)
        radius = int(np.ceil(3 * sigma))  # the Gaussian to 3 sigma each side
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        self.taps = (taps / taps.sum()).astype(np.float32)

    def call(self, images, training: bool = True):
        if not training:
            return images
        ops = keras.ops
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        # Rows and columns of the field as 2 x batch single-channel images, blurred along
        # each axis in turn.
        field = keras.random.uniform(
            (2 * batch, height, width, 1), -1.0, 1.0, seed=self.seed_generator
        )
        taps = ops.convert_to_tensor(self.taps)
        field = ops.conv(field, ops.reshape(taps, (-1, 1, 1, 1)), padding="same")
        field = ops.conv(field, ops.reshape(taps, (1, -1, 1, 1)), padding="same")
        field = self.alpha * ops.reshape(field, (2, batch, height, width))
        rows, columns = ops.meshgrid(
            ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
        )
        return bilinear(images[..., 0], rows + field[0], columns + field[1])[..., None]


def bilinear(images, rows, columns):
    """`images` (batch, height, width) sampled at fractional `rows`, `columns` (each of the
    same shape): a weighted sum of the four nearest pixels, 0 outside the image."""
    ops = keras.ops
    batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
    pixels = ops.reshape(images, (-1,))
    first = ops.arange(batch, dtype="int32")[:, None, None] * (height * width)
    top, left = ops.floor(rows), ops.floor(columns)
    down, right = rows - top, columns - left
    top, left = ops.cast(top, "int32"), ops.cast(left, "int32")

    def pixel(row, column):
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        at = first + ops.clip(row, 0, height - 1) * width + ops.clip(column, 0, width - 1)
        return ops.where(inside, ops.take(pixels, at), 0.0)

    upper = (1 - right) * pixel(top, left) + right * pixel(top, left + 1)
    lower = (1 - right) * pixel(top + 1, left) + right * pixel(top + 1, left + 1)
    return (1 - down) * upper + down * lower


def augmenter(config: AugmentParams, seed: int) -> keras.Sequential | None:
    """The random image layers for the params that are not 0; None when all are."""
    layers = keras.layers
    steps = []
    if config.elastic:
        steps.append(ElasticDistortion(config.elastic, config.elastic_sigma, seed=seed + 3))
    if config.rotation:
        steps.append(layers.RandomRotation(config.rotation / 360, fill_mode="constant", seed=seed))
    if config.zoom:
        steps.append(layers.RandomZoom(config.zoom, fill_mode="constant", seed=seed + 1))
    if config.shift:
        shift = config.shift
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 2))
    return keras.Sequential(steps, name="augmentation") if steps else None


def augmented(augment: keras.Sequential, images: tf.Tensor | np.ndarray) -> tf.Tensor:
    """A batch of (height, width) images, randomly changed by `augment`."""
    changed = augment(images[..., tf.newaxis], training=True)  # the layers want channels
    return tf.squeeze(changed, axis=-1)

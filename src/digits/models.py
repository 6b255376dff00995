"""Keras functional models selected by `train.architecture`, and their files.

Both models take (height, width) float images in [0, 1] and output class
probabilities. `mlp` is exactly the tutorial's network (Dense 64 relu,
Dropout 0.2, Dense 10 softmax, with the tutorial's params); `convnet` is the
default, chosen for accuracy per second on a small CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from digits.errors import InputError
from digits.params import TrainParams
from digits.precision import precision_policy, training_precision
from digits.storage import atomic_path, normalize_zip

layers = keras.layers


def build_model(
    config: TrainParams,
    image_shape: tuple[int, int],
    num_classes: int,
    *,
    for_training: bool = False,
) -> keras.Model:
    """The network `config` names, in float32. `for_training=True` builds it as it trains:
    batch normalization by `FusedBatchNormalization`, in `config.precision`'s maths;
    `portable` turns that into the plain float32 model that is saved."""
    if not for_training:
        return _network(config, image_shape, num_classes, layers.BatchNormalization)
    with precision_policy(training_precision(config.precision)):
        return _network(config, image_shape, num_classes, FusedBatchNormalization)


def _network(
    config: TrainParams,
    image_shape: tuple[int, int],
    num_classes: int,
    normalization: type[keras.layers.BatchNormalization],
) -> keras.Model:
    inputs = keras.Input(shape=image_shape, name="image")
    if config.architecture == "mlp":
        x = layers.Flatten()(inputs)
        x = layers.Dense(config.mlp.hidden_units, activation="relu")(x)
        x = layers.Dropout(config.mlp.dropout_rate)(x)
    else:
        _check_convnet_fits(config, image_shape)
        x = layers.Reshape((*image_shape, 1), name="channel")(inputs)
        momentum = config.convnet.batch_norm_momentum
        # Named layers: the same names however many models a process builds.
        for block, filters in enumerate(config.convnet.conv_filters, start=1):
            kernel_size, strides, pooled = _block_layout(
                config.convnet.kernel_size, config.convnet.stem, block
            )
            x = layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding=config.convnet.padding,
                use_bias=False,  # the batch normalization after it has its own offset
                name=f"conv_{block}",
            )(x)
            if pooled:
                # Pooling before normalization and ReLU gives the same kind of block at a
                # quarter of their cost (max-pooling commutes with ReLU): it trains twice as
                # fast on a CPU.
                x = layers.MaxPooling2D(name=f"pool_{block}")(x)
            x = normalization(momentum=momentum, name=f"norm_{block}")(x)
            x = layers.ReLU(name=f"relu_{block}")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(config.convnet.dense_units, use_bias=False, name="dense")(x)
        x = normalization(momentum=momentum, name="dense_norm")(x)
        x = layers.ReLU(name="dense_relu")(x)
        x = layers.Dropout(config.convnet.dropout_rate, name="dropout")(x)
    # The softmax in float32 whatever the precision, as Keras' mixed-precision guide advises.
    outputs = layers.Dense(
        num_classes, activation="softmax", name="probabilities", dtype="float32"
    )(x)
    return keras.Model(inputs, outputs, name=config.architecture)


def _block_layout(kernel_size: int, stem: str, block: int) -> tuple[int, int, bool]:
    """A convolution block's (kernel side, stride, whether 2x2 max-pooling follows).

    With `stem: strided` the first block is one convolution of stride 2 whose kernels
    span the pixels that a pooled block's 2x2 window of convolutions spans: the same
    output side, without the full-resolution map that the first block's convolution,
    pooling and their gradients pass through (benchmarks/README.md)."""
    if block == 1 and stem == "strided":
        return kernel_size + 1, 2, False
    return kernel_size, 1, True


class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization, computed in training by TensorFlow's fused kernel.

    Keras 3 normalizes with separate ops (the moments, then the arithmetic), each a pass
    over the activations forward and back; TensorFlow's FusedBatchNormV3 makes one (oneDNN
    on a CPU, cuDNN on a GPU). Same maths and moving averages; train steps of the default
    convnet 1.1-1.2x as fast (benchmarks/epoch_profile.py). Inference is Keras' own
    code; for training only: `portable` swaps Keras' layer back in before a model is saved.
    """

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)
        if (
            not (training and self.trainable)
            or mask is not None
            or self.renorm
            or self.axis not in (-1, rank - 1)
            or rank not in (2, 4)
            or keras.backend.backend() != "tensorflow"
        ):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        images = inputs if rank == 4 else tf.reshape(inputs, (-1, 1, 1, channels))
        ones, zeros = tf.ones((channels,)), tf.zeros((channels,))
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=images,
            scale=tf.cast(self.gamma, "float32") if self.scale else ones,
            offset=tf.cast(self.beta, "float32") if self.center else zeros,
            mean=tf.zeros((0,)),
            variance=tf.zeros((0,)),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        # The kernel returns the unbiased variance, n / (n - 1) times the one it normalizes
        # with; Keras averages the latter.
        count = tf.cast(tf.size(images) // channels, variance.dtype)
        variance = variance * (count - 1) / count
        for average, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            average.assign(
                average * self.momentum + tf.cast(batch, average.dtype) * (1 - self.momentum)
            )
        return tf.cast(tf.reshape(outputs, tf.shape(inputs)), self.compute_dtype)


def portable(model: keras.Model) -> keras.Model:
    """`model` as it is saved: Keras' own BatchNormalization in place of the fused one and
    float32 maths throughout; the same weights, and a file any Keras loads without us."""

    def plain(layer: keras.layers.Layer) -> keras.layers.Layer:
        kind = (
            layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
        )
        return kind.from_config({**layer.get_config(), "dtype": "float32"})

    clone = keras.models.clone_model(model, clone_function=plain)
    clone.set_weights(model.get_weights())
    return clone


def _check_convnet_fits(config: TrainParams, image_shape: tuple[int, int]) -> None:
    convnet = config.convnet
    side = min(image_shape)
    for block in range(1, len(convnet.conv_filters) + 1):
        kernel_size, strides, pooled = _block_layout(convnet.kernel_size, convnet.stem, block)
        if convnet.padding == "valid":  # Keras' output side for each padding
            side = (side - kernel_size) // strides + 1
        else:
            side = -(-side // strides)
        if pooled:
            side //= 2
        if side < 1:
            raise InputError(
                f"train.convnet: {len(convnet.conv_filters)} blocks of "
                f"{convnet.kernel_size}x{convnet.kernel_size} convolution ({convnet.padding} "
                f"padding, {convnet.stem} stem) and 2x2 pooling shrink a "
                f"{image_shape[0]}x{image_shape[1]} image "
                "to nothing; use fewer conv_filters, a smaller kernel_size or padding: same"
            )


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save as `.keras`, atomically, with the same bytes for the same weights.

    Keras stamps each save with the time (zip entry times, `date_saved` in
    `metadata.json`) and with memory addresses (`shared_object_id` in
    `config.json`); the times are fixed and the addresses renumbered in order
    of appearance, which keeps shared objects shared when the model is loaded.
    """
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)
        normalize_zip(temporary, _stable_entry)


def _stable_entry(name: str, data: bytes) -> bytes:
    if name == "metadata.json":
        metadata = json.loads(data)
        metadata.pop("date_saved", None)
        return json.dumps(metadata).encode("utf-8")
    if name == "config.json":
        return json.dumps(_renumber_shared_objects(json.loads(data), {})).encode("utf-8")
    return data


def _renumber_shared_objects(node: Any, numbers: dict[int, int]) -> Any:
    if isinstance(node, list):
        return [_renumber_shared_objects(item, numbers) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "shared_object_id":
            result[key] = numbers.setdefault(value, len(numbers) + 1)
        else:
            result[key] = _renumber_shared_objects(value, numbers)
    return result


def load_model(path: str | Path) -> keras.Model:
    """Load a `.keras` model in safe mode: a file carrying code (Lambda layers) is refused."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: model not found; train it with `dvc repro` or fetch it with `dvc pull`"
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as error:
        first_line = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise InputError(f"{path}: refused to load model ({first_line})") from None

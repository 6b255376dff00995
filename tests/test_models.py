"""Model construction, reproducible saving, and safe loading."""

from __future__ import annotations

import dataclasses
import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from digits import models, precision
from digits.errors import InputError
from digits.params import load_params

TRAIN = load_params(REPO_ROOT / "params.yaml").train


def test_mlp_is_exactly_the_tutorials_network():
    model = models.build_model(dataclasses.replace(TRAIN, architecture="mlp"), (28, 28), 10)
    layers = [(type(layer).__name__, layer) for layer in model.layers]
    assert [name for name, _ in layers] == ["InputLayer", "Flatten", "Dense", "Dropout", "Dense"]
    assert layers[2][1].units == 64 and layers[2][1].activation.__name__ == "relu"
    assert layers[3][1].rate == 0.2
    assert layers[4][1].units == 10 and layers[4][1].activation.__name__ == "softmax"


def test_convnet_follows_its_params():
    config = dataclasses.replace(
        TRAIN, convnet=dataclasses.replace(TRAIN.convnet, conv_filters=(8, 16, 4), dense_units=12)
    )
    model = models.build_model(config, (28, 28), 10)
    convolutions = [
        layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    ]
    assert convolutions == [8, 16, 4]
    assert model.output_shape == (None, 10)
    batch = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    assert np.allclose(model.predict(batch, verbose=0).sum(axis=1), 1, atol=1e-5)


def test_a_convnet_too_deep_for_the_image_is_refused():
    config = dataclasses.replace(
        TRAIN, convnet=dataclasses.replace(TRAIN.convnet, conv_filters=(8, 8, 8), kernel_size=5)
    )
    message = r"3 blocks of 5x5 convolution \(valid padding, strided stem\) .* shrink a 28x28 image"
    with pytest.raises(InputError, match=message):
        models.build_model(config, (28, 28), 10)


def test_same_padding_keeps_each_convolutions_side():
    convnet = dataclasses.replace(
        TRAIN.convnet, conv_filters=(8, 8, 8), kernel_size=5, padding="same", stem="pooled"
    )
    model = models.build_model(dataclasses.replace(TRAIN, convnet=convnet), (28, 28), 10)
    sides = [
        layer.output.shape[1] for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    ]
    assert sides == [28, 14, 7]  # valid padding: 24, 8 and nothing (the test above)
    assert model.get_layer("flatten").output.shape[-1] == 3 * 3 * 8


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_a_strided_stem_is_one_convolution_giving_the_pooled_blocks_side(padding):
    def network(stem: str) -> keras.Model:
        convnet = dataclasses.replace(
            TRAIN.convnet, conv_filters=(8, 8), stem=stem, padding=padding
        )
        return models.build_model(dataclasses.replace(TRAIN, convnet=convnet), (28, 28), 10)

    pooled, strided = network("pooled"), network("strided")
    first = strided.get_layer("conv_1")
    assert (first.kernel_size, first.strides) == ((4, 4), (2, 2))  # kernel_size 3, plus one
    assert pooled.get_layer("conv_1").kernel_size == (3, 3)
    names = {layer.name for layer in strided.layers}
    assert "pool_1" not in names and "pool_2" in names
    for name in ("norm_1", "flatten"):  # after the first block, and before the dense layer
        assert strided.get_layer(name).output.shape == pooled.get_layer(name).output.shape
    assert strided.get_layer("norm_1").output.shape[1] == (13 if padding == "valid" else 14)


def test_saving_twice_gives_the_same_bytes_and_loads_back(tmp_path):
    keras.utils.set_random_seed(0)
    model = models.build_model(TRAIN, (28, 28), 10)
    models.save_model(model, tmp_path / "a.keras")
    models.save_model(model, tmp_path / "b.keras")
    digests = {
        hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.keras", "b.keras")
    }
    assert len(digests) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.keras", "b.keras"]
    loaded = models.load_model(tmp_path / "a.keras")
    batch = np.random.default_rng(1).random((4, 28, 28), dtype=np.float32)
    assert np.array_equal(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))


def test_a_model_carrying_code_is_refused(tmp_path):
    inputs = keras.Input((28, 28))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Flatten()(inputs))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(InputError, match="lambda.keras: refused to load model") as caught:
        models.load_model(path)
    assert "\n" not in str(caught.value)


def test_missing_model_says_how_to_get_one(tmp_path):
    with pytest.raises(InputError, match="`dvc repro`.*`dvc pull`"):
        models.load_model(tmp_path / "absent.keras")


@pytest.mark.parametrize("shape", [(64, 5, 5, 3), (64, 7)], ids=["images", "features"])
def test_the_fused_batch_norm_computes_what_keras_own_does(shape):
    rng = np.random.default_rng(0)
    batch = (rng.normal(size=shape) * 3 + 1).astype(np.float32)
    plain, fused = (
        keras.layers.BatchNormalization(momentum=0.9),
        models.FusedBatchNormalization(momentum=0.9),
    )
    for layer in (plain, fused):
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2, shape[-1]))
        layer.beta.assign(np.linspace(-1, 1, shape[-1]))
    for training in (True, False):  # the batch's statistics, then the moving averages
        expected, actual = plain(batch, training=training), fused(batch, training=training)
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
        for mine, theirs in zip(fused.weights, plain.weights, strict=True):
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(fused.moving_mean.numpy(), 0)  # the averages did move


def test_a_model_trained_fused_is_saved_as_keras_own_layers(tmp_path):
    fused = models.build_model(TRAIN, (28, 28), 10, for_training=True)
    assert any(isinstance(layer, models.FusedBatchNormalization) for layer in fused.layers)
    rng = np.random.default_rng(0)
    for weight in fused.weights:
        weight.assign(rng.normal(size=weight.shape).astype(np.float32) * 0.1 + 0.5)
    saved = models.portable(fused)
    assert not any(isinstance(layer, models.FusedBatchNormalization) for layer in saved.layers)
    assert saved.to_json() == models.build_model(TRAIN, (28, 28), 10).to_json()
    images = rng.random((8, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(
        saved.predict(images, verbose=0), fused.predict(images, verbose=0)
    )
    models.save_model(saved, tmp_path / "model.keras")
    assert "Fused" not in (tmp_path / "model.keras").read_bytes().decode("latin-1")


def test_auto_precision_is_bfloat16_exactly_where_this_machine_has_the_units():
    assert precision.training_precision("float32") == "float32"
    assert precision.training_precision("mixed_bfloat16") == "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0])["compute_capability"]
        has_units = tuple(capability) >= (8, 0)
    else:
        has_units = precision.cpu_has_bfloat16()
    expected = "mixed_bfloat16" if has_units else "float32"
    assert precision.training_precision("auto") == expected
    config = dataclasses.replace(TRAIN, precision="auto")
    trained = models.build_model(config, (28, 28), 10, for_training=True)
    assert trained.get_layer("conv_1").dtype_policy.name == expected
    assert keras.mixed_precision.global_policy().name == "float32"  # restored


def test_a_model_built_for_bfloat16_training_computes_in_it_and_is_saved_in_float32():
    config = dataclasses.replace(TRAIN, precision="mixed_bfloat16")
    trained = models.build_model(config, (28, 28), 10, for_training=True)
    policies = {layer.name: layer.dtype_policy.name for layer in trained.layers}
    assert policies["conv_1"] == policies["dense_norm"] == "mixed_bfloat16"
    assert policies["probabilities"] == "float32"  # the softmax stays in float32
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert models.portable(trained).to_json() == models.build_model(TRAIN, (28, 28), 10).to_json()

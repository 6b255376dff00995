"""Model construction, reproducible saving, and safe loading."""

from __future__ import annotations

import dataclasses
import hashlib

import keras
import numpy as np
import pytest

from conftest import REPO_ROOT
from digits import models
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
    with pytest.raises(InputError, match="3 blocks of 5x5 convolution .* shrink a 28x28 image"):
        models.build_model(config, (28, 28), 10)


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

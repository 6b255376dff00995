"""The one place that imports Keras: TensorFlow backend, and TensorFlow's C++ logs quieted.

Both settings are defaults that a user's environment overrides. Only the modules
that need a model import this, so download, normalize and report stay light.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

__all__ = ["keras"]

"""Train, evaluate and report a Keras digit classifier through a DVC pipeline.

Importing the package imports nothing heavy: only `digits.models`, `digits.precision` and
`digits.training` pull in TensorFlow, so download, normalize and report start fast.

The one setting made here: TensorFlow's C++ log level defaults to 3, which hides
a harmless error line that every `fit` prints. It runs before any module of the
package can import TensorFlow; a value already in the environment wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

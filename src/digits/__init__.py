"""Train, evaluate and report a Keras digit classifier through a DVC pipeline.

Importing the package imports nothing heavy: only `digits.models`,
`digits.training` and `digits.evaluation` pull in TensorFlow.
"""

"""Where one epoch of the default recipe's training goes, for the benchmark.

Each layer of the model as trained (`build_model(..., for_training=True)`) is timed alone,
forward and backward (gradients for its weights and, past the first layer, its input),
on a batch of its real input shape; then the whole compiled train step on a fixed
batch, `fit`'s epochs on the NumPy arrays against as many steps on one batch (the input
pipeline: shuffling and slicing), and the validation pass `fit` makes after each epoch.
Medians of several timings; seconds per epoch are per step times the epoch's steps.
Timed alone, each layer also pays a call of its own, so the layers add up to more than
the real step: read them as shares of the step. Last, TensorFlow's profiler records the
kernels of whole steps, which also shows what no layer holds: the optimizer's update.
"""

from __future__ import annotations

import math
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from digits import batches, training
from digits.models import build_model
from digits.params import load_params
from digits.precision import precision_policy, training_precision
from recipes import load

KINDS = {
    keras.layers.Conv2D: "convolutions",
    keras.layers.MaxPooling2D: "max-pooling",
    keras.layers.BatchNormalization: "batch normalization",
    keras.layers.ReLU: "ReLU",
    keras.layers.Dense: "dense layers",
}


# Kernels also belong to these, which hold no layer of KINDS.
KERNEL_KINDS = {**KINDS, keras.layers.Dropout: "dropout"}


def kind_of(layer: keras.layers.Layer, kinds: dict[type, str]) -> str:
    """The name `kinds` gives the layer's class, or "other"."""
    return next((name for cls, name in kinds.items() if isinstance(layer, cls)), "other")


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()  # traced and warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class FitAndFixedBatchClock(keras.callbacks.Callback):
    """Seconds of each epoch of a fit and, right after each, of as many compiled train steps
    on one fixed batch (no input pipeline): pairs taken moments apart, so that the load
    of the machine weighs on both alike."""

    def __init__(self, batch: tuple[tf.Tensor, tf.Tensor], steps: int) -> None:
        super().__init__()
        self.batch, self.steps = batch, steps
        self.seconds: list[float] = []
        self.fixed_batch_seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.started)
        started = time.perf_counter()
        for _ in range(self.steps):
            self.model.train_function(iter([self.batch]))
        self.fixed_batch_seconds.append(time.perf_counter() - started)


def step_seconds(
    models: list[keras.Model], batch: tuple[tf.Tensor, tf.Tensor], rounds: int = 9, steps: int = 15
) -> list[float]:
    """Seconds of one compiled train step on a fixed batch (no input pipeline), per model:
    medians over rounds that alternate between the models, so that load slows each alike."""
    for model in models:
        model.make_train_function()
        model.train_function(iter([batch]))  # traced and warm
    times: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for model, record in zip(models, times, strict=True):
            started = time.perf_counter()
            for _ in range(steps):
                model.train_function(iter([batch]))
            record.append((time.perf_counter() - started) / steps)
    return [statistics.median(record) for record in times]


def layer_seconds(layer: keras.layers.Layer, batch_size: int, first: bool, repeats: int) -> float:
    """One forward and backward pass of `layer` alone on a batch of its input's shape."""
    inputs = tf.random.stateless_uniform((batch_size, *layer.input.shape[1:]), seed=(0, 0))

    @tf.function
    def step(inputs: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            if not first:
                tape.watch(inputs)
            outputs = layer(inputs, training=True)
        sources = ([] if first else [inputs]) + list(layer.trainable_variables)
        return tape.gradient(outputs, sources, output_gradients=tf.ones_like(outputs))

    return median_seconds(lambda: [g.numpy() for g in step(inputs) if g is not None], repeats)


def kernel_seconds(
    model: keras.Model, batch: tuple[tf.Tensor, tf.Tensor], steps: int = 30
) -> dict[str, float]:
    """Seconds per train step that TensorFlow's kernels ran, by what they compute, from
    its profiler over `steps` steps on one batch. Two inter-op threads run kernels side by
    side, so they add up to more than the step: read them as shares."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # the profiler's trace format

    model.train_function(iter([batch]))  # traced and warm
    with tempfile.TemporaryDirectory(prefix="digits-profile-") as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            for _ in range(steps):
                model.train_function(iter([batch]))
            model.optimizer.iterations.numpy()  # the last step has finished
        finally:
            tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    kinds = {layer.name: kind_of(layer, KERNEL_KINDS) for layer in model.layers}
    seconds: dict[str, float] = {}
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                # A kernel's event is named "scope/of/its/op:OpType"; the rest is runtime.
                name = plane.event_metadata[event.metadata_id].name
                if re.fullmatch(r"[^\s:]+:[^\s:]+", name):
                    kind = kernel_kind(name.split(":")[0], kinds, model.optimizer.name)
                    seconds[kind] = seconds.get(kind, 0.0) + event.duration_ps / 1e12 / steps
    return seconds


def kernel_kind(op: str, kinds: dict[str, str], optimizer: str) -> str:
    """What the op `convnet_1/conv_2_1/convolution` (or under `gradient_tape/`) computes."""
    scopes = op.split("/")
    if scopes[0] == optimizer:
        return "optimizer"
    for scope in scopes:  # the layer's scope, which tracing may suffix with _1
        layer = scope if scope in kinds else re.sub(r"_\d+$", "", scope)
        if layer in kinds:
            return kinds[layer]
    return "other"


def profile(params: Path, data: Path, repeats: int = 15) -> dict:
    """Seconds per epoch of the default recipe, by layer kind and by phase."""
    config = load_params(params).train
    images, labels = load(data, "train")
    labels = keras.utils.to_categorical(labels, 10)
    validation = load(data, "validation")
    steps = math.ceil(len(images) / config.batch_size)
    training.seed_everything(config.seed)
    shape, total_steps = images.shape[1:], steps * config.epochs
    model = build_model(config, shape, 10, for_training=True)
    # The same network with Keras' own batch normalization, in the same precision.
    with precision_policy(training_precision(config.precision)):
        keras_norm = build_model(config, shape, 10)
    for each in (model, keras_norm):
        training.compile_model(each, config, total_steps)
    by_kind: dict[str, float] = {}
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for index, layer in enumerate(layers):
        kind = kind_of(layer, KINDS)
        seconds = layer_seconds(layer, config.batch_size, index == 0, repeats) * steps
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds

    batch = (tf.constant(images[: config.batch_size]), tf.constant(labels[: config.batch_size]))
    step, keras_step = step_seconds([model, keras_norm], batch)
    clock = FitAndFixedBatchClock(batch, steps)
    # The training stage's own input pipeline.
    training_set = training.training_batches(config, images, labels, augment=None)
    model.fit(training_set, shuffle=False, epochs=4, verbose=0, callbacks=[clock])
    # The first epoch also builds the pipeline: the rest are the norm.
    epoch = statistics.median(clock.seconds[1:])
    pipeline = statistics.median(
        fit - fixed
        for fit, fixed in zip(clock.seconds[1:], clock.fixed_batch_seconds[1:], strict=True)
    )
    # The validation pass as fit makes it: the same batches, through the same pipeline.
    validation_batches = batches.in_order(
        (validation[0], keras.utils.to_categorical(validation[1], 10)),
        training.VALIDATION_BATCH_SIZE,
    )
    validate = median_seconds(lambda: model.evaluate(validation_batches, verbose=0), 3)
    kernels = kernel_seconds(model, batch)
    kernel_total = sum(kernels.values())
    layer_total = sum(by_kind.values())
    return {
        "batch_size": config.batch_size,
        "steps_per_epoch": steps,
        "train_steps_s": round(step * steps, 2),
        # The same steps with Keras' own BatchNormalization instead of the fused kernel.
        "train_steps_keras_batch_norm_s": round(keras_step * steps, 2),
        "layers_share_of_steps": {
            kind: round(seconds / layer_total, 3) for kind, seconds in by_kind.items()
        },
        "layers_alone_s": {kind: round(seconds, 2) for kind, seconds in by_kind.items()},
        # Kernels' time per step as TensorFlow's profiler saw it (optimizer included).
        "kernels_share_of_steps": {
            kind: round(seconds / kernel_total, 3)
            for kind, seconds in sorted(kernels.items(), key=lambda item: -item[1])
        },
        "kernels_ms_per_step": round(kernel_total * 1000, 1),
        # fit beyond its steps (shuffling and slicing the NumPy arrays into batches, the
        # callbacks): its epochs against as many steps on one batch, each right after.
        "input_pipeline_s": round(pipeline, 2),
        "validation_pass_s": round(validate, 2),
        "fit_epoch_s": round(epoch, 2),
    }

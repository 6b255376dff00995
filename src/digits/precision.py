"""The precision training computes in: `train.precision` as this machine applies it.

float32 everywhere; mixed_bfloat16 (bfloat16 maths on float32 weights) where asked for, or
under `auto` where the hardware has bfloat16 units. The answer depends only on the machine,
so a model stays bit-reproducible on it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import keras
import tensorflow as tf


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy set to `name` (float32, mixed_bfloat16) while the block
    runs, restored after it: each layer built in the block takes it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def training_precision(requested: str) -> str:
    """`train.precision` as training applies it: float32 and mixed_bfloat16 as named; `auto`
    becomes mixed_bfloat16 where the hardware has bfloat16 units (a GPU of compute
    capability 8.0 or newer, else a CPU that `cpu_has_bfloat16` finds), float32 elsewhere.
    The same answer on the same machine, so a model stays bit-reproducible there."""
    if requested != "auto":
        return requested
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return "mixed_bfloat16" if capability and tuple(capability) >= (8, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


# oneDNN caps (ONEDNN_MAX_CPU_ISA) that leave it the CPU's bfloat16 instructions; an unset
# cap, ALL and DEFAULT leave it all it finds. Below AVX512_CORE_BF16 it emulates them.
BFLOAT16_ISAS = {
    "",
    "ALL",
    "DEFAULT",
    "AVX512_CORE_BF16",
    "AVX512_CORE_FP16",
    "AVX10_1_512",
    "AVX512_CORE_AMX",
    "AVX10_1_512_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512_AMX_FP16",
}


def cpu_has_bfloat16(
    cpuinfo: str | Path = "/proc/cpuinfo", environ: Mapping[str, str] = os.environ
) -> bool:
    """Whether this CPU computes bfloat16 in its own units (AVX512_BF16 or AMX, as Linux
    lists its flags) and oneDNN is not capped below them; False where neither is known."""
    cap = environ.get("ONEDNN_MAX_CPU_ISA", environ.get("DNNL_MAX_CPU_ISA", ""))
    if cap.strip().upper() not in BFLOAT16_ISAS:
        return False
    try:
        lines = Path(cpuinfo).read_text(errors="replace").splitlines()
    except OSError:
        return False
    flags = next((line.partition(":")[2].split() for line in lines if line.startswith("flags")), [])
    return not {"avx512_bf16", "amx_bf16"}.isdisjoint(flags)

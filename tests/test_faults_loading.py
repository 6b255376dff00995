"""Files that carry code, through the stages that load them: refused, and the code never runs.

A `.keras` model with a Lambda layer holds Python bytecode, and an `.npz` with an
object array holds a pickle; either runs code of the file's author when loaded
unsafely. Each is put where a stage reads it (`dvc repro --single-item STAGE`
runs that stage on it); the stage must refuse it in one line and leave a marker
file unwritten: the code in the file would write it.
"""

from __future__ import annotations

import builtins

import keras
import numpy as np
import pytest

from conftest import dvc
from faults import assert_nothing_partial, assert_one_error, assert_restored


class WritesMarker:
    """Unpickling this calls open(marker, "w"): a stand-in for any code in a pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


def model_with_code(path, marker):
    inputs = keras.Input((28, 28))
    flat = keras.layers.Flatten()(inputs)
    code = eval(f"lambda x: x + 0 * len(open({str(marker)!r}, 'w').name)")  # the path in the code
    touched = keras.layers.Lambda(code, output_shape=(28 * 28,))(flat)  # not called to build
    outputs = keras.layers.Dense(10, activation="softmax")(touched)
    path.unlink()
    keras.Model(inputs, outputs).save(path)
    assert not marker.exists()


def npz_with_pickle(path, marker):
    path.unlink()
    with path.open("wb") as file:
        np.savez(file, images=np.array([WritesMarker(marker)], dtype=object), labels=np.zeros(1))


@pytest.mark.pipeline
@pytest.mark.parametrize(
    ("output", "make", "stage", "message"),
    [
        (
            "models/model.keras",
            model_with_code,
            "evaluate",
            "models/model.keras: refused to load model (Requested the deserialization of a "
            "`Lambda` layer",
        ),
        (
            "data/normalized/test.npz",
            npz_with_pickle,
            "report",
            "data/normalized/test.npz: not a readable .npz array file (Object arrays cannot be "
            "loaded when allow_pickle=False)",
        ),
    ],
    ids=["keras Lambda layer", "npz pickle"],
)
def test_a_file_carrying_code_is_refused_and_its_code_never_runs(
    clean_baseline, tmp_path, output, make, stage, message
):
    repo = clean_baseline.repo
    marker = tmp_path / "code-ran"
    make(repo / output, marker)
    result = dvc(repo, "repro", "--single-item", stage, check=False)
    assert result.returncode != 0
    assert f"ERROR: failed to reproduce '{stage}'" in result.stderr
    assert_one_error(result.stderr, message)
    assert not marker.exists()
    assert_nothing_partial(clean_baseline, tampered=(output,))
    assert_restored(clean_baseline)


def test_the_markers_are_written_when_loaded_unsafely(tmp_path):
    """The check above can fail: loading either file without safe mode runs its code."""
    model, arrays = tmp_path / "model.keras", tmp_path / "arrays.npz"
    model.touch()
    arrays.touch()
    model_with_code(model, tmp_path / "from-model")
    npz_with_pickle(arrays, tmp_path / "from-npz")
    assert not (tmp_path / "from-npz").exists()
    keras.saving.load_model(model, safe_mode=False).predict(np.zeros((1, 28, 28)), verbose=0)
    with np.load(arrays, allow_pickle=True) as loaded:
        loaded["images"]
    assert (tmp_path / "from-model").exists() and (tmp_path / "from-npz").exists()

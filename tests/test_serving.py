"""digits-export: a SavedModel predicting what the .keras model predicts, written atomically."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import bundled_mnist
from digits import models, serving
from digits.cli import export
from digits.preparation import scale


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained_model):
    out = tmp_path_factory.mktemp("serving") / "saved_model"
    assert export.main(["--model", str(trained_model), "--out", str(out)]) == 0
    return out


def test_the_export_predicts_what_the_keras_model_predicts(exported, trained_model):
    images = scale(bundled_mnist("test", 500)[0])
    expected = models.load_model(trained_model).predict(images, batch_size=500, verbose=0)
    found = serving.serving_function(exported)(images)
    assert found.shape == (500, 10)
    assert np.array_equal(found.argmax(axis=1), expected.argmax(axis=1))
    assert np.allclose(found, expected, rtol=0, atol=1e-5)


def test_an_export_replaces_the_old_one_whole_and_leaves_nothing_beside_it(tmp_path, trained_model):
    out = tmp_path / "saved_model"
    out.mkdir()
    (out / "stale.txt").write_text("from an old export")
    model = models.load_model(trained_model)
    serving.export_saved_model(model, out)
    assert (out / "saved_model.pb").is_file() and not (out / "stale.txt").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["saved_model"]


def test_an_export_that_disagrees_with_the_model_keeps_the_old_one(
    tmp_path, trained_model, monkeypatch
):
    out = tmp_path / "saved_model"
    out.mkdir()
    (out / "old.txt").write_text("the old export")
    monkeypatch.setattr(serving, "TOLERANCE", -1.0)  # no export can pass the check now
    with pytest.raises(RuntimeError, match="disagrees with the model"):
        serving.export_saved_model(models.load_model(trained_model), out)
    assert [path.name for path in out.iterdir()] == ["old.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["saved_model"]


def test_exporting_a_missing_model_says_how_to_get_one(tmp_path, capsys):
    assert export.main(["--model", str(tmp_path / "no.keras"), "--out", str(tmp_path / "x")]) == 2
    assert "`dvc repro` or fetch it with `dvc pull`" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

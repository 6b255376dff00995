"""The installed `digits-predict`, run on MNIST test digits written as picture files.

A small model is trained once per session (conftest.trained_model). The first
2,000 test digits are written three ways: untouched 28x28 PNGs, inverted 28x28
PNGs, and enlarged (1.5 to 3.5 times), off-centre on a larger canvas, every
other one inverted. Untouched and inverted digits must get exactly the model's
predictions on the normalized arrays; the enlarged ones an accuracy within one
point of the model's on the same digits.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import bundled_mnist, run
from digits import models
from digits.cli import predict
from digits.preparation import scale

COUNT = 2000
COMMAND = str(Path(sys.executable).parent / "digits-predict")


def enlarged(digit: np.ndarray, rng: np.random.Generator, invert: bool) -> np.ndarray:
    """The digit as a sharp, larger picture placed off-centre on a larger canvas.

    Upscaling blurs; a real picture of a written digit has sharp strokes, as the
    binary NIST scans MNIST was made from had, so the upscaled digit is thresholded.
    """
    side = round(28 * rng.uniform(1.5, 3.5))
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC))
    height, width = side + rng.integers(10, 60, size=2)
    canvas = np.zeros((height, width), dtype=np.uint8)
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    canvas[top : top + side, left : left + side] = np.where(big >= 128, 255, 0)
    return 255 - canvas if invert else canvas


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return bundled_mnist("test", COUNT)


@pytest.fixture(scope="module")
def model_predictions(trained_model, digits) -> np.ndarray:
    """The model's probabilities on the normalized test arrays, as the evaluate stage gets them."""
    return models.load_model(trained_model).predict(scale(digits[0]), batch_size=1000, verbose=0)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, trained_model, digits) -> dict[str, dict]:
    """Run the real command once on every rendered picture; its JSON output by file name."""
    folder = tmp_path_factory.mktemp("rendered")
    rng = np.random.default_rng(0)
    for kind in ("plain", "inverted", "enlarged"):
        (folder / kind).mkdir()
    for index, digit in enumerate(digits[0]):
        Image.fromarray(digit).save(folder / "plain" / f"{index:04d}.png")
        Image.fromarray(255 - digit).save(folder / "inverted" / f"{index:04d}.png")
        picture = enlarged(digit, rng, invert=index % 2 == 1)
        Image.fromarray(picture).save(folder / "enlarged" / f"{index:04d}.png")
    np.save(folder / "normalized.npy", scale(digits[0][:100]))
    result = run([COMMAND, "--model", str(trained_model), "--json", str(folder)], folder)
    assert "error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(line["file"]).relative_to(folder).as_posix(): line for line in lines}
    assert len(by_name) == len(lines) == 3 * COUNT + 100
    return by_name


def results(predicted: dict, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = [predicted[name] for name in names]
    return np.array([r["digit"] for r in rows]), np.array([r["probability"] for r in rows])


@pytest.mark.parametrize("kind", ["plain", "inverted"])
def test_28x28_digits_get_exactly_the_models_predictions(predicted, model_predictions, kind):
    digits, probabilities = results(predicted, [f"{kind}/{i:04d}.png" for i in range(COUNT)])
    assert np.array_equal(digits, model_predictions.argmax(axis=1))
    # JSON holds 6 decimals; batches of another size may round the last float bit differently.
    assert np.allclose(probabilities, model_predictions.max(axis=1), rtol=0, atol=2e-6)


def test_normalized_arrays_in_a_npy_stack_get_exactly_the_models_predictions(
    predicted, model_predictions
):
    digits, _ = results(predicted, [f"normalized.npy[{i}]" for i in range(100)])
    assert np.array_equal(digits, model_predictions[:100].argmax(axis=1))


def test_enlarged_off_centre_and_inverted_digits_keep_the_accuracy(
    predicted, model_predictions, digits
):
    labels = digits[1]
    found, _ = results(predicted, [f"enlarged/{i:04d}.png" for i in range(COUNT)])
    accuracy = np.mean(found == labels)
    model_accuracy = np.mean(model_predictions.argmax(axis=1) == labels)
    assert model_accuracy > 0.95  # a decent model, or this test proves little
    assert abs(accuracy - model_accuracy) <= 0.01, (accuracy, model_accuracy)


def test_json_lines_hold_the_file_the_digit_and_the_top_list(predicted):
    line = predicted["plain/0000.png"]
    assert set(line) == {"file", "digit", "probability", "top"}
    assert line["top"] == [{"digit": line["digit"], "probability": line["probability"]}]


def test_bad_files_are_named_one_line_each_and_the_others_still_predicted(
    tmp_path, trained_model, digits
):
    for index in range(3):
        Image.fromarray(digits[0][index]).save(tmp_path / f"good{index}.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "cut.png").write_bytes((tmp_path / "good0.png").read_bytes()[:100])
    Image.new("L", (40, 30), 255).save(tmp_path / "blank.png")
    with (tmp_path / "huge.jpg").open("wb") as handle:
        handle.truncate(65 * 2**20)  # sparse: no disk space used
    np.save(tmp_path / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    missing = tmp_path / "absent.png"
    result = run(
        [COMMAND, "--model", str(trained_model), str(tmp_path), str(missing)],
        tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert sorted(line.split(":")[0] for line in result.stdout.splitlines()) == [
        str(tmp_path / f"good{index}.png") for index in range(3)
    ]
    expected = {
        missing: "no such file or folder",
        tmp_path / "blank.png": "no digit found: the image is blank (contrast 0/255)",
        tmp_path / "cut.png": "damaged or truncated picture",
        tmp_path / "empty.png": "empty file",
        tmp_path / "huge.jpg": "file too large (65 MiB; the limit is 64 MiB)",
        tmp_path / "notes.png": "not a PNG, JPEG or .npy file",
        tmp_path / "objects.npy": "not a readable .npy array",
    }
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(expected) and "Traceback" not in result.stderr, result.stderr
    for path, message in expected.items():
        assert any(line.startswith(f"error: {path}: {message}") for line in errors), path


def test_a_missing_model_says_how_to_get_one(tmp_path, capsys, digits):
    Image.fromarray(digits[0][0]).save(tmp_path / "digit.png")
    status = predict.main([str(tmp_path / "digit.png"), "--model", str(tmp_path / "no.keras")])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"{tmp_path / 'no.keras'}: model not found" in error
    assert "`dvc repro`" in error and "`dvc pull`" in error


def test_a_model_for_other_inputs_is_refused(tmp_path, capsys, digits):
    inputs = keras.Input((32, 32))
    other = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    other.save(tmp_path / "other.keras")
    Image.fromarray(digits[0][0]).save(tmp_path / "digit.png")
    status = predict.main([str(tmp_path / "digit.png"), "--model", str(tmp_path / "other.keras")])
    assert status == 2
    assert "needs one that maps (28, 28) images" in capsys.readouterr().err


def test_nothing_to_predict_is_an_error(tmp_path, capsys):
    assert predict.main([str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'absent'}: no such file or folder",
        "error: no pictures to predict",
    ]


def test_top_k_as_text_and_csv(tmp_path, capsys, trained_model, digits):
    for index in range(2):
        Image.fromarray(digits[0][index]).save(tmp_path / f"{index}.png")
    model = ["--model", str(trained_model)]
    assert predict.main([str(tmp_path), *model, "--top", "3", "--csv"]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["file", "rank", "digit", "probability"]
    assert [(Path(r[0]).name, r[1]) for r in rows[1:]] == [
        (f"{i}.png", str(rank)) for i in range(2) for rank in (1, 2, 3)
    ]
    chances = [float(r[3]) for r in rows[1:4]]
    assert chances == sorted(chances, reverse=True) and sum(chances) <= 1.000001
    assert predict.main([str(tmp_path / "0.png"), *model, "--top", "2"]) == 0
    text = capsys.readouterr().out.strip()
    assert text.startswith(f"{tmp_path / '0.png'}: {rows[1][2]} (") and text.count("%") == 2
    assert predict.main([str(tmp_path / "0.png"), *model, "--top", "11"]) == 2
    assert "--top 11: the model knows only 10 classes" in capsys.readouterr().err


def test_the_commands_are_installed_with_the_project():
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["digits-predict"] == "digits.cli.predict:installed"
    assert scripts["digits-export"] == "digits.cli.export:installed"
    assert Path(COMMAND).is_file()


def test_the_installed_commands_pause_the_collector_for_their_imports_and_exit(tmp_path):
    """`console` pauses Python's cyclic garbage collector until `heavy_imports` ends, then
    freezes what the imports made and turns it on for the work, and freezes again before
    exit; `main` called directly, as tests call it, leaves the collector alone."""
    script = tmp_path / "command.py"
    script.write_text(
        "import gc\n"
        "from digits.cli import console, heavy_imports\n"
        "def main():\n"
        "    print('imports', gc.isenabled(), gc.get_freeze_count())\n"
        "    with heavy_imports():\n"
        "        import json\n"
        "    print('work', gc.isenabled(), gc.get_freeze_count() > 0)\n"
        "    global made\n"
        "    made = [[] for _ in range(1000)]\n"
        "    gc.collect()\n"
        "    print('collected', gc.get_freeze_count())\n"
        "    return 3\n"
        "main()\n"
        "print('status', console(main), gc.get_freeze_count())\n"
    )
    lines = run([sys.executable, str(script)], tmp_path).stdout.splitlines()
    assert lines[:3] == ["imports True 0", "work True False", "collected 0"]
    assert lines[3:5] == ["imports False 0", "work True True"]
    collected = int(lines[5].split()[1])
    status, frozen = lines[6].split()[1:]
    assert status == "3" and int(frozen) >= collected + 1000  # the work's lists, frozen

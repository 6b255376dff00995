"""Batching, ranking and progress, with a stand-in model: no TensorFlow needed."""

import io
import sys

import numpy as np
import pytest
from PIL import Image

from digits import prediction
from digits.preparation import scale


class Recorder:
    """A 'model' that records each batch and says every picture is a 3 (or 8, second)."""

    def __init__(self):
        self.batches = []

    def predict_on_batch(self, x):
        self.batches.append(x)
        probabilities = np.full((len(x), 10), 0.01, dtype=np.float32)
        probabilities[:, 3], probabilities[:, 8] = 0.82, 0.1
        return probabilities


def test_rank_orders_classes_by_probability_and_breaks_ties_to_the_lower_class():
    probabilities = np.array([[0.1, 0.6, 0.3], [0.4, 0.2, 0.4]])
    digits, chances = prediction.rank(probabilities, top=2)
    assert digits.tolist() == [[1, 2], [0, 2]]
    assert chances.tolist() == [[0.6, 0.3], [0.4, 0.4]]
    assert prediction.rank(probabilities, top=1)[0][:, 0].tolist() == [
        int(i) for i in probabilities.argmax(axis=1)
    ]


def test_pictures_are_predicted_in_batches_in_order_and_bad_files_fail_alone(tmp_path):
    digits = np.zeros((7, 28, 28), dtype=np.uint8)
    digits[:, 4:24, 11:17] = 255  # a '1', 20 tall, centred
    paths = []
    for index, digit in enumerate(digits):
        paths.append(tmp_path / f"{index}.png")
        Image.fromarray(digit).save(paths[-1])
    (tmp_path / "bad.png").write_text("not a picture")
    paths.insert(3, tmp_path / "bad.png")
    model = Recorder()
    outcomes = list(prediction.predict(model, paths, top=2, batch_size=3))
    assert [len(batch) for batch in model.batches] == [3, 3, 1]
    assert np.array_equal(np.concatenate(model.batches), scale(digits))
    failures = [o for o in outcomes if isinstance(o, prediction.Failure)]
    assert failures == [
        prediction.Failure(
            str(tmp_path / "bad.png"), f"{tmp_path / 'bad.png'}: not a PNG, JPEG or .npy file"
        )
    ]
    predictions = [o for o in outcomes if isinstance(o, prediction.Prediction)]
    assert [p.name for p in predictions] == [str(tmp_path / f"{i}.png") for i in range(7)]
    assert {p.digits for p in predictions} == {(3, 8)}
    assert predictions[0].probabilities == (np.float32(0.82), np.float32(0.1))


def test_a_picture_without_a_digit_fails_with_its_name(tmp_path):
    np.save(tmp_path / "stack.npy", np.stack([np.zeros((28, 28)), np.eye(28)]))
    outcomes = list(prediction.predict(Recorder(), [tmp_path / "stack.npy"]))
    assert outcomes[0] == prediction.Failure(
        f"{tmp_path / 'stack.npy'}[0]",
        f"{tmp_path / 'stack.npy'}[0]: no digit found: the image is blank (contrast 0/255)",
    )
    assert isinstance(outcomes[1], prediction.Prediction)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_is_shown_on_a_terminal_when_asked(tmp_path, monkeypatch, progress):
    np.save(tmp_path / "digit.npy", np.eye(28))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    outcomes = list(prediction.predict(Recorder(), [tmp_path / "digit.npy"] * 3, progress=progress))
    assert len(outcomes) == 3
    assert ("0/3 [" in terminal.getvalue()) is progress  # the bar, counting files

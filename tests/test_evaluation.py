"""Test-set metrics on tiny arrays, checked by hand and against Keras' own loss."""

import numpy as np
import pytest

from digits import evaluation

LABELS = np.array([0, 0, 1, 2, 2, 2])
PROBABILITIES = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],  # 0 predicted as 1
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
        [0.2, 0.2, 0.6],
        [0.0, 0.9, 0.1],  # 2 predicted as 1
    ],
    dtype=np.float32,
)


def test_confusion_matrix_rows_are_true_classes():
    predicted = PROBABILITIES.argmax(axis=1)
    assert evaluation.confusion_matrix(LABELS, predicted, 3).tolist() == [
        [1, 1, 0],
        [0, 1, 0],
        [0, 1, 2],
    ]


def test_per_class_scores_by_hand():
    scores = evaluation.per_class(np.array([[1, 1, 0], [0, 1, 0], [0, 1, 2]]))
    assert scores["0"] == {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2}
    assert scores["1"] == {"precision": 0.333333, "recall": 1.0, "f1": 0.5, "support": 1}
    assert scores["2"]["recall"] == 0.666667


def test_a_class_never_predicted_scores_zero_not_nan():
    scores = evaluation.per_class(np.array([[2, 0], [1, 0]]))
    assert scores["1"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_summary_and_loss_match_keras():
    import keras

    summary = evaluation.summarize(LABELS, PROBABILITIES)
    assert summary["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert summary["samples"] == 6
    expected = float(keras.losses.SparseCategoricalCrossentropy()(LABELS, PROBABILITIES))
    assert summary["loss"] == pytest.approx(expected, rel=1e-5)
    assert set(summary["per_class"]) == {"0", "1", "2"}


def test_predictions_csv_is_what_pandas_writes():
    import pandas as pd

    labels = np.array([7, 2, 1, 0], dtype=np.uint8)
    predicted = np.array([7, 2, 7, 0], dtype=np.int64)
    expected = pd.DataFrame({"actual": labels, "predicted": predicted}).to_csv(index=False)
    assert (
        evaluation.predictions_csv(labels, predicted)
        == expected
        == ("actual,predicted\n7,7\n2,2\n1,7\n0,0\n")
    )

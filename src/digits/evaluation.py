"""Test-set metrics from predicted class probabilities: pure NumPy, no TensorFlow."""

from __future__ import annotations

import numpy as np

# Keras clips probabilities to [epsilon, 1 - epsilon] before taking the log.
EPSILON = 1e-7


def cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean categorical cross-entropy of integer `labels` under `probabilities`, as Keras."""
    chosen = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    return float(-np.mean(np.log(np.clip(chosen, EPSILON, 1 - EPSILON))))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    cells = labels.astype(np.int64) * num_classes + predicted
    return np.bincount(cells, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class(confusion: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class (0 where undefined)."""
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return {
        str(label): {
            "precision": round(float(precision[label]), 6),
            "recall": round(float(recall[label]), 6),
            "f1": round(float(f1[label]), 6),
            "support": int(support[label]),
        }
        for label in range(len(confusion))
    }


def summarize(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Loss, accuracy, macro averages and per-class scores, as a JSON-ready dict."""
    num_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    classes = per_class(confusion_matrix(labels, predicted, num_classes))
    macro = {
        name: round(float(np.mean([scores[name] for scores in classes.values()])), 6)
        for name in ("precision", "recall", "f1")
    }
    return {
        "loss": round(cross_entropy(labels, probabilities), 6),
        "accuracy": round(float(np.mean(predicted == labels)), 6),
        "samples": len(labels),
        "macro": macro,
        "per_class": classes,
    }


def predictions_csv(labels: np.ndarray, predicted: np.ndarray) -> str:
    """`actual,predicted` per sample, the table of DVC's confusion plot template.

    Written by hand rather than with pandas: two integer columns need no library, and
    importing pandas cost the evaluate stage about 0.4 s, once per experiment of a sweep.
    """
    rows = "".join(f"{int(a)},{int(p)}\n" for a, p in zip(labels, predicted, strict=True))
    return "actual,predicted\n" + rows

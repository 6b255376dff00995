"""The report's text and figures, from tiny inputs."""

import numpy as np
import pandas as pd
import pytest

from digits import reporting
from digits.errors import InputError


def write_curves(live):
    for split in ("train", "eval"):
        for metric in ("loss", "accuracy"):
            folder = live / "plots" / "metrics" / split
            folder.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"step": [0, 1], metric: [0.5, 0.25]}).to_csv(
                folder / f"{metric}.tsv", sep="\t", index=False
            )


def test_curves_are_read_from_dvclive_files(tmp_path):
    write_curves(tmp_path)
    curves = reporting.read_curves(tmp_path)
    assert len(curves) == 8
    assert set(curves["split"]) == {"train", "validation"}
    reporting.plot_curves(curves, tmp_path / "curves.png", dpi=40)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_curves_say_which_file(tmp_path):
    with pytest.raises(InputError, match="train/loss.tsv: training curve not found"):
        reporting.read_curves(tmp_path)


def test_figures_are_written_and_reproducible(tmp_path):
    confusion = np.array([[5, 1], [0, 4]])
    reporting.plot_confusion(confusion, tmp_path / "a.png", dpi=40)
    reporting.plot_confusion(confusion, tmp_path / "b.png", dpi=40)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    images = np.zeros((3, 28, 28), np.float32)
    reporting.plot_misclassified(images, [1, 2, 3], [7, 7, 7], tmp_path / "m.png", dpi=40)
    assert (tmp_path / "m.png").stat().st_size > 0


def test_markdown_has_headline_table_and_params():
    metrics = {
        "accuracy": 0.9912,
        "loss": 0.03,
        "samples": 10000,
        "macro": {"f1": 0.99},
        "per_class": {"0": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}},
    }
    text = reporting.render_markdown(
        metrics,
        {"train": {"samples": 54000}, "test": {"samples": 10000}},
        {"train": {"epochs": 4, "convnet": {"conv_filters": (32, 64)}}},
        mistakes=88,
        shown=36,
    )
    assert "**Test accuracy 99.12%**" in text
    assert "| 0 | 1.0000 | 0.5000 | 0.6667 | 2 |" in text
    assert "first 36 of 88" in text
    assert "`convnet.conv_filters=[32, 64]`" in text
    assert "train 54,000, test 10,000 images" in text

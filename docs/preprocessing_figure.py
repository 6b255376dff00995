"""Draw docs/preprocessing.png: MNIST's recipe, step by step, on a photo-like digit.

    python docs/preprocessing_figure.py

The picture is made from an MNIST test digit: enlarged, made dark on grey, noisy
paper and placed off-centre, the way a phone photo of a written digit looks.
"""

import gzip
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from digits import idx, preprocessing
from digits.datasets import MNIST

ROOT = Path(__file__).resolve().parents[1]
INDEX = 0  # the first test digit, a 7


def photo_like(digit: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    big = np.asarray(Image.fromarray(digit).resize((84, 84), Image.Resampling.BICUBIC))
    ink = np.zeros((120, 160))
    ink[20:104, 60:144] = np.where(big >= 128, 1.0, 0.0)
    paper = 205 - 150 * ink + rng.normal(0, 6, ink.shape)
    return np.clip(paper, 0, 255).astype(np.uint8)


def main() -> None:
    entry = MNIST.file("test", "images")
    data = gzip.decompress((ROOT / "data/bundled/mnist" / entry.archive_name).read_bytes())
    picture = photo_like(idx.decode(data, entry.name, entry.dimensions)[INDEX])
    lifted = preprocessing.ink(preprocessing.light_on_dark(picture))
    cropped = preprocessing.crop(lifted)
    fitted = preprocessing.fit(cropped)
    steps = [
        (picture, f"picture, {picture.shape[1]}x{picture.shape[0]}\ndark ink on grey paper"),
        (lifted, "inverted, background\nlifted to black"),
        (cropped, f"cropped to the ink\n{cropped.shape[1]}x{cropped.shape[0]}"),
        (fitted, f"fitted into 20x20\n{fitted.shape[1]}x{fitted.shape[0]}"),
        (preprocessing.centre(fitted), "centred by mass\nin 28x28: model input"),
    ]
    figure = Figure(figsize=(10, 2.6))
    for number, (image, title) in enumerate(steps, start=1):
        axes = figure.add_subplot(1, len(steps), number)
        axes.imshow(image, cmap="gray", vmin=0, vmax=255)
        axes.set_title(title, fontsize=9)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.tight_layout()
    figure.savefig(ROOT / "docs/preprocessing.png", dpi=90)


if __name__ == "__main__":
    main()

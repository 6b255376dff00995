"""MNIST's recipe on tiny arrays: pixel ranges, grayscale, the pass-through rule, each step."""

import numpy as np
import pytest
from PIL import Image

from digits import preprocessing
from digits.errors import InputError
from digits.preparation import scale


def ring(height: int, width: int, thickness: int) -> np.ndarray:
    """A white ellipse outline on black: a '0' of the given size."""
    rows, columns = np.mgrid[:height, :width]
    radius = ((rows - (height - 1) / 2) / (height / 2)) ** 2 + (
        (columns - (width - 1) / 2) / (width / 2)
    ) ** 2
    inner = 1 - 2 * thickness / min(height, width)
    return np.where((radius <= 1) & (radius >= inner**2), 255, 0).astype(np.uint8)


def mnist_like() -> np.ndarray:
    """A 28x28 digit as MNIST has them: 20 pixels tall, centre of mass at (14, 14)."""
    field = np.zeros((28, 28), dtype=np.uint8)
    field[4:24, 8:20] = ring(20, 12, 3)
    return field


def on_canvas(digit: np.ndarray, shape: tuple[int, int], top: int, left: int) -> np.ndarray:
    canvas = np.zeros(shape, dtype=np.uint8)
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return canvas


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.array([[False, True]]), [[0, 255]]),
        (np.array([[0, 257, 65535]], dtype=np.uint16), [[0, 1, 255]]),
        (np.array([[0.0, 0.5, 1.0]]), [[0, 128, 255]]),
        (np.array([[0.0, 2.4, 254.6]], dtype=np.float32), [[0, 2, 255]]),
        (np.array([[0, 7, 255]], dtype=np.int64), [[0, 7, 255]]),
    ],
)
def test_to_uint8_reads_each_pixel_range(pixels, expected):
    result = preprocessing.to_uint8(pixels)
    assert result.dtype == np.uint8
    assert result.tolist() == expected


def test_to_uint8_undoes_the_normalize_scaling_exactly():
    every_value = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(preprocessing.to_uint8(scale(every_value)), every_value)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.array([[-1, 5]]), r"span -1..5; expected 0..255 or 0..1"),
        (np.array([[0.0, 300.0]]), r"span 0.0..300.0"),
        (np.array([[0.0, np.nan]]), "NaN or infinity"),
        (np.array([["a", "b"]]), "are not numbers"),
    ],
)
def test_to_uint8_refuses_other_values(pixels, message):
    with pytest.raises(InputError, match=message):
        preprocessing.to_uint8(pixels)


def test_grayscale_weighs_colours_as_pillow_does():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(preprocessing.grayscale(rgb), expected)
    assert preprocessing.grayscale(rgb[..., :1]).shape == (5, 7)


@pytest.mark.parametrize(("ink", "background"), [(0, 255), (255, 0)])
def test_transparent_pixels_take_the_colour_that_keeps_the_ink_visible(ink, background):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = ink
    rgba[1:3, 1:3, 3] = 255  # opaque ink in the middle, transparent around it
    gray = preprocessing.grayscale(rgba)
    assert gray[0, 0] == background and gray[1, 1] == ink


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((2, 3, 5), dtype=np.uint8), r"shape \(2, 3, 5\) are not one image"),
        (np.zeros((0, 4), dtype=np.uint8), "the image is empty"),
    ],
)
def test_grayscale_refuses_what_is_not_one_image(pixels, message):
    with pytest.raises(InputError, match=message):
        preprocessing.grayscale(pixels)


def test_the_mnist_format_rule():
    digit = mnist_like()
    assert preprocessing.is_mnist_format(digit)
    assert not preprocessing.is_mnist_format(255 - digit)  # dark on light: not yet
    assert not preprocessing.is_mnist_format(np.pad(digit, ((0, 1), (0, 0))))  # 29x28
    assert not preprocessing.is_mnist_format(np.roll(digit, 3, axis=1))  # off-centre
    wide = np.zeros((28, 28), dtype=np.uint8)
    wide[4:24, 3:24] = ring(20, 21, 3)  # 21 pixels wide: larger than MNIST's box
    assert not preprocessing.is_mnist_format(wide)
    assert not preprocessing.is_mnist_format(np.zeros((28, 28), dtype=np.uint8))


@pytest.mark.parametrize("invert", [False, True])
def test_an_mnist_style_image_passes_through_unchanged(invert):
    digit = mnist_like()
    assert np.array_equal(preprocessing.prepare(255 - digit if invert else digit), digit)


def test_a_large_dark_off_centre_digit_is_made_mnist_style():
    picture = 255 - on_canvas(ring(90, 50, 12), (150, 200), top=10, left=120)
    result = preprocessing.prepare(picture)
    assert result.shape == (28, 28) and result.dtype == np.uint8
    assert preprocessing.is_mnist_format(result)
    rows, columns = np.flatnonzero(result.any(axis=1)), np.flatnonzero(result.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20  # the longer side fills the 20x20 box
    assert 9 <= columns[-1] - columns[0] + 1 <= 13  # and the aspect ratio is kept
    assert np.all(np.abs(preprocessing.centre_of_mass(result) - 14) <= 0.5)
    assert result.max() == 255 and result[0].max() == 0
    assert np.array_equal(preprocessing.prepare(result), result)  # a fixed point


def test_a_small_digit_is_scaled_up_to_the_box():
    result = preprocessing.prepare(on_canvas(ring(8, 6, 2), (28, 28), top=1, left=1))
    assert np.flatnonzero(result.any(axis=1)).size == 20


def test_ink_lifts_a_noisy_grey_background_to_black_and_crop_ignores_the_specks_left():
    rng = np.random.default_rng(0)
    paper = rng.normal(200, 6, (60, 60))
    paper[20:40, 25:32] = 40  # a dark stroke
    lifted = preprocessing.ink(preprocessing.light_on_dark(np.clip(paper, 0, 255).astype(np.uint8)))
    assert lifted[20:40, 25:32].min() == 255
    assert np.count_nonzero(lifted) - 20 * 7 < 0.01 * lifted.size
    assert preprocessing.crop(lifted).shape == (20, 7)


@pytest.mark.parametrize("level", [0, 128, 255])
def test_a_blank_picture_has_no_digit(level):
    with pytest.raises(InputError, match="no digit found: the image is blank"):
        preprocessing.prepare(np.full((30, 30), level, dtype=np.uint8))


def test_crop_ignores_an_isolated_speck():
    image = on_canvas(ring(20, 10, 3), (50, 50), top=5, left=5).astype(np.float64)
    image[45, 45] = 255
    assert preprocessing.crop(image).shape == (20, 10)


def test_fit_keeps_the_aspect_ratio():
    assert preprocessing.fit(np.ones((40, 10)) * 255).shape == (20, 5)
    assert preprocessing.fit(np.ones((3, 1)) * 255).shape == (20, 7)


def test_centre_puts_the_centre_of_mass_at_14_14_and_clips_what_falls_outside():
    blob = np.zeros((20, 20))
    blob[0:3, 0:3] = 255  # all the mass in a corner: pasted far up and left, then clipped
    field = preprocessing.centre(blob)
    assert field.shape == (28, 28)
    assert np.all(np.abs(preprocessing.centre_of_mass(field) - 14) <= 0.5)

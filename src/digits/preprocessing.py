"""MNIST's own recipe for turning a picture of one digit into a 28x28 model input.

MNIST was made by fitting each digit into a 20x20 box, keeping its aspect ratio
(anti-aliasing made it grey), and pasting that into a 28x28 field so that the
centre of mass of its pixels lands in the middle: in MNIST the centre of mass of
every digit lies within half a pixel of row 14, column 14. `prepare` does the
same to any picture: grayscale, invert when the digit is dark on light, lift the
ink off the background, crop to the ink, fit into 20x20, centre by mass.

A picture that is already in MNIST's format passes through unchanged (see
`is_mnist_format`), so an MNIST digit saved as a PNG gets exactly the pixels the
model was trained and tested on. Pure functions on NumPy arrays; Pillow only
resamples. Bad pixels raise InputError; the caller adds the file's name.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from digits.errors import InputError

SIZE = 28  # side of MNIST's images
BOX = 20  # side of the box each digit is fitted into
CENTRE = 14.0  # row and column where MNIST puts every digit's centre of mass
MIN_CONTRAST = 32  # ink must stand this far (of 255) above the background
NOISE_SIGMAS = 3.0  # background noise allowance, in robust standard deviations
INK_FLOOR = 0.1  # and at least this share of the way from the background to the darkest ink
# ITU-R 601-2 luma weights in 1/65536ths, as Pillow's RGB -> L conversion.
LUMA = np.array([19595, 38470, 7471], dtype=np.uint32)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Pixel values as uint8 in 0..255, from whatever range the array uses.

    bool becomes 0/255; uint16 (16-bit PNGs) is divided by 257; other integers
    must already lie in 0..255; floats in [0, 1] are multiplied by 255 (so the
    scaled arrays of `normalize` come back exactly), floats in [0, 255] rounded.
    """
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * np.uint8(255)
    if pixels.dtype == np.uint16:
        return np.round(pixels / 257.0).astype(np.uint8)
    if not (np.issubdtype(pixels.dtype, np.integer) or np.issubdtype(pixels.dtype, np.floating)):
        raise InputError(f"pixels of type {pixels.dtype} are not numbers")
    if pixels.size and not np.isfinite(pixels).all():
        raise InputError("pixels include NaN or infinity")
    low, high = (pixels.min(), pixels.max()) if pixels.size else (0, 0)
    if low < 0 or high > 255:
        raise InputError(f"pixel values span {low}..{high}; expected 0..255 or 0..1")
    if np.issubdtype(pixels.dtype, np.floating) and high <= 1:
        pixels = pixels.astype(np.float64) * 255.0
    return np.round(pixels).astype(np.uint8)


def grayscale(pixels: np.ndarray) -> np.ndarray:
    """(H, W) gray, (H, W, 1), gray + alpha, RGB or RGBA pixels as (H, W) uint8 luma.

    Transparent pixels take the background's colour: black under light ink,
    white under dark ink, so a digit drawn on a transparent canvas stays visible.
    """
    pixels = to_uint8(np.asarray(pixels))
    if pixels.ndim == 3 and pixels.shape[2] in (1, 2, 3, 4):
        channels = pixels.shape[2]
        colour = pixels[..., : 3 if channels >= 3 else 1]
        if colour.shape[2] == 3:
            luma = (colour.astype(np.uint32) @ LUMA + 0x8000) >> 16
        else:
            luma = colour[..., 0]
        if channels in (2, 4) and (pixels[..., -1] < 255).any():
            return _flatten(luma.astype(np.float64), pixels[..., -1] / 255.0)
        pixels = luma.astype(np.uint8)
    if pixels.ndim != 2:
        raise InputError(f"pixels of shape {pixels.shape} are not one image")
    if min(pixels.shape) == 0:
        raise InputError(f"the image is empty ({pixels.shape[1]}x{pixels.shape[0]} pixels)")
    return pixels


def _flatten(luma: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    weight = alpha.sum()
    ink_is_light = weight > 0 and (luma * alpha).sum() / weight > 127.5
    background = 0.0 if ink_is_light else 255.0
    return np.round(luma * alpha + background * (1 - alpha)).astype(np.uint8)


def is_mnist_format(image: np.ndarray) -> bool:
    """Whether a light-on-dark grayscale image already looks exactly like an MNIST digit.

    The rule: 28x28, a black background (the median of the border pixels is 0),
    ink (pixels above 0) within a 20x20 box, and its centre of mass within one
    pixel of (14, 14). Every MNIST digit passes; so does what `prepare` makes.
    """
    if image.shape != (SIZE, SIZE) or np.median(_border(image)) != 0 or not image.any():
        return False
    rows, columns = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    if rows[-1] - rows[0] >= BOX or columns[-1] - columns[0] >= BOX:
        return False
    return bool(np.all(np.abs(centre_of_mass(image) - CENTRE) <= 1.0))


def light_on_dark(gray: np.ndarray) -> np.ndarray:
    """Inverted when the background, the median of the border pixels, is light."""
    return 255 - gray if np.median(_border(gray)) > 127.5 else gray


def ink(image: np.ndarray) -> np.ndarray:
    """The light ink of a light-on-dark image on pure black, stretched to reach 255.

    The background is the median of the border pixels. Pixels within its noise
    (three robust standard deviations of the border, and at least INK_FLOOR of
    the way to the strongest ink) become 0. InputError when no ink stands out.
    """
    image = image.astype(np.float64)
    border = _border(image)
    background = np.median(border)
    noise = NOISE_SIGMAS * 1.4826 * np.median(np.abs(border - background))
    peak = image.max()
    floor = background + max(noise, INK_FLOOR * (peak - background))
    if peak - floor < MIN_CONTRAST:
        raise InputError(f"no digit found: the image is blank (contrast {peak - floor:.0f}/255)")
    return np.clip((image - floor) * (255.0 / (peak - floor)), 0.0, 255.0)


def crop(image: np.ndarray) -> np.ndarray:
    """The bounding box of the ink; isolated specks (removed by a 3x3 median) do not count."""
    mask = image > 0
    if min(image.shape) >= 3:
        smoothed = Image.fromarray(mask.astype(np.uint8) * np.uint8(255)).filter(
            ImageFilter.MedianFilter(3)
        )
        mask = np.asarray(smoothed) > 0 if np.asarray(smoothed).any() else mask
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def fit(image: np.ndarray, box: int = BOX) -> np.ndarray:
    """Resample so that the longer side is `box` pixels, keeping the aspect ratio."""
    height, width = image.shape
    factor = box / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(image.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 255.0)


def centre(image: np.ndarray) -> np.ndarray:
    """Paste into a black 28x28 field with the centre of mass nearest (14, 14); uint8."""
    pixels = np.round(image).astype(np.uint8)
    field = np.zeros((SIZE, SIZE), dtype=np.uint8)
    if not pixels.any():
        return field
    top, left = np.round(CENTRE - centre_of_mass(pixels)).astype(int)
    height, width = pixels.shape
    rows = slice(max(top, 0), min(top + height, SIZE))
    columns = slice(max(left, 0), min(left + width, SIZE))
    field[rows, columns] = pixels[
        rows.start - top : rows.stop - top, columns.start - left : columns.stop - left
    ]
    return field


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    """(row, column) of the centre of mass, pixel values as weights."""
    weights = image.astype(np.float64)
    total = weights.sum()
    rows = weights.sum(axis=1) @ np.arange(image.shape[0]) / total
    columns = weights.sum(axis=0) @ np.arange(image.shape[1]) / total
    return np.array([rows, columns])


def prepare(pixels: np.ndarray) -> np.ndarray:
    """Any picture of one digit as a 28x28 uint8 MNIST-style image (scale it for the model)."""
    image = light_on_dark(grayscale(pixels))
    if is_mnist_format(image):
        return image
    return centre(fit(crop(ink(image))))


def _border(image: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels."""
    if min(image.shape) <= 2:
        return image.ravel()
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])

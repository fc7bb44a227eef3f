"""Generate the synthetic sample images in this folder.

Usage::

    python sample_images/make_patterns.py [OUTPUT_DIR]

Writes, deterministically (no randomness):

* ``checkerboard.png`` - 64 x 64 uint8 gray, 8-px squares of 0 and 255 whose
  grid is shifted by 3 px, so the windows of a 2x2, 3x3, 4x4 or 8x8 pool
  straddle square edges: max grows the white squares, min grows the black
  ones and avg leaves grey seams (with 8x8 windows max is all white, min all
  black).
* ``gradient.png`` - 256 x 256 RGB: red rises left to right, green top to
  bottom, blue falls along the diagonal.
* ``pattern8x8.png`` - 8 x 8 uint8 gray with varied two-digit values, for
  textbook-style figures with the numbers written in the cells.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

CHECKER_SIZE = 64
CHECKER_SQUARE = 8
CHECKER_SHIFT = 3

PATTERN_8X8 = np.array(
    [
        [12, 45, 7, 80, 33, 61, 2, 90],
        [67, 23, 54, 19, 98, 14, 76, 41],
        [5, 88, 36, 62, 27, 50, 93, 18],
        [71, 30, 84, 9, 58, 39, 11, 64],
        [47, 95, 16, 73, 3, 86, 52, 25],
        [20, 56, 68, 42, 77, 31, 8, 99],
        [83, 1, 34, 91, 15, 60, 44, 70],
        [38, 74, 22, 57, 89, 26, 81, 13],
    ],
    dtype=np.uint8,
)


def checkerboard(size: int = CHECKER_SIZE, square: int = CHECKER_SQUARE, shift: int = CHECKER_SHIFT) -> np.ndarray:
    """(size, size) uint8 checkerboard of 0/255 squares, grid shifted by ``shift`` px."""
    index = (np.arange(size) + shift) // square
    parity = (index[:, None] + index[None, :]) % 2
    return (parity * 255).astype(np.uint8)


def gradient(size: int = 256) -> np.ndarray:
    """(size, size, 3) uint8 RGB gradient."""
    ramp = np.arange(size, dtype=np.int64) * 255 // (size - 1)
    red = np.broadcast_to(ramp[None, :], (size, size))
    green = np.broadcast_to(ramp[:, None], (size, size))
    blue = 255 - (red + green) // 2
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a gray or RGB image as PNG (OpenCV wants BGR channel order)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {path}")


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    write_png(out_dir / "checkerboard.png", checkerboard())
    write_png(out_dir / "gradient.png", gradient())
    write_png(out_dir / "pattern8x8.png", PATTERN_8X8)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

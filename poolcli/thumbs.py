"""Small pictures for pages: any image poolcli reads, as a few kilobytes of JPEG.

A thumbnail is made where the image already is (in the worker that pooled
it), so a run's page never re-reads outputs. Shrinking is poolcli's own
adaptive average pooling; the samples are first put on an 8-bit display
scale the way figures draw them (:func:`poolcli.figures.display_range`), and
alpha is composited over white.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import numpy as np

#: The long side of an image's thumbnail, in pixels.
THUMB_SIDE = 112
#: The long side of a figure's thumbnail (figures are wide: several panels in a row).
FIGURE_SIDE = 256
#: JPEG quality of thumbnails: small files; a thumbnail is a reminder, not the result.
QUALITY = 70
#: JPEG quality of a figure's thumbnail (the largest picture of a row).
FIGURE_QUALITY = 60


def displayable(image: np.ndarray) -> np.ndarray:
    """``image`` as 8-bit gray (H, W) or RGB (H, W, 3), drawn on the scale figures use.

    uint8 is kept; uint16 is divided by 257; other types are mapped from
    their :func:`~poolcli.figures.display_range` to 0..255. Alpha is
    composited over white; other channel counts show their first channel.
    """
    import numpy as np

    from .figures import display_range
    from .image_io import prepare_output

    if (image.ndim == 3 and image.shape[2] in (2, 4) and image.dtype in (np.uint8, np.uint16)) or (
        image.ndim == 3 and image.shape[2] in (2, 4) and image.dtype.kind == "f"
    ):
        image = prepare_output(image, flatten=True)
    elif image.ndim == 3 and image.shape[2] not in (1, 3):
        image = image[:, :, 0] if image.shape[2] != 4 else image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return np.rint(image / 257.0).astype(np.uint8)
    lo, hi = display_range(image)
    scaled = (np.nan_to_num(image.astype(np.float64), nan=lo) - lo) / (hi - lo)
    return np.rint(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def shrink(image: np.ndarray, side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """``image`` reduced so its long side is at most ``side`` (never enlarged), and the scale per axis.

    Adaptive average pooling (:func:`poolcli.pooling.adaptive_pool`) does the shrinking.
    """
    from .pooling import adaptive_pool

    h, w = image.shape[:2]
    factor = min(1.0, side / max(h, w))
    th, tw = max(1, round(h * factor)), max(1, round(w * factor))
    if (th, tw) == (h, w):
        return image, (1.0, 1.0)
    small = cast("np.ndarray", adaptive_pool(image, (th, tw), "avg"))  # an array in, an array out
    return small, (th / h, tw / w)


def thumbnail(image: np.ndarray, side: int = THUMB_SIDE, quality: int = QUALITY) -> bytes:
    """A JPEG of ``image`` (any layout and dtype poolcli reads) with its long side at most ``side``.

    A result smaller than ``side`` is enlarged by whole pixels (nearest
    neighbour), so pooled blocks stay visible and no thumbnail is tiny.
    """
    import numpy as np

    from .image_io import encode_image

    small, _ = shrink(displayable(image), side)
    h, w = small.shape[:2]
    grow = max(1, side // max(h, w))
    if grow > 1:
        small = np.repeat(np.repeat(small, grow, axis=0), grow, axis=1)
    return encode_image("thumbnail.jpg", np.ascontiguousarray(small), quality=quality)

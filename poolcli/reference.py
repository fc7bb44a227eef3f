"""Plain NumPy reference implementation ("oracle") of 2-D image pooling.

Everything here is written for clarity, not speed: each output value is
computed by literally visiting the taps of its window, the way the textbook
formula reads.  Fast implementations elsewhere in ``poolcli`` are tested
against these functions, and these functions are in turn tested against
PyTorch (``torch.nn.functional.max_pool2d`` and friends).

Conventions
-----------
* An image is an ``ndarray`` of shape ``(H, W)`` or ``(H, W, C)``.  Channels
  are pooled independently and the output keeps the number of dimensions.
* Supported dtypes: ``uint8``, ``int8``, ``uint16``, ``int16``, ``int32``, ``float32``
  and ``float64``, in either byte order; results are in the machine's order.
* Per axis, with input length ``n``, kernel ``k``, stride ``s``, padding
  ``p``, dilation ``d`` and effective kernel ``e = d * (k - 1) + 1``, window
  ``i`` starts at ``i * s - p`` and its taps are ``start + j * d`` for
  ``j = 0 .. k - 1``.  Only taps inside ``[0, n)`` carry image values; the
  padding never wins a max/min and adds zero to a sum.
* Integer averages are the exact rational ``sum / divisor`` rounded half to
  even with integer arithmetic, then clipped to the dtype's range.  Float
  averages are computed in float64 and cast back to the input dtype.

Every invalid argument raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .spec import PoolSpec

__all__ = [
    "adaptive_pool",
    "apply",
    "blur_pool",
    "fractional_pool",
    "global_pool",
    "lp_pool",
    "maxblur_pool",
    "median_pool",
    "output_length",
    "pool",
    "pool_indices",
    "softpool",
    "stochastic_pool",
    "unpool",
    "unpool_pool",
]

Reduce = Literal["max", "avg", "min"]
IntPair = int | tuple[int, int]
SizePair = int | tuple[int | None, int | None] | None

SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(name) for name in ("uint8", "int8", "uint16", "int16", "int32", "float32", "float64")
)
_REDUCTIONS = ("max", "avg", "min")


# ----------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """True for Python/NumPy integers, but not for booleans."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _pair(value: Any, name: str) -> tuple[int, int]:
    """Turn an int or a 2-sequence of ints into an ``(h, w)`` tuple."""
    if _is_int(value):
        return int(value), int(value)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_int(v) for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def _check_image(image: object) -> np.ndarray:
    """Validate an image and return it as a 3-D ``(H, W, C)`` view."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy ndarray, got {type(image).__name__}")
    if not image.dtype.isnative:  # byte-swapped samples: the same values, in the machine's order
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype not in SUPPORTED_DTYPES:
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise ValueError(f"unsupported image dtype {image.dtype}; expected one of {names}")
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    elif image.ndim != 3:
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    if 0 in image.shape:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    return image


def _check_reduce(op: object, name: str) -> str:
    if op not in _REDUCTIONS:
        raise ValueError(f"{name} must be one of {_REDUCTIONS}, got {op!r}")
    return str(op)


def _round_half_even_div(total: int, divisor: int) -> int:
    """``total / divisor`` rounded to the nearest int, ties to even.

    Pure integer arithmetic, so it is exact for any Python ints.

    Parameters
    ----------
    total : int
        Numerator, may be negative.
    divisor : int
        Denominator, must be positive.
    """
    quotient, remainder = divmod(total, divisor)  # 0 <= remainder < divisor
    twice = 2 * remainder
    if twice > divisor or (twice == divisor and quotient % 2 == 1):
        quotient += 1
    return quotient


def _extreme_fill(dtype: np.dtype, reduce: str) -> int | float:
    """Value of a max/min over an empty set of taps (PyTorch gives -inf for max).

    Only reachable with dilation, where every tap of a window can land in the
    padding or past the edge.
    """
    if np.issubdtype(dtype, np.floating):
        return -math.inf if reduce == "max" else math.inf
    info = np.iinfo(dtype)
    return int(info.min) if reduce == "max" else int(info.max)


def _reduce_taps(
    image: np.ndarray,
    rows: list[int],
    cols: list[int],
    reduce: str,
    divisor: int | None,
) -> np.ndarray:
    """Reduce the real taps ``image[rows][:, cols]`` of one window.

    Parameters
    ----------
    image : (H, W, C) ndarray
        The unpadded image.
    rows, cols : list of int
        Row / column indices of the taps that lie inside the image.
    reduce : {"max", "avg", "min"}
        Reduction.
    divisor : int or None
        For ``"avg"``: what the sum is divided by.  Ignored otherwise.

    Returns
    -------
    (C,) ndarray
        One value per channel, in ``image.dtype``.
    """
    dtype = image.dtype
    channels = image.shape[2]
    if not rows or not cols:
        if reduce == "avg":  # a window of padding only: the sum is 0
            return np.zeros(channels, dtype=dtype)
        return np.full(channels, _extreme_fill(dtype, reduce), dtype=dtype)

    window = image[np.ix_(rows, cols)]  # (len(rows), len(cols), C)
    if reduce == "max":
        return window.max(axis=(0, 1))
    if reduce == "min":
        return window.min(axis=(0, 1))

    assert divisor is not None and divisor > 0
    result = np.empty(channels, dtype=dtype)
    for c in range(channels):
        values = window[:, :, c].ravel()
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            rounded = _round_half_even_div(sum(int(v) for v in values), divisor)
            result[c] = min(max(rounded, int(info.min)), int(info.max))
        else:
            result[c] = math.fsum(float(v) for v in values) / divisor  # float64 division, then cast
    return result


def _restore_ndim(out: np.ndarray, original_ndim: int) -> np.ndarray:
    return out[:, :, 0] if original_ndim == 2 else out


# ----------------------------------------------------------------------------
# Output geometry
# ----------------------------------------------------------------------------


def output_length(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Number of pooling windows along one axis (numeric padding).

    ``out = floor((n + 2p - e) / s) + 1`` with ``e = d * (k - 1) + 1``.  With
    ``ceil_mode`` the floor becomes a ceil, and then, as in PyTorch, the last
    window is dropped if it would start at or past ``n + p`` (every window must
    start inside the input or the left padding).

    Parameters
    ----------
    n : int
        Input length, >= 1.
    k, s, d : int
        Kernel size, stride and dilation, each >= 1.
    p : int
        Padding added on both sides, >= 0.
    ceil_mode : bool
        Use ceil instead of floor.

    Returns
    -------
    int
        The output length, >= 1.

    Raises
    ------
    ValueError
        If an argument is out of range or no window fits (``out < 1``; ceil
        mode lets a padded input up to ``s - 1`` cells shorter than the
        effective kernel still give one window, as in PyTorch).

    Examples
    --------
    >>> output_length(5, 2, 2, 0, 1, ceil_mode=False)
    2
    >>> output_length(5, 2, 2, 0, 1, ceil_mode=True)
    3
    """
    for name, value, low in (("n", n, 1), ("k", k, 1), ("s", s, 1), ("d", d, 1), ("p", p, 0)):
        if not _is_int(value) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    effective = d * (k - 1) + 1
    span = n + 2 * p - effective
    if ceil_mode:
        out = -(-span // s) + 1  # ceil division
        if (out - 1) * s >= n + p:
            out -= 1
    else:
        out = span // s + 1
    if out < 1:
        raise ValueError(
            f"input length {n} with padding {p} is smaller than the effective "
            f"kernel size {effective} (kernel {k}, dilation {d})"
        )
    return out


def _same_geometry(n: int, k: int, s: int, d: int) -> tuple[int, int, int]:
    """TensorFlow-style "same" padding for one axis.

    Returns
    -------
    (out, before, after) : tuple of int
        ``out = ceil(n / s)``; the padding total is split with the extra
        element at the end (bottom/right).
    """
    effective = d * (k - 1) + 1
    out = -(-n // s)
    total = max((out - 1) * s + effective - n, 0)
    before = total // 2
    return out, before, total - before


# ----------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------


def apply(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """The reference result of ``spec`` on ``image``: the function its op declares in :mod:`poolcli.ops`.

    >>> apply(np.arange(16, dtype=np.uint8).reshape(4, 4), PoolSpec.make("min", kernel=2))
    array([[ 0,  2],
           [ 8, 10]], dtype=uint8)
    """
    function = globals()[spec.info.reference]
    return function(image, spec)


def pool(
    image: np.ndarray,
    op: Reduce | PoolSpec,
    kernel: IntPair = 2,
    stride: IntPair | None = None,
    padding: IntPair | Literal["same"] = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor: int | None = None,
) -> np.ndarray:
    """Sliding-window max / average / min pooling with PyTorch semantics.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        uint8, uint16, int16, int32, float32 or float64.
    op : {"max", "avg", "min"}
        Reduction over each window.
    kernel : int or (kh, kw)
        Window size, >= 1.
    stride : int or (sh, sw), optional
        Step between windows, >= 1.  Defaults to ``kernel``.
    padding : int, (ph, pw) or "same", default 0
        Numeric padding is added on both sides and may be at most
        ``kernel // 2`` per axis (PyTorch's limit, applied to the kernel size,
        not the dilated one).  ``"same"`` gives ``ceil(n / stride)`` outputs
        with the padding split TensorFlow-style (extra on the bottom/right).
    dilation : int or (dh, dw), default 1
        Spacing between taps, >= 1.  Only allowed for max and min.
    ceil_mode : bool, default False
        Round the output length up instead of down (see `output_length`).
        Not allowed together with ``padding="same"``.
    count_include_pad : bool, default True
        avg only: count taps in the padding (but never taps past the padded
        region, which ceil_mode can create) in the divisor.
    divisor : int, optional
        avg only: a fixed positive divisor replacing the tap count
        (PyTorch's ``divisor_override``).

    Returns
    -------
    (OH, OW) or (OH, OW, C) ndarray
        Same number of dimensions and same dtype as ``image``.

    Raises
    ------
    ValueError
        On any invalid argument.

    Notes
    -----
    max/min take the extreme over the taps inside the image; padding never
    wins.  With dilation a window can have no such tap at all; it then holds
    ``-inf``/``+inf`` (floats) or the dtype's min/max (integers), which is what
    PyTorch's ``max_pool2d`` produces for floats.

    Examples
    --------
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> pool(image, "max", 2)
    array([[ 5,  7],
           [13, 15]], dtype=uint8)
    >>> pool(image, "avg", 2)  # 2.5, 4.5, 10.5, 12.5 round half to even
    array([[ 2,  4],
           [10, 12]], dtype=uint8)
    >>> pool(image, "min", 3, stride=2, padding=1)
    array([[0, 1],
           [4, 5]], dtype=uint8)
    """
    name: object = op
    if isinstance(op, PoolSpec):
        name = op.op
        kernel, stride, padding, dilation = op.kernel, op.stride, op.padding, op.dilation
        ceil_mode, count_include_pad, divisor = op.ceil_mode, op.count_include_pad, op.divisor
    original_ndim = image.ndim if isinstance(image, np.ndarray) else 0
    img = _check_image(image)
    reduce = _check_reduce(name, "op")
    kh, kw = _pair(kernel, "kernel")
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    for name, (a, b) in (("kernel", (kh, kw)), ("stride", (sh, sw)), ("dilation", (dh, dw))):
        if a < 1 or b < 1:
            raise ValueError(f"{name} must be >= 1, got {(a, b)}")
    if reduce == "avg" and (dh, dw) != (1, 1):
        raise ValueError(f"dilation is only supported for max and min pooling, got {(dh, dw)}")
    if divisor is not None:
        if reduce != "avg":
            raise ValueError("divisor is only meaningful for avg pooling")
        if not _is_int(divisor) or divisor < 1:
            raise ValueError(f"divisor must be a positive int, got {divisor!r}")
        divisor = int(divisor)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise ValueError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise ValueError(f"count_include_pad must be a bool, got {count_include_pad!r}")

    height, width, channels = img.shape
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f'padding must be an int, a pair of ints or "same", got {padding!r}')
        if ceil_mode:
            raise ValueError('ceil_mode cannot be used with padding="same"')
        out_h, top, bottom = _same_geometry(height, kh, sh, dh)
        out_w, left, right = _same_geometry(width, kw, sw, dw)
    else:
        ph, pw = _pair(padding, "padding")
        if ph < 0 or pw < 0:
            raise ValueError(f"padding must be >= 0, got {(ph, pw)}")
        if ph > kh // 2 or pw > kw // 2:
            raise ValueError(f"padding {(ph, pw)} must be at most half of the kernel size {(kh, kw)}")
        out_h = output_length(height, kh, sh, ph, dh, ceil_mode)
        out_w = output_length(width, kw, sw, pw, dw, ceil_mode)
        top = bottom = ph
        left = right = pw

    out = np.empty((out_h, out_w, channels), dtype=img.dtype)
    for i in range(out_h):
        row_start = i * sh - top
        row_taps = [row_start + j * dh for j in range(kh)]
        real_rows = [r for r in row_taps if 0 <= r < height]
        # taps inside the padded region [-top, height + bottom)
        padded_rows = sum(1 for r in row_taps if -top <= r < height + bottom)
        for j in range(out_w):
            col_start = j * sw - left
            col_taps = [col_start + t * dw for t in range(kw)]
            real_cols = [c for c in col_taps if 0 <= c < width]
            padded_cols = sum(1 for c in col_taps if -left <= c < width + right)

            window_divisor = None
            if reduce == "avg":
                if divisor is not None:
                    window_divisor = divisor
                elif count_include_pad:
                    window_divisor = padded_rows * padded_cols
                else:
                    window_divisor = len(real_rows) * len(real_cols)
            out[i, j] = _reduce_taps(img, real_rows, real_cols, reduce, window_divisor)

    return _restore_ndim(out, original_ndim)


def _adaptive_bounds(n: int, m: int) -> list[tuple[int, int]]:
    """Windows ``[floor(i*n/m), ceil((i+1)*n/m))`` for ``i = 0 .. m-1``."""
    return [((i * n) // m, -(-((i + 1) * n) // m)) for i in range(m)]


def adaptive_pool(
    image: np.ndarray,
    size: SizePair | PoolSpec,
    reduce: Reduce = "avg",
) -> np.ndarray:
    """Adaptive pooling to a fixed output size (PyTorch ``adaptive_*_pool2d``).

    Output index ``i`` of ``m`` along an input axis of length ``n`` reduces
    the window ``[floor(i * n / m), ceil((i + 1) * n / m))``.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        uint8, uint16, int16, int32, float32 or float64.
    size : int or (oh, ow)
        Output size, each >= 1; an entry of ``None`` keeps that input length.
    reduce : {"avg", "max", "min"}, default "avg"
        Reduction.  Integer averages round half to even exactly.

    Returns
    -------
    (oh, ow) or (oh, ow, C) ndarray
        Same number of dimensions and dtype as ``image``.

    Examples
    --------
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> adaptive_pool(image, (1, 2), "max")
    array([[13, 15]], dtype=uint8)
    >>> adaptive_pool(image, (2, None), "avg")
    array([[ 2,  3,  4,  5],
           [10, 11, 12, 13]], dtype=uint8)
    """
    wanted: Any = size
    how: object = reduce
    if isinstance(size, PoolSpec):
        wanted, how = size.size, size.param("reduce")
    original_ndim = image.ndim if isinstance(image, np.ndarray) else 0
    img = _check_image(image)
    reduction = _check_reduce(how, "reduce")
    height, width, channels = img.shape

    if _is_int(wanted) or wanted is None:
        wanted = (wanted, wanted)
    if not (isinstance(wanted, Sequence) and not isinstance(wanted, str) and len(wanted) == 2):
        raise ValueError(f"size must be an int or a pair of ints/None, got {wanted!r}")
    out_shape = []
    for entry, n in zip(wanted, (height, width), strict=True):
        if entry is None:
            out_shape.append(n)
        elif _is_int(entry) and entry >= 1:
            out_shape.append(int(entry))
        else:
            raise ValueError(f"output size entries must be ints >= 1 or None, got {wanted!r}")
    out_h, out_w = out_shape

    out = np.empty((out_h, out_w, channels), dtype=img.dtype)
    for i, (r0, r1) in enumerate(_adaptive_bounds(height, out_h)):
        for j, (c0, c1) in enumerate(_adaptive_bounds(width, out_w)):
            rows = list(range(r0, r1))
            cols = list(range(c0, c1))
            out[i, j] = _reduce_taps(img, rows, cols, reduction, len(rows) * len(cols))
    return _restore_ndim(out, original_ndim)


def global_pool(image: np.ndarray, reduce: Reduce | PoolSpec = "avg") -> np.ndarray:
    """Reduce each channel over the whole image.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        uint8, uint16, int16, int32, float32 or float64.
    reduce : {"avg", "max", "min"}, default "avg"
        Reduction.

    Returns
    -------
    (C,) ndarray
        ``(1,)`` for a 2-D image.  max/min keep the input dtype; avg is
        float64 holding the mean (exact sum with Python ints for integer
        images, ``math.fsum`` for floats, then one division).

    Examples
    --------
    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> global_pool(image)
    array([7.5])
    >>> global_pool(np.dstack([image, 2 * image]), "max")
    array([15, 30], dtype=uint8)
    """
    how: object = reduce.param("reduce") if isinstance(reduce, PoolSpec) else reduce
    img = _check_image(image)
    reduction = _check_reduce(how, "reduce")
    height, width, channels = img.shape
    flat = img.reshape(height * width, channels)
    if reduction == "max":
        return flat.max(axis=0)
    if reduction == "min":
        return flat.min(axis=0)

    count = height * width
    out = np.empty(channels, dtype=np.float64)
    for c in range(channels):
        column = flat[:, c]
        if np.issubdtype(img.dtype, np.integer):
            total = int(column.astype(np.int64).sum())  # exact: |values| < 2**31
            out[c] = total / count  # int / int is correctly rounded
        else:
            out[c] = math.fsum(column.astype(np.float64).tolist()) / count
    return out


# ----------------------------------------------------------------------------
# Beyond max, avg and min: median, Lp, blur, SoftPool, stochastic, fractional,
# and where the max came from. One function per op, (image, spec) -> ndarray,
# each visiting the cells of each window as the definition reads.
# ----------------------------------------------------------------------------


def _window_positions(height: int, width: int, spec: PoolSpec) -> tuple[list[list[int]], list[list[int]]]:
    """Per output row (column), the input rows (columns) of its taps, inside the image or not.

    PyTorch's placement (numeric padding, ``"same"``, ceil mode, dilation), as in :func:`pool`.
    """
    kh, kw = spec.kernel
    sh, sw = spec.stride
    dh, dw = spec.dilation
    if spec.padding == "same":
        out_h, top, _ = _same_geometry(height, kh, sh, dh)
        out_w, left, _ = _same_geometry(width, kw, sw, dw)
    else:
        top, left = spec.padding
        out_h = output_length(height, kh, sh, top, dh, spec.ceil_mode)
        out_w = output_length(width, kw, sw, left, dw, spec.ceil_mode)
    rows = [[i * sh - top + t * dh for t in range(kh)] for i in range(out_h)]
    cols = [[j * sw - left + t * dw for t in range(kw)] for j in range(out_w)]
    return rows, cols


def _cells(img: np.ndarray, rows: list[int], cols: list[int], c: int) -> list:
    """The values of channel ``c`` at the taps inside the image, row by row (row-major order)."""
    height, width = img.shape[:2]
    return [img[r, q, c] for r in rows if 0 <= r < height for q in cols if 0 <= q < width]


def _to_dtype(value: float, dtype: np.dtype) -> int | float:
    """A float64 result for an image of ``dtype``: integers rounded half to even (``np.rint``), then clipped."""
    if np.issubdtype(dtype, np.floating):
        return value
    info = np.iinfo(dtype)
    return int(min(max(np.rint(value), info.min), info.max))


def median_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """The median of each window's cells inside the image (padded cells take no part).

    With ``n`` cells sorted, ``even="lower"`` takes cell ``(n - 1) // 2`` (0-based; for odd
    ``n`` the median, for even ``n`` the lower of the two middles, as ``torch.median``);
    ``even="mean"`` the mean of cells ``(n - 1) // 2`` and ``n // 2`` (as ``numpy.median``),
    exact and rounded half to even for integers, float64 for floats. A window with no cell
    inside the image (only possible with dilation) gives 0.

    >>> median_pool(np.array([[1, 9, 4, 4]], np.uint8), PoolSpec.make("median", kernel=(1, 2), even="mean"))
    array([[5, 4]], dtype=uint8)
    """
    img = _check_image(image)
    rows, cols = _window_positions(img.shape[0], img.shape[1], spec)
    mean = spec.param("even") == "mean"
    out = np.zeros((len(rows), len(cols), img.shape[2]), dtype=img.dtype)
    for i, taps_r in enumerate(rows):
        for j, taps_c in enumerate(cols):
            for c in range(img.shape[2]):
                cells = sorted(_cells(img, taps_r, taps_c, c))
                n = len(cells)
                if n == 0:
                    continue
                low, high = cells[(n - 1) // 2], cells[n // 2]
                if not mean:
                    out[i, j, c] = low
                elif np.issubdtype(img.dtype, np.integer):
                    out[i, j, c] = _round_half_even_div(int(low) + int(high), 2)
                else:
                    out[i, j, c] = (float(low) + float(high)) / 2
    return _restore_ndim(out, image.ndim)


def lp_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """PyTorch's ``lp_pool2d``: ``(s / n * kh * kw) ** (1 / p)`` per window, in float64.

    ``s`` is the sum of ``x ** p`` over the window's ``n`` cells inside the image (ceil mode can
    cut a window short; it is then scaled to a whole window, as PyTorch's formula
    ``avg_pool2d(x ** p) * kh * kw`` does). ``p = inf``: the max of ``|x|``. ``abs=True`` pools
    ``|x|``. Integer images: rounded half to even, clipped.

    Raises
    ------
    ValueError
        Negative values with a fractional power (and not ``abs``); or, on an integer image, a
        window whose power sum is negative (its root is NaN, which the image cannot hold).

    >>> lp_pool(np.array([[3, 4]], np.uint8), PoolSpec.make("lp", kernel=(1, 2)))
    array([[5]], dtype=uint8)
    """
    img = _check_image(image)
    p = float(spec.param("power"))
    use_abs = bool(spec.param("abs"))
    kh, kw = spec.kernel
    integral = np.issubdtype(img.dtype, np.integer)
    if not use_abs and not math.isinf(p) and not p.is_integer() and img.min() < 0:
        raise ValueError(f"lp pooling with power {p:g} needs non-negative values")
    rows, cols = _window_positions(img.shape[0], img.shape[1], spec)
    out = np.zeros((len(rows), len(cols), img.shape[2]), dtype=img.dtype)
    for i, taps_r in enumerate(rows):
        for j, taps_c in enumerate(cols):
            for c in range(img.shape[2]):
                cells = _cells(img, taps_r, taps_c, c)
                if math.isinf(p):
                    out[i, j, c] = _to_dtype(max(abs(float(v)) for v in cells), img.dtype)
                    continue
                total = np.float64(0.0)
                for v in cells:
                    with np.errstate(over="ignore"):
                        total += (abs(np.float64(v)) if use_abs else np.float64(v)) ** np.float64(p)
                with np.errstate(invalid="ignore", over="ignore"):
                    value = (total / np.float64(len(cells)) * np.float64(kh * kw)) ** np.float64(1.0 / p)
                if integral and np.isnan(value):
                    raise ValueError(f"lp pooling with power {p:g}: a window's power sum is negative")
                out[i, j, c] = _to_dtype(float(value), img.dtype)
    return _restore_ndim(out, image.ndim)


def _pascal(k: int) -> list[int]:
    row = [1]
    for _ in range(k - 1):
        row = [a + b for a, b in zip([0, *row], [*row, 0])]
    return row


def blur_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Binomial blur, then every stride-th pixel (Zhang 2019; kornia's ``blur_pool2d`` with ``pad_mode="zero"``).

    The filter is ``outer(pascal(kh), pascal(kw))`` (``[1, 2, 1]`` for 3), integer weights
    summing to ``2 ** ((kh - 1) + (kw - 1))``. The image is padded ``(k - 1) // 2`` cells before
    and ``k // 2`` after on each axis with ``numpy.pad`` (``reflect``, ``constant`` zeros for
    ``zero``, ``edge`` for ``replicate``); output ``(i, j)`` is the weighted sum of the padded
    window starting at ``(i * sh, j * sw)`` over the weights' sum: exact and rounded half to even
    for integers, float64 (``math.fsum``) for floats. ``ceil(H / sh)`` rows.

    >>> blur_pool(np.array([[0, 0, 8, 0, 0]], np.uint8), PoolSpec.make("blur", kernel=(1, 3), stride=1))
    array([[0, 2, 4, 2, 0]], dtype=uint8)
    """
    return _blur(_check_image(image), spec.kernel, spec.stride, spec.param("pad_mode"), image.ndim)


def _blur(img: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], pad_mode: str, ndim: int) -> np.ndarray:
    kh, kw = kernel
    sh, sw = stride
    mode: Any = {"reflect": "reflect", "zero": "constant", "replicate": "edge"}[pad_mode]
    padded = np.pad(img, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)), mode=mode)
    weights = np.outer(_pascal(kh), _pascal(kw))
    total_weight = int(weights.sum())
    out_h, out_w = -(-img.shape[0] // sh), -(-img.shape[1] // sw)
    out = np.empty((out_h, out_w, img.shape[2]), dtype=img.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * sh : i * sh + kh, j * sw : j * sw + kw]
            for c in range(img.shape[2]):
                if np.issubdtype(img.dtype, np.integer):
                    total = sum(int(w) * int(v) for w, v in zip(weights.ravel(), window[:, :, c].ravel()))
                    out[i, j, c] = _round_half_even_div(total, total_weight)
                else:
                    products = [float(w) * float(v) for w, v in zip(weights.ravel(), window[:, :, c].ravel())]
                    out[i, j, c] = math.fsum(products) / total_weight
    return _restore_ndim(out, ndim)


def maxblur_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Max pooling over ``max_size`` cells at stride 1 (no padding), then :func:`blur_pool` (kornia's ``max_blur_pool2d``)."""
    m = int(spec.param("max_size"))
    peaks = pool(image, "max", kernel=m, stride=1)
    return _blur(_check_image(peaks), spec.kernel, spec.stride, spec.param("pad_mode"), image.ndim)


def softpool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """SoftPool (Stergiou et al. 2021): ``sum(v * e^v) / sum(e^v)`` over each window's cells inside the image.

    Computed as ``e^(v - m)`` with ``m`` the window's max, in float64, the sums taken in
    row-major order. Integer images: ``v = x / dtype max``, and the result times the dtype's
    max, rounded half to even, clipped. A window with no cell inside the image gives 0.
    """
    img = _check_image(image)
    integral = np.issubdtype(img.dtype, np.integer)
    scale = float(np.iinfo(img.dtype).max) if integral else 1.0
    rows, cols = _window_positions(img.shape[0], img.shape[1], spec)
    out = np.zeros((len(rows), len(cols), img.shape[2]), dtype=img.dtype)
    for i, taps_r in enumerate(rows):
        for j, taps_c in enumerate(cols):
            for c in range(img.shape[2]):
                values = [np.float64(v) / scale if integral else np.float64(v) for v in _cells(img, taps_r, taps_c, c)]
                if not values:
                    continue
                peak = max(values)
                num = den = np.float64(0.0)
                for v in values:
                    weight = np.exp(v - peak)
                    num += weight * v
                    den += weight
                out[i, j, c] = _to_dtype(float(num / den) * scale if integral else float(num / den), img.dtype)
    return _restore_ndim(out, image.ndim)


def stochastic_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Stochastic pooling (Zeiler & Fergus 2013) of a non-negative image; padded cells take no part.

    ``mode="expected"``: ``sum(a^2) / sum(a)`` (the mean of the cells weighted by
    ``p_i = a_i / sum(a)``), 0 for an all-zero window; integers exactly, rounded half to even;
    floats in float64, sums in row-major order. ``mode="sample"``: ``u`` is entry ``(c, i, j)`` of
    ``numpy.random.default_rng(seed).random((C, OH, OW))``; the result is the first cell, in
    row-major order, with ``a > 0`` whose running (float64) sum exceeds ``u * sum(a)``, or the
    last cell with ``a > 0`` if rounding lets none; 0 for an all-zero window.

    Raises
    ------
    ValueError
        A negative value.
    """
    img = _check_image(image)
    if img.min() < 0:
        raise ValueError("stochastic pooling needs non-negative values")
    rows, cols = _window_positions(img.shape[0], img.shape[1], spec)
    sample = spec.param("mode") == "sample"
    if sample:
        draws = np.random.default_rng(int(spec.param("seed"))).random((img.shape[2], len(rows), len(cols)))
    integral = np.issubdtype(img.dtype, np.integer)
    out = np.zeros((len(rows), len(cols), img.shape[2]), dtype=img.dtype)
    for i, taps_r in enumerate(rows):
        for j, taps_c in enumerate(cols):
            for c in range(img.shape[2]):
                cells = _cells(img, taps_r, taps_c, c)
                if sample:
                    total = np.float64(0.0)
                    for a in cells:
                        total += np.float64(a)
                    threshold = draws[c, i, j] * total
                    running, chosen = np.float64(0.0), None
                    for a in cells:
                        running += np.float64(a)
                        if a > 0 and running > threshold:
                            chosen = a
                            break
                    if chosen is None:
                        chosen = next((a for a in reversed(cells) if a > 0), 0)
                    out[i, j, c] = chosen
                elif integral:
                    s1 = sum(int(a) for a in cells)
                    s2 = sum(int(a) * int(a) for a in cells)
                    out[i, j, c] = _round_half_even_div(s2, s1) if s1 else 0
                else:
                    f1 = f2 = np.float64(0.0)
                    for a in cells:
                        f1 += np.float64(a)
                        f2 += np.float64(a) * np.float64(a)
                    out[i, j, c] = f2 / f1 if f1 else 0.0
    return _restore_ndim(out, image.ndim)


def fractional_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Fractional max pooling (Graham 2014) as PyTorch's ``fractional_max_pool2d`` computes it.

    The samples are ``numpy.random.default_rng(seed).random((C, 2))``, row ``c`` being
    ``(u_w, u_h)`` for channel ``c`` (PyTorch's ``_random_samples`` layout). Along an axis of
    ``n`` cells with ``m`` outputs and kernel ``k``: ``alpha = (n - k) / (m - 1)``; window
    ``i < m - 1`` starts at ``trunc((i + u) * alpha) - trunc(u * alpha)``, the last at ``n - k``;
    in float32 arithmetic for a float32 image, float64 otherwise. Each output is the max of the
    ``kh x kw`` cells from its start.
    """
    img = _check_image(image)
    height, width, channels = img.shape
    out_h, out_w = spec.output_size(height, width)
    kh, kw = spec.kernel
    real = np.float32 if img.dtype == np.float32 else np.float64
    samples = np.random.default_rng(int(spec.param("seed"))).random((channels, 2))

    def starts(u: float, n: int, m: int, k: int) -> list[int]:
        if m == 1:
            return [n - k]
        alpha = real(n - k) / real(m - 1)
        return [int((real(i) + real(u)) * alpha) - int(real(u) * alpha) for i in range(m - 1)] + [n - k]

    out = np.empty((out_h, out_w, channels), dtype=img.dtype)
    for c in range(channels):
        rows, cols = starts(samples[c, 1], height, out_h, kh), starts(samples[c, 0], width, out_w, kw)
        for i, r in enumerate(rows):
            for j, q in enumerate(cols):
                out[i, j, c] = img[r : r + kh, q : q + kw, c].max()
    return _restore_ndim(out, image.ndim)


def pool_indices(image: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """Max (min) pooling and where each value came from, PyTorch's ``max_pool2d(..., return_indices=True)``.

    The index is ``row * W + col`` in the unpadded channel. The window's taps are visited row
    by row; a tap inside the image wins if it is larger (smaller, for min) than the best so far,
    or NaN. The best starts at the padding's value (``-inf`` / the dtype's lowest for max) and
    the index at the window's first tap at or after row 0 and column 0.

    >>> values, where = pool_indices(np.array([[1, 3, 3, 0]], np.uint8), PoolSpec.make("max", kernel=(1, 2)))
    >>> values.tolist(), where.tolist()
    ([[3, 3]], [[1, 2]])
    """
    img = _check_image(image)
    height, width = img.shape[:2]
    rows, cols = _window_positions(height, width, spec)
    op = spec.op
    values = np.empty((len(rows), len(cols), img.shape[2]), dtype=img.dtype)
    where = np.empty((len(rows), len(cols), img.shape[2]), dtype=np.int64)
    floating = np.issubdtype(img.dtype, np.floating)
    for i, taps_r in enumerate(rows):
        for j, taps_c in enumerate(cols):
            r0 = next(r for r in (taps_r[0] + t * spec.dilation[0] for t in range(10**9)) if r >= 0)
            c0 = next(q for q in (taps_c[0] + t * spec.dilation[1] for t in range(10**9)) if q >= 0)
            for c in range(img.shape[2]):
                best, index = _extreme_fill(img.dtype, op), r0 * width + c0
                for r in taps_r:
                    for q in taps_c:
                        if not (0 <= r < height and 0 <= q < width):
                            continue
                        v = img[r, q, c]
                        if (v > best if op == "max" else v < best) or (floating and np.isnan(v)):
                            best, index = v, r * width + q
                values[i, j, c], where[i, j, c] = best, index
    return _restore_ndim(values, image.ndim), _restore_ndim(where, image.ndim)


def unpool(values: np.ndarray, where: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PyTorch's ``max_unpool2d``: zeros of ``size`` (H, W), with ``values`` put at their flat indices ``where``."""
    vals = values[:, :, None] if values.ndim == 2 else values
    idx = where[:, :, None] if where.ndim == 2 else where
    out = np.zeros((size[0] * size[1], vals.shape[2]), dtype=values.dtype)
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            for c in range(vals.shape[2]):
                out[idx[i, j, c], c] = vals[i, j, c]
    return _restore_ndim(out.reshape(size[0], size[1], vals.shape[2]), values.ndim)


def unpool_pool(image: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """The ``unpool`` op: :func:`pool_indices` with ``reduce`` (max or min), then :func:`unpool` to the image's size.

    A window with no cell inside the image (only possible with dilation) puts nothing back.
    """
    img = _check_image(image)
    pooling = PoolSpec.make(
        spec.param("reduce"), kernel=spec.kernel, stride=spec.stride, padding=spec.padding,
        dilation=spec.dilation, ceil_mode=spec.ceil_mode,
    )  # fmt: skip
    values, where = pool_indices(img, pooling)
    rows, cols = _window_positions(img.shape[0], img.shape[1], pooling)
    out = np.zeros_like(img)
    for i, taps_r in enumerate(rows):
        for j, taps_c in enumerate(cols):
            if not _cells(img, taps_r, taps_c, 0):
                continue
            for c in range(img.shape[2]):
                index = int(where[i, j, c])
                out[index // img.shape[1], index % img.shape[1], c] = values[i, j, c]
    return _restore_ndim(out, image.ndim)

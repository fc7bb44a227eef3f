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
from typing import Literal

import numpy as np

from .spec import PoolSpec

__all__ = ["adaptive_pool", "apply", "global_pool", "output_length", "pool"]

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


def _pair(value: object, name: str) -> tuple[int, int]:
    """Turn an int or a 2-sequence of ints into an ``(h, w)`` tuple."""
    if _is_int(value):
        return int(value), int(value)  # type: ignore[arg-type]
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
            total = sum(int(v) for v in values)
            info = np.iinfo(dtype)
            rounded = _round_half_even_div(total, divisor)
            result[c] = min(max(rounded, int(info.min)), int(info.max))
        else:
            total = math.fsum(float(v) for v in values)
            result[c] = total / divisor  # float64 division, then cast
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
    if isinstance(op, PoolSpec):
        spec = op
        op, kernel, stride, padding, dilation = spec.op, spec.kernel, spec.stride, spec.padding, spec.dilation  # type: ignore[assignment]
        ceil_mode, count_include_pad, divisor = spec.ceil_mode, spec.count_include_pad, spec.divisor
    original_ndim = getattr(image, "ndim", None)
    img = _check_image(image)
    op = _check_reduce(op, "op")
    kh, kw = _pair(kernel, "kernel")
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    for name, (a, b) in (("kernel", (kh, kw)), ("stride", (sh, sw)), ("dilation", (dh, dw))):
        if a < 1 or b < 1:
            raise ValueError(f"{name} must be >= 1, got {(a, b)}")
    if op == "avg" and (dh, dw) != (1, 1):
        raise ValueError(f"dilation is only supported for max and min pooling, got {(dh, dw)}")
    if divisor is not None:
        if op != "avg":
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
            if op == "avg":
                if divisor is not None:
                    window_divisor = divisor
                elif count_include_pad:
                    window_divisor = padded_rows * padded_cols
                else:
                    window_divisor = len(real_rows) * len(real_cols)
            out[i, j] = _reduce_taps(img, real_rows, real_cols, op, window_divisor)

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
    if isinstance(size, PoolSpec):
        size, reduce = size.size, size.param("reduce")
    original_ndim = getattr(image, "ndim", None)
    img = _check_image(image)
    reduce = _check_reduce(reduce, "reduce")
    height, width, channels = img.shape

    if _is_int(size) or size is None:
        size = (size, size)
    if not (isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 2):
        raise ValueError(f"size must be an int or a pair of ints/None, got {size!r}")
    out_shape = []
    for entry, n in zip(size, (height, width), strict=True):
        if entry is None:
            out_shape.append(n)
        elif _is_int(entry) and entry >= 1:
            out_shape.append(int(entry))
        else:
            raise ValueError(f"output size entries must be ints >= 1 or None, got {size!r}")
    out_h, out_w = out_shape

    out = np.empty((out_h, out_w, channels), dtype=img.dtype)
    for i, (r0, r1) in enumerate(_adaptive_bounds(height, out_h)):
        for j, (c0, c1) in enumerate(_adaptive_bounds(width, out_w)):
            rows = list(range(r0, r1))
            cols = list(range(c0, c1))
            out[i, j] = _reduce_taps(img, rows, cols, reduce, len(rows) * len(cols))
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
    if isinstance(reduce, PoolSpec):
        reduce = reduce.param("reduce")
    img = _check_image(image)
    reduce = _check_reduce(reduce, "reduce")
    height, width, channels = img.shape
    flat = img.reshape(height * width, channels)
    if reduce == "max":
        return flat.max(axis=0)
    if reduce == "min":
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

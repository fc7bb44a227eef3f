"""Pooling: the only module that knows how tensors are pooled.

Every reduction is built from strided views of the input: a k x k window
reduction is a k-tap reduction over rows followed by one over columns
(max, min and sum are all separable over a rectangle). That keeps the image
in its own dtype for max and min, never goes through float for integers,
works unchanged on CPU and CUDA tensors, and gives PyTorch's results
exactly:

* max / min: the extreme of the real cells under the window; padding is
  filled with the dtype's own lowest (highest) value, so it can never win.
  Min pooling is ``-max_pool2d(-x)`` in PyTorch terms; it is computed
  directly with ``minimum`` (negating uint8 would wrap).
* avg: an exact integer (or float64) sum divided by PyTorch's divisor; for
  integer images the quotient is rounded half to even (``torch.round``), so
  the mean of 2 and 3 is 2 and of 3 and 4 is 4, never truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Union

import numpy as np

from .errors import ImageShapeError, ParameterError
from .params import AxisPlan, PairLike, PoolSpec, parse_size
from .tensor import SUPPORTED_DTYPES, resolve_device, to_image, to_tensor

if TYPE_CHECKING:
    import torch

ImageOrTensor = Union[np.ndarray, "torch.Tensor"]
REDUCES: tuple[str, ...] = ("avg", "max", "min")


def pool(
    image: ImageOrTensor,
    op: str,
    kernel: PairLike = 2,
    stride: PairLike | None = None,
    padding: PairLike = 0,
    dilation: PairLike = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor: int | None = None,
    device: str | torch.device = "cpu",
) -> ImageOrTensor:
    """Max, average or min pooling with PyTorch's semantics.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), or Tensor of shape (N, C, H, W)
        uint8, int8, uint16, int16, int32, float32 or float64. Channels are
        pooled independently.
    op : {"max", "avg", "min"}
    kernel, stride, padding, dilation : int, (rows, cols) or "HxW"
        As ``torch.nn.functional.max_pool2d``; ``stride`` defaults to the
        kernel; ``padding`` may also be ``"same"`` (output ceil(in / stride),
        the extra cell of an odd total on the bottom/right). Padding is at
        most half the effective kernel. Dilation is for max and min only.
    ceil_mode : bool
        Round the output size up (the last window must start inside the
        input or the left padding).
    count_include_pad : bool
        avg only: whether padded cells count in the divisor.
    divisor : int, optional
        avg only: divide by this instead (PyTorch's ``divisor_override``).
    device : str or torch.device
        Where to pool a NumPy image (``"cpu"``, ``"cuda"``, ``"cuda:N"``,
        ``"auto"``). A tensor is pooled where it is.

    Returns
    -------
    ndarray or Tensor
        Same kind, dtype and channel count as ``image``; spatial size
        ``floor((in + 2p - d(k-1) - 1) / s) + 1`` per axis (see
        :func:`poolcli.output_size`). Integer averages are rounded half to
        even.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.pool(np.arange(16, dtype=np.uint8).reshape(4, 4), "max")
    array([[ 5,  7],
           [13, 15]], dtype=uint8)
    >>> poolcli.pool(np.array([[2, 3, 3, 4]], dtype=np.uint8), "avg", kernel=(1, 2))
    array([[2, 4]], dtype=uint8)
    """
    spec = PoolSpec.make(op, kernel, stride, padding, dilation, ceil_mode, count_include_pad, divisor)
    return _apply(image, device, lambda t: pool_tensor(t, spec))


def adaptive_pool(
    image: ImageOrTensor,
    size: int | tuple[int | None, int | None] | str,
    reduce: str = "avg",
    device: str | torch.device = "cpu",
) -> ImageOrTensor:
    """Adaptive pooling to a given output size (PyTorch's ``adaptive_*_pool2d``).

    Output cell ``i`` of ``m`` along an axis of length ``n`` reduces input
    cells ``floor(i*n/m)`` to ``ceil((i+1)*n/m) - 1``.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, C), or Tensor (N, C, H, W)
    size : int, (rows, cols) or "HxW"
        Either side may be None (``"64x-"`` in a string) to keep the input's.
    reduce : {"avg", "max", "min"}
    device : as in :func:`pool`

    Returns
    -------
    ndarray or Tensor of shape (rows, cols[, C]) / (N, C, rows, cols), same dtype.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.adaptive_pool(np.arange(10, dtype=np.uint8).reshape(2, 5), (1, 2), "max")
    array([[7, 9]], dtype=uint8)
    """
    _check_reduce(reduce)
    rows, cols = parse_size(size)
    return _apply(image, device, lambda t: adaptive_pool_tensor(t, (rows, cols), reduce))


def global_pool(image: ImageOrTensor, reduce: str = "avg", device: str | torch.device = "cpu") -> ImageOrTensor:
    """Global pooling: one value per channel (GAP for ``reduce="avg"``).

    Returns
    -------
    ndarray of shape (C,) for an image ((1,) for a 2-D image), or a Tensor of
    shape (N, C). ``max``/``min`` keep the dtype; ``avg`` is the float64 mean.

    Examples
    --------
    >>> import numpy as np, poolcli
    >>> poolcli.global_pool(np.array([[0, 1], [2, 4]], dtype=np.uint8), "avg")
    array([1.75])
    """
    _check_reduce(reduce)
    if isinstance(image, np.ndarray):
        t = to_tensor(image, resolve_device(device))
        return global_pool_tensor(t, reduce)[0].cpu().numpy()
    return global_pool_tensor(_check_tensor(image), reduce)


# --- tensor level ------------------------------------------------------------------


def pool_tensor(x: torch.Tensor, spec: PoolSpec) -> torch.Tensor:
    """Pool an (N, C, H, W) tensor with a validated :class:`PoolSpec`."""
    import torch

    rows, cols = spec.plan(x.shape[2], x.shape[3])
    if spec.op in ("max", "min"):
        y, undo = _ordered(x)
        fill = _extreme(y.dtype, lowest=spec.op == "max")
        combine = torch.maximum if spec.op == "max" else torch.minimum
        y = _reduce_axis(y, 2, rows, fill, combine)
        y = _reduce_axis(y, 3, cols, fill, combine)
        return undo(y)
    acc = _sum_dtype(x.dtype, spec.kernel[0] * spec.kernel[1])
    sums = _reduce_axis(x, 2, rows, 0, torch.add, acc)
    sums = _reduce_axis(sums, 3, cols, 0, torch.add, acc)
    if spec.divisor is not None:
        div: torch.Tensor | int = spec.divisor
    else:
        ch = _window_counts(rows, spec.count_include_pad)
        cw = _window_counts(cols, spec.count_include_pad)
        if len(set(ch)) == 1 and len(set(cw)) == 1:
            div = ch[0] * cw[0]
        else:
            th = torch.tensor(ch, dtype=acc, device=x.device)
            tw = torch.tensor(cw, dtype=acc, device=x.device)
            div = th[:, None] * tw[None, :]
    return _divide(sums, div, x.dtype)


def adaptive_pool_tensor(x: torch.Tensor, size: tuple[int | None, int | None], reduce: str) -> torch.Tensor:
    """Adaptive pooling of an (N, C, H, W) tensor to ``size`` (None keeps a side)."""
    import torch

    out_h = x.shape[2] if size[0] is None else size[0]
    out_w = x.shape[3] if size[1] is None else size[1]
    if reduce == "avg":
        acc = torch.float64 if x.dtype.is_floating_point else torch.int64
        sums, nh = _adaptive_axis(x.to(acc), 2, out_h, torch.add)
        sums, nw = _adaptive_axis(sums, 3, out_w, torch.add)
        div = torch.tensor(nh, dtype=acc, device=x.device)[:, None] * torch.tensor(nw, dtype=acc, device=x.device)
        return _divide(sums, div, x.dtype)
    y, undo = _ordered(x)
    combine = torch.maximum if reduce == "max" else torch.minimum
    y, _ = _adaptive_axis(y, 2, out_h, combine)
    y, _ = _adaptive_axis(y, 3, out_w, combine)
    return undo(y)


def global_pool_tensor(x: torch.Tensor, reduce: str) -> torch.Tensor:
    """Reduce an (N, C, H, W) tensor over H and W to (N, C)."""
    import torch

    if reduce == "avg":
        acc = torch.float64 if x.dtype.is_floating_point else torch.int64
        total = x.to(acc).sum(dim=(2, 3))
        return total.to(torch.float64) / (x.shape[2] * x.shape[3])
    y, undo = _ordered(x)
    y = y.amax(dim=(2, 3)) if reduce == "max" else y.amin(dim=(2, 3))
    return undo(y)


# --- helpers -----------------------------------------------------------------------


def _apply(
    image: ImageOrTensor, device: str | torch.device, fn: Callable[[torch.Tensor], torch.Tensor]
) -> ImageOrTensor:
    if isinstance(image, np.ndarray):
        t = to_tensor(image, resolve_device(device))
        return to_image(fn(t), image.ndim)
    return fn(_check_tensor(image))


def _check_tensor(x: object) -> torch.Tensor:
    import torch

    if not isinstance(x, torch.Tensor):
        raise ImageShapeError(f"expected a numpy array or a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.numel() == 0:
        raise ImageShapeError(f"expected a tensor of shape (N, C, H, W), got {tuple(x.shape)}")
    allowed = {getattr(torch, str(d)) for d in SUPPORTED_DTYPES}
    if x.dtype not in allowed:
        raise ImageShapeError(f"unsupported sample format {x.dtype}")
    return x


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCES:
        raise ParameterError("reduce", reduce, f"must be one of {', '.join(REDUCES)}")


def _ordered(x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """A dtype whose comparisons torch implements, and the way back.

    torch has almost no uint16 kernels; flipping the top bit maps uint16 onto
    int16 with the order kept (0 -> -32768, 65535 -> 32767), exactly.
    """
    import torch

    if x.dtype != torch.uint16:
        return x, lambda y: y
    flipped = torch.bitwise_xor(x.view(torch.int16), -32768)
    return flipped, lambda y: torch.bitwise_xor(y, -32768).view(torch.uint16)


def _extreme(dtype: torch.dtype, lowest: bool) -> float | int:
    import torch

    if dtype.is_floating_point:
        return float("-inf") if lowest else float("inf")
    info = torch.iinfo(dtype)
    return info.min if lowest else info.max


def _sum_dtype(dtype: torch.dtype, taps: int) -> torch.dtype:
    """The narrowest dtype that holds a sum of ``taps`` values exactly."""
    import torch

    if dtype.is_floating_point:
        return torch.float64
    bound = {torch.uint8: 255, torch.int8: 128, torch.uint16: 65535, torch.int16: 32768}.get(dtype)
    if bound is not None and bound * taps < 2**31:
        return torch.int32
    return torch.int64


def _padded(x: torch.Tensor, dim: int, before: int, after: int, fill: float | int) -> torch.Tensor:
    """``x`` with ``before``/``after`` cells of ``fill`` added along ``dim``."""
    import torch

    if before == 0 and after == 0:
        return x
    shape = list(x.shape)
    shape[dim] += before + after
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    if before:
        out.narrow(dim, 0, before).fill_(fill)
    if after:
        out.narrow(dim, before + x.shape[dim], after).fill_(fill)
    out.narrow(dim, before, x.shape[dim]).copy_(x)
    return out


def _taps(x: torch.Tensor, dim: int, plan: AxisPlan, fill: float | int) -> list[torch.Tensor]:
    """The ``kernel`` strided views along ``dim`` whose reduction is the pooled axis.

    View ``j`` holds, at output position ``i``, the cell ``i*s - before + j*d``.
    """
    n = x.shape[dim]
    after = max(0, plan.span - plan.before - n)
    xp = _padded(x, dim, plan.before, after, fill)
    index: list[slice] = [slice(None)] * x.dim()
    views = []
    for j in range(plan.kernel):
        start = j * plan.dilation
        index[dim] = slice(start, start + (plan.out - 1) * plan.stride + 1, plan.stride)
        views.append(xp[tuple(index)])
    return views


def _reduce_axis(
    x: torch.Tensor,
    dim: int,
    plan: AxisPlan,
    fill: float | int,
    combine: Callable[..., torch.Tensor],
    acc_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Reduce the windows of ``plan`` along ``dim`` with ``combine``.

    With ``acc_dtype`` the taps are summed in that dtype (for averages).
    """
    views = _taps(x, dim, plan, fill)
    if acc_dtype is not None:
        acc = views[0].to(acc_dtype, copy=True)
        for v in views[1:]:
            acc.add_(v.to(acc_dtype) if v.dtype != acc_dtype and not _adds_directly(v.dtype) else v)
        return acc
    if len(views) == 1:
        return views[0]
    acc = combine(views[0], views[1])
    for v in views[2:]:
        combine(acc, v, out=acc)
    return acc


def _adds_directly(dtype: torch.dtype) -> bool:
    import torch

    return dtype in (torch.uint8, torch.int8, torch.int16, torch.int32)


def _window_counts(plan: AxisPlan, include_pad: bool) -> list[int]:
    """Per output position, how many cells PyTorch divides by along one axis."""
    counts = []
    for i in range(plan.out):
        start = i * plan.stride - plan.before
        end = start + plan.kernel
        if include_pad:
            counts.append(min(end, plan.length + plan.after) - start)
        else:
            counts.append(min(end, plan.length) - max(start, 0))
    return counts


def _divide(sums: torch.Tensor, div: torch.Tensor | int, dtype: torch.dtype) -> torch.Tensor:
    """``sums / div`` as ``dtype``; integers rounded half to even, then clipped."""
    import torch

    if dtype.is_floating_point:
        return (sums / div).to(dtype)
    q = torch.div(sums, div, rounding_mode="floor")
    twice_rest = (sums - q * div) * 2
    q += (twice_rest > div) | ((twice_rest == div) & (q % 2 == 1))
    if dtype == torch.uint16:
        return q.clamp_(0, 65535).to(torch.int32).to(torch.uint16)
    info = torch.iinfo(dtype)
    return q.clamp_(info.min, info.max).to(dtype)


def _adaptive_axis(
    x: torch.Tensor, dim: int, out: int, combine: Callable[..., torch.Tensor]
) -> tuple[torch.Tensor, list[int]]:
    """Adaptive windows along ``dim``: returns the reduction and each window's length.

    Windows differ in length by at most one or two cells; tap ``j`` gathers
    cell ``start + min(j, len - 1)`` (a repeat is harmless for max and min)
    and, for sums, is masked to zero past the window's end.
    """
    import torch

    n = x.shape[dim]
    starts = [(i * n) // out for i in range(out)]
    ends = [-(-((i + 1) * n) // out) for i in range(out)]
    lengths = [e - s for s, e in zip(starts, ends)]
    shape = [1] * x.dim()
    shape[dim] = out
    acc: torch.Tensor | None = None
    for j in range(max(lengths)):
        idx = torch.tensor([s + min(j, ln - 1) for s, ln in zip(starts, lengths)], device=x.device)
        tap = x.index_select(dim, idx)
        if combine is torch.add:
            keep = torch.tensor([j < ln for ln in lengths], device=x.device).view(shape)
            tap = tap * keep
            acc = tap if acc is None else acc.add_(tap)
        else:
            acc = tap if acc is None else combine(acc, tap)
    assert acc is not None
    return acc, lengths

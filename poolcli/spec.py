"""One pooling, described once: :class:`PoolSpec`, and the output-size arithmetic.

Pure Python (no NumPy, no torch), so the command line can validate knobs and
``info`` can answer without importing anything heavy. A spec is built once,
at the boundary (the API's keywords or the CLI's options), checked against
the op registry (:mod:`poolcli.ops`), and then passed whole: to the kernels,
the NumPy reference, the figures and the batch jobs (it pickles). Everything
is in rows x columns (height first), as PyTorch orders it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

from . import ops
from .errors import ImageShapeError, ParameterError, WindowTooLargeError

Pair = tuple[int, int]
PairLike = Union[int, tuple[int, int], list[int], str]
Padding = Union[Pair, Literal["same"]]
Size = tuple[Union[int, None], Union[int, None]]
Ratio = tuple[float, float]

#: The largest kernel, stride, padding, dilation, divisor or output side poolcli
#: accepts: more than any image side, and small enough that no index
#: arithmetic overflows (PyTorch's strides are 64-bit).
KNOB_LIMIT = 2**31 - 1

_PAIR_RE = re.compile(r"^\s*(\d+)\s*(?:[xX×,]\s*(\d+)\s*)?$")


def parse_pair(value: PairLike, name: str) -> Pair:
    """Turn ``3``, ``"3"``, ``"2x3"`` or ``(2, 3)`` into ``(rows, cols)``.

    Raises
    ------
    ParameterError
        When the value is not one or two integers from 0 to :data:`KNOB_LIMIT`.
    """
    pair: Pair
    if isinstance(value, bool):
        raise ParameterError(name, value, "expected an integer or HxW")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)):
        if not (len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise ParameterError(name, value, "expected an integer or a pair of integers (rows, cols)")
        pair = (int(value[0]), int(value[1]))
    elif isinstance(value, str):
        m = _PAIR_RE.match(value)
        if not m:
            raise ParameterError(name, value, "expected an integer like 3 or HxW like 2x3")
        a = int(m.group(1))
        pair = (a, int(m.group(2)) if m.group(2) is not None else a)
    else:
        raise ParameterError(name, value, "expected an integer or HxW")
    if max(pair) > KNOB_LIMIT:
        raise ParameterError(name, _fmt(pair), f"must be at most {KNOB_LIMIT:,}")
    return pair


def parse_size(value: object, name: str = "size") -> Size:
    """Parse an output size: ``64``, ``"64x48"``, ``(64, None)``, ``"64x-"``.

    ``None`` (or ``-``/``none`` in a string) keeps that side of the input, as
    PyTorch's adaptive pooling does.
    """

    def side(v: object) -> int | None:
        if v is None:
            return None
        if isinstance(v, str):
            s = v.strip().lower()
            if s in ("-", "none", "_", ""):
                return None
            if not s.isdigit():
                raise ParameterError(name, value, "expected N, HxW, or '-' for a side kept as is")
            v = int(s)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ParameterError(name, value, "each side must be a positive integer or '-'")
        if v > KNOB_LIMIT:
            raise ParameterError(name, value, f"each side must be at most {KNOB_LIMIT:,}")
        return v

    return _two_sides(value, name, side)


def parse_ratio(value: object, name: str = "ratio") -> Ratio:
    """Parse an output ratio: ``0.5``, ``"0.5x0.75"``, ``(0.5, 0.75)``; each side strictly between 0 and 1.

    The output then has ``int(n * r)`` cells along a side of ``n`` (PyTorch's ``output_ratio``).
    """

    def side(v: object) -> float:
        try:
            r = float(v) if not isinstance(v, bool) else math.nan  # type: ignore[arg-type]
        except (TypeError, ValueError):
            r = math.nan
        if not 0 < r < 1:
            raise ParameterError(name, _show_ratio(value), "each side must be a number between 0 and 1 (exclusive)")
        return r

    return _two_sides(value, name, side)


_T = TypeVar("_T")


def _two_sides(value: object, name: str, side: Callable[[object], _T]) -> tuple[_T, _T]:
    """``(rows, cols)`` from a pair, ``"AxB"`` (or ``A,B``, ``A×B``) or one value for both, each read by ``side``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ParameterError(name, value, "expected (rows, cols)")
        return (side(value[0]), side(value[1]))
    if isinstance(value, str) and re.search(r"[xX×,]", value):
        a, b = re.split(r"[xX×,]", value, maxsplit=1)
        return (side(a.strip()), side(b.strip()))
    one = side(value.strip() if isinstance(value, str) else value)
    return (one, one)


def _show_ratio(value: object) -> object:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return value


@dataclass(frozen=True)
class AxisPlan:
    """How one axis is pooled.

    Window ``i`` starts at ``i * stride - before`` and has taps every
    ``dilation`` cells; ``before``/``after`` is the padding that takes part in
    the count for ``count_include_pad`` (ceil mode may let the last window
    reach further, into cells that are never counted).
    """

    length: int
    kernel: int
    stride: int
    dilation: int
    before: int
    after: int
    out: int

    @property
    def effective(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    @property
    def span(self) -> int:
        """Cells from the first window's start to the last window's end."""
        return (self.out - 1) * self.stride + self.effective


_UNSET: Any = object()


@dataclass(frozen=True)
class PoolSpec:
    """One pooling: the op and every knob, validated, immutable, picklable.

    Build one with :meth:`PoolSpec.make`, which parses and checks the values
    against the op's declaration in :mod:`poolcli.ops`. Knobs an op does not
    take keep their defaults.

    Attributes
    ----------
    op : str
        A name in :data:`poolcli.ops.OPS`.
    kernel, stride, dilation : (rows, cols)
    padding : (rows, cols) or "same"
    ceil_mode, count_include_pad : bool
    divisor : int or None
        PyTorch's ``divisor_override`` (avg).
    size : (rows or None, cols or None) or None
        The output size of adaptive pooling; None keeps a side.
    ratio : (rows, cols) or None
        Instead of ``size``, for an op that takes it (fractional): the output
        has ``int(n * ratio)`` cells along a side of ``n``.
    params : tuple of (name, value)
        The op's own parameters (:attr:`poolcli.ops.OpInfo.params`), all of
        them, defaults included, in declaration order; see :meth:`param`.
    """

    op: str
    kernel: Pair = (2, 2)
    stride: Pair = (2, 2)
    padding: Padding = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor: int | None = None
    size: Size | None = None
    ratio: Ratio | None = None
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def make(
        cls,
        op: str,
        kernel: PairLike = _UNSET,
        stride: PairLike | None = _UNSET,
        padding: PairLike = _UNSET,
        dilation: PairLike = _UNSET,
        ceil_mode: bool = _UNSET,
        count_include_pad: bool = _UNSET,
        divisor: int | None = _UNSET,
        size: object = _UNSET,
        ratio: object = _UNSET,
        **params: Any,
    ) -> PoolSpec:
        """Parse and validate; raises :class:`~poolcli.errors.ParameterError` naming the knob.

        A knob the op does not take is refused when given a value other than
        its default (``divisor`` for max pooling, ``dilation`` for avg).

        >>> PoolSpec.make("max", kernel="2x3").stride
        (2, 3)
        """
        info = ops.get(op)
        given: dict[str, Any] = {
            name: value
            for name, value in (
                ("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation),
                ("ceil_mode", ceil_mode), ("count_include_pad", count_include_pad), ("divisor", divisor),
                ("size", size), ("ratio", ratio),
            )
            if value is not _UNSET
        }  # fmt: skip
        for name, value in given.items():
            if name not in info.knobs and not _is_default(name, value):
                raise ParameterError(name, _show(value), _not_taken(info, name))
        k = parse_pair(given.get("kernel", info.default("kernel", 2)), "kernel")
        raw_stride = given.get("stride")
        if raw_stride is None:
            raw_stride = info.default("stride", k)
        s = parse_pair(raw_stride, "stride")
        d = parse_pair(given.get("dilation", 1), "dilation")
        raw_padding = given.get("padding", 0)
        p: Padding
        if isinstance(raw_padding, str) and raw_padding.strip().lower() == "same":
            p = "same"
        else:
            p = parse_pair(raw_padding, "padding")
        ceil = given.get("ceil_mode", False)
        for name, pair in (("kernel", k), ("stride", s), ("dilation", d)):
            if min(pair) < 1:
                raise ParameterError(name, _fmt(pair), "must be at least 1")
        if info.kernel_max is not None and max(k) > info.kernel_max:
            raise ParameterError("kernel", _fmt(k), f"at most {info.kernel_max} for {info.name} pooling")
        if p != "same":
            if min(p) < 0:
                raise ParameterError("padding", _fmt(p), "must not be negative")
            for axis in (0, 1):
                if p[axis] > k[axis] // 2:
                    raise ParameterError(
                        "padding",
                        _fmt(p),
                        f"at most half the kernel ({k[axis] // 2} for kernel {_fmt(k)}), as PyTorch "
                        "allows: a window must never lie wholly in the padding",
                    )
        elif ceil:
            raise ParameterError("ceil_mode", True, "has no effect with padding 'same'")
        div = given.get("divisor")
        if div is not None and (isinstance(div, bool) or not isinstance(div, int) or not 1 <= div <= KNOB_LIMIT):
            raise ParameterError("divisor", div, f"must be an integer from 1 to {KNOB_LIMIT:,}")
        out_size = out_ratio = None
        if "ratio" in info.knobs and given.get("ratio") is not None:
            if given.get("size") is not None:
                raise ParameterError("ratio", _show_ratio(given["ratio"]), "give an output size or a ratio, not both")
            out_ratio = parse_ratio(given["ratio"])
        elif "size" in info.knobs:
            if given.get("size") is None:
                needs = "an output size or a ratio" if "ratio" in info.knobs else "an output size"
                raise ParameterError("size", None, f"{info.name} pooling needs {needs}")
            out_size = parse_size(given["size"])
        return cls(
            info.name, k, s, p, d, bool(ceil), bool(given.get("count_include_pad", True)), div, out_size, out_ratio,
            _params(info, params),
        )  # fmt: skip

    @property
    def info(self) -> ops.OpInfo:
        """The op's declaration."""
        return ops.OPS[self.op]

    def param(self, name: str) -> Any:
        """The value of the op's own parameter ``name`` (``spec.param("reduce")``)."""
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(f"{self.op} has no parameter {name!r}")

    def replace(self, **changes: Any) -> PoolSpec:
        """A new spec with some knobs changed, validated like :meth:`make`."""
        knobs: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "kernel", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor", "size", "ratio",
            )
            if name in self.info.knobs
        }  # fmt: skip
        if "size" in changes:
            knobs.pop("ratio", None)
        if "ratio" in changes:
            knobs.pop("size", None)
        return PoolSpec.make(self.op, **{**knobs, **dict(self.params), **changes})

    # --- geometry ---------------------------------------------------------------------------

    def axis(self, length: int, axis: int) -> AxisPlan:
        """Plan pooling along ``axis`` (0 = rows, 1 = columns) of ``length`` cells (window ops).

        Raises
        ------
        ParameterError
            When the padded axis is shorter than the effective kernel.
        """
        k, s, d = self.kernel[axis], self.stride[axis], self.dilation[axis]
        eff = d * (k - 1) + 1
        geometry = self.info.geometry
        if geometry != "pytorch":
            if geometry == "max-centred":
                length -= int(self.param("max_size")) - 1
                if length < 1:
                    raise ParameterError("max_size", self.param("max_size"), "larger than the image")
            before, after = (k - 1) // 2, k // 2
            return AxisPlan(length, k, s, d, before, after, (length - 1) // s + 1)
        if self.padding == "same":
            out = -(-length // s)
            total = max((out - 1) * s + eff - length, 0)
            before, after = total // 2, total - total // 2
        else:
            p = self.padding[axis]
            before = after = p
            out = axis_output_length(length, k, s, p, d, self.ceil_mode)
        return AxisPlan(length, k, s, d, before, after, out)

    def plan(self, height: int, width: int) -> tuple[AxisPlan, AxisPlan]:
        """Plan both axes of a ``height x width`` image (window ops).

        Raises
        ------
        WindowTooLargeError
            When the (padded) image is smaller than the effective kernel.
        """
        try:
            return self.axis(height, 0), self.axis(width, 1)
        except ParameterError:
            if self.info.geometry == "max-centred":  # the max window is what does not fit
                m = int(self.param("max_size"))
                raise WindowTooLargeError((height, width), (m, m)) from None
            eff = (self.dilation[0] * (self.kernel[0] - 1) + 1, self.dilation[1] * (self.kernel[1] - 1) + 1)
            raise WindowTooLargeError((height, width), eff, dilated=self.dilation != (1, 1)) from None

    def output_size(self, height: int, width: int) -> Pair:
        """The ``(rows, cols)`` this spec gives for a ``height x width`` image.

        Window ops: ``floor((in + 2p - d(k-1) - 1) / s) + 1`` per axis (ceil
        with ``ceil_mode``); blur ``ceil(in / s)``, maxblur ``ceil((in - m + 1) / s)``;
        unpool the input's size; adaptive: the asked size, a None side
        kept, or ``int(in * ratio)``; global: ``(1, 1)``.

        Raises
        ------
        WindowTooLargeError
            A window op whose window does not fit the image.
        ImageShapeError
            An adaptive op with a kernel (fractional) whose windows need
            ``out + k - 1`` cells the image does not have, or a ratio that
            leaves no cell.
        """
        kind = self.info.kind
        if kind == "global":
            return (1, 1)
        if kind == "adaptive":
            if self.ratio is not None:
                out = (int(height * self.ratio[0]), int(width * self.ratio[1]))
                if min(out) < 1:
                    raise ImageShapeError(
                        f"ratio {_fmt_ratio(self.ratio)} leaves no cell of an image {height}x{width}",
                        shape=(height, width),
                    )
            else:
                assert self.size is not None
                out = (self.size[0] or height, self.size[1] or width)
            if "kernel" in self.info.knobs and (out[0] + self.kernel[0] - 1 > height or
                                                out[1] + self.kernel[1] - 1 > width):  # fmt: skip
                need = (out[0] + self.kernel[0] - 1, out[1] + self.kernel[1] - 1)
                raise ImageShapeError(
                    f"{self.op} output {out[0]}x{out[1]} with kernel {_fmt(self.kernel)} needs an image of at least "
                    f"{need[0]}x{need[1]}; this one is {height}x{width}",
                    shape=(height, width),
                )
            return out
        rows, cols = self.plan(height, width)
        if self.info.output == "input":
            return (height, width)
        return (rows.out, cols.out)

    # --- names ------------------------------------------------------------------------------

    def tag(self) -> str:
        """A short file-name tag: ``max-k2-s2``, plus every knob not at its default.

        Adaptive pooling: ``adaptive-max-64x48`` (``H``/``W`` for a side kept),
        ``fractional-k2-64x48``, ``fractional-k2-r0.5``.
        """
        info = self.info
        extra = [
            p.tag.format(_tag_value(value))
            for p, (_, value) in zip(info.params, self.params)
            if p.tag is not None and value != p.default
        ]
        if info.kind == "adaptive":
            parts = [self.op]
            if info.param("reduce") is not None:
                parts.append(str(self.param("reduce")))
            if "kernel" in info.knobs:
                parts.append(f"k{_fmt(self.kernel)}")
            return "-".join([*parts, self._size_text("r"), *extra])
        parts = [self.op, f"k{_fmt(self.kernel)}", f"s{_fmt(self.stride)}"]
        if self.padding == "same":
            parts.append("psame")
        elif self.padding != (0, 0):
            parts.append(f"p{_fmt(self.padding)}")
        if self.dilation != (1, 1):
            parts.append(f"d{_fmt(self.dilation)}")
        if self.ceil_mode:
            parts.append("ceil")
        if not self.count_include_pad:
            parts.append("nopad")
        if self.divisor is not None:
            parts.append(f"div{self.divisor}")
        return "-".join(parts + extra)

    def describe(self) -> str:
        """Human-readable knobs: ``max k=2 s=2 p=1``, ``adaptive max → 64x48``."""
        info = self.info
        extra = "".join(
            f" {p.name}={_tag_value(value)}"
            for p, (_, value) in zip(info.params, self.params)
            if value != p.default and not (p.name == "reduce" and info.kind != "window")  # said up front
        )
        if info.kind == "adaptive":
            kernel = f" k={_fmt(self.kernel)}" if "kernel" in info.knobs else ""
            return f"{self.short}{kernel} → {self._size_text('×')}" + extra
        if info.kind == "global":
            return f"{self.op} {self.param('reduce')}"
        text = f"{self.op} k={_fmt(self.kernel)} s={_fmt(self.stride)}"
        if self.padding == "same":
            text += " p=same"
        elif self.padding != (0, 0):
            text += f" p={_fmt(self.padding)}"
        if self.dilation != (1, 1):
            text += f" d={_fmt(self.dilation)}"
        if self.ceil_mode:
            text += " ceil"
        if not self.count_include_pad:
            text += " no-count-pad"
        if self.divisor is not None:
            text += f" divisor={self.divisor}"
        return text + extra

    @property
    def short(self) -> str:
        """The op as a panel title names it: ``max``, ``adaptive max``, ``fractional``."""
        if self.info.kind == "window" or self.info.param("reduce") is None:
            return self.op
        return f"{self.op} {self.param('reduce')}"

    def _size_text(self, ratio_mark: str) -> str:
        """``64x48`` (``H``/``W`` for a side kept), or the ratio after ``ratio_mark``."""
        if self.ratio is not None:
            return ratio_mark + _fmt_ratio(self.ratio)
        assert self.size is not None
        return f"{self.size[0] or 'H'}x{self.size[1] or 'W'}"


def axis_output_length(length: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's output length along one axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``; with ``ceil_mode`` the ceiling,
    less one when the last window would start past the input and the left
    padding (PyTorch's rule).

    Raises
    ------
    ParameterError
        When no window fits (``n + 2p`` shorter than the effective kernel
        ``d(k-1)+1``, beyond what ceil mode allows).
    """
    eff = dilation * (kernel - 1) + 1
    room = length + 2 * padding - eff
    if ceil_mode:
        out = -(-room // stride) + 1
        if (out - 1) * stride >= length + padding:
            out -= 1
    else:
        out = room // stride + 1
    if out < 1:
        raise ParameterError(
            "kernel", kernel, f"effective size {eff} does not fit the padded length {length + 2 * padding}"
        )
    return out


def output_size(
    height: int,
    width: int,
    kernel: PairLike,
    stride: PairLike | None = None,
    padding: PairLike = 0,
    dilation: PairLike = 1,
    ceil_mode: bool = False,
) -> Pair:
    """Output ``(rows, cols)`` of pooling a ``height x width`` image.

    Examples
    --------
    >>> output_size(32, 32, kernel=3, stride=2, padding=1)
    (16, 16)
    >>> output_size(5, 5, kernel=2, ceil_mode=True)
    (3, 3)
    """
    spec = PoolSpec.make("max", kernel, stride, padding, dilation, ceil_mode)
    return spec.output_size(height, width)


def _params(info: ops.OpInfo, given: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The op's own parameters, checked, with defaults filled in."""
    unknown = sorted(set(given) - {p.name for p in info.params})
    if unknown:
        name = unknown[0]
        raise ParameterError(name, _show(given[name]), _not_taken(info, name))
    return tuple((p.name, _check_param(p, given.get(p.name, p.default))) for p in info.params)


def _check_param(param: ops.Param, value: Any) -> Any:
    if param.choices is not None:
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text not in param.choices:
            raise ParameterError(param.name, value, f"must be one of {', '.join(param.choices)}")
        return text
    if isinstance(param.default, bool):
        if not isinstance(value, bool):
            raise ParameterError(param.name, value, "must be True or False")
        return value
    kind = int if isinstance(param.default, int) else float
    try:
        number = kind(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if kind is int and not (isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())):
        number = math.nan
    if (
        number != number
        or (math.isinf(number) and not (param.inf and number > 0))
        or (param.low is not None and (number <= param.low if param.low_open else number < param.low))
        or (param.high is not None and number > param.high and not (param.inf and math.isinf(number)))
    ):
        raise ParameterError(param.name, value, _number_rule(param, kind))
    return number


def _number_rule(param: ops.Param, kind: type) -> str:
    """What a number parameter must be: ``must be an integer from 1 to 7``, ``must be a number above 0, or inf``."""
    what = "an integer" if kind is int else "a number"
    if param.low is not None and param.high is not None:
        bounds = f" from {param.low:g} to {param.high:g}"
    elif param.low is not None:
        bounds = f" above {param.low:g}" if param.low_open else f" from {param.low:g}"
    else:
        bounds = ""
    return f"must be {what}{bounds}" + (", or inf" if param.inf else "")


def _is_default(name: str, value: object) -> bool:
    defaults: dict[str, tuple[object, ...]] = {
        "kernel": (2, "2", (2, 2)),
        "stride": (None,),
        "padding": (0, "0", (0, 0)),
        "dilation": (1, "1", (1, 1)),
        "ceil_mode": (False,),
        "count_include_pad": (True,),
        "divisor": (None,),
        "size": (None,),
        "ratio": (None,),
    }
    return value in defaults[name]


def _not_taken(info: ops.OpInfo, name: str) -> str:
    reason = dict(info.why_not).get(name)
    if reason is not None:
        return reason
    takers = [op.name for op in ops.OPS.values() if name in op.knobs or op.param(name) is not None]
    return f"only applies to {' and '.join(takers)} pooling" if takers else f"is not a parameter of {info.name} pooling"


def _tag_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fmt_ratio(ratio: Ratio) -> str:
    return f"{ratio[0]:g}" if ratio[0] == ratio[1] else f"{ratio[0]:g}x{ratio[1]:g}"


def _show(value: object) -> object:
    return (
        _fmt(value)
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)
        else value
    )


def _fmt(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"

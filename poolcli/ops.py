"""The op registry: every pooling operation declared once.

Pure Python (nothing heavy is imported), so the command line, the naming of
output files and the recognition of earlier outputs can read it at start-up.
An :class:`OpInfo` says what the rest of poolcli needs to know about an op:
its name and help, which knobs it takes, its op-specific parameters, how its
output files are tagged, which engine computes it (the banded separable
engine of :mod:`poolcli.pooling`, or a kernel of its own) and which function
of :mod:`poolcli.reference` defines it.

Adding an op is one entry in :data:`OPS`, one kernel (none when the
separable engine or a generic path covers it) and one reference function:
the commands, ``compare --ops``, output names, the earlier-output matcher and
the test battery all read this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["window", "adaptive", "global"]

#: The knobs every window op may take (PyTorch's names), in the order a tag spells them.
GEOMETRY: tuple[str, ...] = ("kernel", "stride", "padding", "dilation", "ceil_mode")


@dataclass(frozen=True)
class Param:
    """An op-specific parameter (``reduce`` of adaptive pooling, ``even`` of median ...).

    Its type is its default's: a text (with ``choices``), a bool, an int or a float.

    Attributes
    ----------
    name : str
        The Python keyword; the command-line flag is ``--name`` with ``-`` for ``_``.
    default : str, int, float or bool
        The value when not given.
    help : str
        One line for ``--help``.
    choices : tuple of str, optional
        The values allowed, for a text parameter.
    low, high : float, optional
        Bounds for a number (inclusive unless ``low_open``).
    tag : str, optional
        How a value other than the default appears in output file names, a
        format with one ``{}`` (``"even{}"`` gives ``evenmean``; a bool's tag
        has none and is shown when true); None: never.
    low_open : bool
        ``low`` itself is refused (a power must be above 0).
    inf : bool
        A float that may also be infinite (``power=inf``).
    """

    name: str
    default: str | int | float | bool
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    tag: str | None = None
    low_open: bool = False
    inf: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class OpInfo:
    """One pooling operation, as every part of poolcli sees it.

    Attributes
    ----------
    name : str
        The op's name: API ``poolcli.pool(image, name)``, CLI command, ``compare --ops``.
    summary : str
        The first line of its help.
    example : str
        A command line for the end of its help.
    kind : {"window", "adaptive", "global"}
        ``window``: a kernel slides with a stride (``-k/-s/-p/-d/--ceil``);
        ``adaptive``: an output size is asked for; ``global``: one value per channel.
    knobs : frozenset of str
        The shared knobs it takes: some of :data:`GEOMETRY`,
        ``count_include_pad``, ``divisor``, ``size``.
    params : tuple of Param
        Its own parameters.
    separable : {"max", "min", "sum"} or None
        The combine of the banded separable engine (a window reduction that
        is a row pass then a column pass); None when ``kernel`` computes it.
    kernel : str, optional
        ``"function"`` in :mod:`poolcli.pooling` for an (N, C, H, W) tensor
        and a spec, for ops the separable engine does not cover.
    reference : str
        The function of :mod:`poolcli.reference` that defines it.
    panels : tuple of str
        The names ``compare --ops`` knows it by (adaptive pooling is one
        panel per reduction).
    defaults : tuple of (knob, value)
        Its own defaults for shared knobs (blur: ``kernel`` 3, ``stride`` 2;
        otherwise the kernel is 2 and the stride the kernel).
    kernel_max : int, optional
        The largest kernel side it takes (blur's binomial filters: 7).
    geometry : {"pytorch", "centred", "max-centred"}
        How windows are placed along an axis: ``pytorch``, as
        ``max_pool2d`` (``-p``, ``same``, ``--ceil``, dilation);
        ``centred``, the op pads ``(k-1)//2`` cells before and ``k//2``
        after by itself, for ``ceil(n/s)`` outputs; ``max-centred``, a
        stride-1 max over ``max_size`` cells first (``n - max_size + 1``
        left), then ``centred``.
    output : {"pooled", "input"}
        ``input``: the result has the input's size (unpooling).
    indices : bool
        Whether ``return_indices`` (and ``--winners``) apply: where each
        window's value came from.
    details : str, optional
        ``"function"`` in :mod:`poolcli.pooling`, ``(spec, shape) -> dict``:
        the random draws behind a result, written into ``--report``.
    why_not : tuple of (knob, reason)
        Why it refuses a shared knob, said instead of "only applies to ...".
    """

    name: str
    summary: str
    example: str
    kind: Kind
    knobs: frozenset[str]
    reference: str
    params: tuple[Param, ...] = ()
    separable: Literal["max", "min", "sum"] | None = None
    kernel: str | None = None
    panels: tuple[str, ...] = ()
    defaults: tuple[tuple[str, int], ...] = ()
    kernel_max: int | None = None
    geometry: Literal["pytorch", "centred", "max-centred"] = "pytorch"
    output: Literal["pooled", "input"] = "pooled"
    indices: bool = False
    details: str | None = None
    why_not: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def default(self, knob: str, fallback: Any = None) -> Any:
        """Its own default for a shared knob (``defaults``), else ``fallback``."""
        return dict(self.defaults).get(knob, fallback)


REDUCE_CHOICES: tuple[str, ...] = ("avg", "max", "min")

_WINDOW = frozenset(GEOMETRY)
_NO_DILATION = "{} pooling has no dilation ({})"
_SEED = Param(
    "seed", 0, "Seed of the random draws (the same seed, the same result).", low=0, high=2**63 - 1, tag="seed{}"
)
_PAD_MODE = Param(
    "pad_mode",
    "reflect",
    "What the blur sees past the edge: mirrored cells (edge not repeated), zeros, or the edge cell repeated.",
    choices=("reflect", "zero", "replicate"),
    tag="{}",
)
_BLUR_PADS = "{} pads by itself: (k-1)//2 cells before and k//2 after, as --pad-mode says"

#: Every op poolcli has, by name, in the order help and figures list them.
OPS: dict[str, OpInfo] = {
    op.name: op
    for op in (
        OpInfo(
            "max",
            "Max pooling: each output pixel is the brightest in its window.",
            "poolcli max photos/ -r -k 2 -o small/",
            "window",
            _WINDOW,
            reference="pool",
            separable="max",
            panels=("max",),
            indices=True,
        ),
        OpInfo(
            "avg",
            "Average pooling: each output pixel is its window's mean (integers rounded half to even).",
            "poolcli avg photo.png -k 3 -s 2 -p 1 --no-count-include-pad -o small.png",
            "window",
            _WINDOW - {"dilation"} | {"count_include_pad", "divisor"},
            reference="pool",
            separable="sum",
            panels=("avg",),
            why_not=(("dilation", "avg pooling has no dilation (PyTorch's avg_pool2d has none); use max or min"),),
        ),
        OpInfo(
            "min",
            "Min pooling: each output pixel is the darkest in its window (PyTorch's -max_pool(-x)).",
            "poolcli min photo.png -k 2x3 --ceil --gray",
            "window",
            _WINDOW,
            reference="pool",
            separable="min",
            panels=("min",),
            indices=True,
        ),
        OpInfo(
            "adaptive",
            "Adaptive pooling to any output size (PyTorch's adaptive_*_pool2d).",
            "poolcli adaptive photo.png --size 64x48 --reduce max",
            "adaptive",
            frozenset({"size"}),
            reference="adaptive_pool",
            kernel="adaptive_kernel",
            params=(Param("reduce", "avg", "How each window is reduced.", choices=REDUCE_CHOICES),),
            panels=("adaptive", "adaptive-max", "adaptive-min"),
        ),
        OpInfo(
            "global",
            "Global pooling: one value per channel, in R, G, B(, A) order (GAP for avg).",
            "poolcli global photo.png --reduce avg --json",
            "global",
            frozenset(),
            reference="global_pool",
            kernel="global_kernel",
            params=(Param("reduce", "avg", "How the whole image is reduced.", choices=REDUCE_CHOICES),),
        ),
        OpInfo(
            "median",
            "Median pooling: each output pixel is its window's median; padded cells take no part.",
            "poolcli median scan.png -k 3 -s 2 -p 1 --even mean",
            "window",
            _WINDOW,
            reference="median_pool",
            kernel="median_kernel",
            params=(
                Param(
                    "even",
                    "lower",
                    "An even count of cells has two middles: the lower (as torch.median) or "
                    "their mean (as numpy.median, integers rounded half to even).",
                    choices=("lower", "mean"),
                    tag="even{}",
                ),
            ),
            panels=("median",),
        ),
        OpInfo(
            "lp",
            "Power-average (Lp) pooling, PyTorch's lp_pool2d: (sum of x^p over the window)^(1/p).",
            "poolcli lp photo.png -k 3 -s 2 --power 3",
            "window",
            frozenset({"kernel", "stride", "ceil_mode"}),
            reference="lp_pool",
            kernel="lp_kernel",
            params=(
                Param(
                    "power",
                    2.0,
                    "The p of the Lp norm, above 0; inf is the max of |x| (as PyTorch). Integer "
                    "images: float64, rounded half to even, clipped.",
                    low=0,
                    low_open=True,
                    inf=True,
                    tag="pow{}",
                ),
                Param(
                    "abs",
                    False,
                    "Pool |x| (the Lp norm). Without it negative values are refused with a "
                    "fractional power (PyTorch gives NaN); integer powers work as in PyTorch.",
                    tag="abs",
                ),
            ),
            panels=("lp",),
            why_not=(
                ("padding", "lp pooling has no padding (PyTorch's lp_pool2d has none)"),
                ("dilation", _NO_DILATION.format("lp", "PyTorch's lp_pool2d has none")),
            ),
        ),
        OpInfo(
            "blur",
            "Anti-aliased downsampling (BlurPool, Zhang 2019): a binomial blur, then every stride-th pixel.",
            "poolcli blur photo.png -k 3 -s 2 --pad-mode reflect",
            "window",
            frozenset({"kernel", "stride"}),
            reference="blur_pool",
            kernel="blur_kernel",
            params=(_PAD_MODE,),
            panels=("blur",),
            defaults=(("kernel", 3), ("stride", 2)),
            kernel_max=7,
            geometry="centred",
            why_not=(
                ("padding", _BLUR_PADS.format("blur")),
                ("dilation", _NO_DILATION.format("blur", "its filter is a binomial of k taps")),
                ("ceil_mode", "blur always gives ceil(in/stride) outputs"),
            ),
        ),
        OpInfo(
            "maxblur",
            "MaxBlurPool (Zhang 2019; kornia's max_blur_pool2d): a stride-1 max, then blur.",
            "poolcli maxblur photo.png -k 3 -s 2 --max-size 2",
            "window",
            frozenset({"kernel", "stride"}),
            reference="maxblur_pool",
            kernel="maxblur_kernel",
            params=(
                Param(
                    "max_size", 2, "Side of the stride-1 max window before the blur.", low=1, high=2**31 - 1, tag="m{}"
                ),
                _PAD_MODE,
            ),
            panels=("maxblur",),
            defaults=(("kernel", 3), ("stride", 2)),
            kernel_max=7,
            geometry="max-centred",
            why_not=(
                ("padding", _BLUR_PADS.format("maxblur")),
                ("dilation", _NO_DILATION.format("maxblur", "its filter is a binomial of k taps")),
                ("ceil_mode", "maxblur always gives ceil((in - max_size + 1)/stride) outputs"),
            ),
        ),
        OpInfo(
            "softpool",
            "SoftPool (Stergiou 2021): sum(x*e^x)/sum(e^x) over the window; integer images scaled to 0..1 "
            "by the dtype's maximum first, then back, rounded half to even.",
            "poolcli softpool photo.png -k 2",
            "window",
            _WINDOW,
            reference="softpool",
            kernel="softpool_kernel",
            panels=("softpool",),
        ),
        OpInfo(
            "stochastic",
            "Stochastic pooling (Zeiler & Fergus 2013) for non-negative images: the probability-weighted "
            "mean, or one cell drawn with probability value/sum.",
            "poolcli stochastic photo.png -k 2 --mode sample --seed 7",
            "window",
            _WINDOW,
            reference="stochastic_pool",
            kernel="stochastic_kernel",
            params=(
                Param(
                    "mode",
                    "expected",
                    "expected: sum(x^2)/sum(x) (all-zero windows give 0); sample: one cell "
                    "per window, drawn from --seed.",
                    choices=("expected", "sample"),
                    tag="{}",
                ),
                _SEED,
            ),
            panels=("stochastic",),
            details="stochastic_details",
        ),
        OpInfo(
            "fractional",
            "Fractional max pooling (Graham 2014), PyTorch's fractional_max_pool2d: pseudo-random windows "
            "to any output size or ratio.",
            "poolcli fractional photo.png -k 2 --ratio 0.7 --seed 3",
            "adaptive",
            frozenset({"size", "ratio", "kernel"}),
            reference="fractional_pool",
            kernel="fractional_kernel",
            params=(_SEED,),
            panels=("fractional",),
            details="fractional_details",
        ),
        OpInfo(
            "unpool",
            "Max unpooling (PyTorch's max_unpool2d of max_pool2d): each window's max put back where it "
            "came from, zeros elsewhere; the input's size.",
            "poolcli unpool photo.png -k 4",
            "window",
            _WINDOW,
            reference="unpool_pool",
            kernel="unpool_kernel",
            params=(Param("reduce", "max", "Whose winners are put back.", choices=("max", "min"), tag="{}"),),
            panels=("unpool",),
            output="input",
        ),
    )
}


def get(name: str) -> OpInfo:
    """The op called ``name``; :class:`~poolcli.errors.ParameterError` if there is none."""
    op = OPS.get(name)
    if op is None:
        from .errors import ParameterError

        raise ParameterError("op", name, f"unknown (poolcli has {', '.join(OPS)})")
    return op


def image_ops() -> tuple[str, ...]:
    """The ops whose result is an image (every op but global)."""
    return tuple(name for name, op in OPS.items() if op.kind != "global")


def window_ops() -> tuple[str, ...]:
    """The ops a kernel slides for (the rows of ``poolcli info``)."""
    return tuple(name for name, op in OPS.items() if op.kind == "window")


def panel_names() -> tuple[str, ...]:
    """What ``compare --ops`` accepts."""
    return tuple(panel for op in OPS.values() for panel in op.panels)


def panel_op(panel: str) -> tuple[OpInfo, dict[str, Any]]:
    """The op behind a ``compare`` panel name and the parameters it implies.

    >>> panel_op("adaptive-max")[1]
    {'reduce': 'max'}
    """
    for op in OPS.values():
        if panel in op.panels:
            reduce = panel.partition("-")[2]
            return op, ({"reduce": reduce} if reduce else {})
    from .errors import ParameterError

    raise ParameterError("ops", panel, f"unknown (use {', '.join(panel_names())})")


#: What the comparison figure's file name carries after the input's stem.
FIGURE_TAG = "compare"

_PAIR = r"\d+(?:x\d+)?"


def output_name_pattern() -> re.Pattern[str]:
    """File names poolcli gives its outputs, built from :data:`OPS`.

    ``<stem>.<window op>-k<K>-s<S>[-<knob>...].<ext>``,
    ``<stem>.<adaptive op>[-<reduce>][-k<K>]-<H|n>x<W|n>|r<ratio>.<ext>``, either followed by
    ``.compare.png`` (a ``--compare`` figure), and ``<stem>.compare[-<knob>...].png``.
    """
    window = "|".join(re.escape(n) for n, op in OPS.items() if op.kind == "window")
    adaptive = "|".join(re.escape(n) for n, op in OPS.items() if op.kind == "adaptive")
    tags = [rf"(?:{window})-k{_PAIR}-s{_PAIR}(?:-[A-Za-z0-9.]+)*"]
    if adaptive:
        size = r"(?:(?:\d+|H)x(?:\d+|W)|r[0-9.]+(?:x[0-9.]+)?)"
        tags.append(rf"(?:{adaptive})(?:-[a-z]+)?(?:-k{_PAIR})?-{size}(?:-[A-Za-z0-9.]+)*")
    return re.compile(
        rf".+\.(?:{'|'.join(tags)})(?:\.{FIGURE_TAG})?\.[A-Za-z0-9]+"
        rf"|.+\.{FIGURE_TAG}(?:-[A-Za-z0-9.,]+)*\.png"
    )


OUTPUT_NAME = output_name_pattern()


def is_output_name(name: str) -> bool:
    """Whether ``name`` looks like a file poolcli wrote (``photo.max-k2-s2.jpg``, ``photo.compare.png``).

    >>> is_output_name("photo.max-k2-s2.jpg"), is_output_name("photo.jpg")
    (True, False)
    """
    return OUTPUT_NAME.fullmatch(name) is not None

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
from typing import Literal

Kind = Literal["window", "adaptive", "global"]

#: The knobs every window op may take (PyTorch's names), in the order a tag spells them.
GEOMETRY: tuple[str, ...] = ("kernel", "stride", "padding", "dilation", "ceil_mode")


@dataclass(frozen=True)
class Param:
    """An op-specific parameter (``reduce`` of adaptive pooling, ``even`` of median ...).

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
        Bounds for a number (inclusive).
    tag : str, optional
        How a value other than the default appears in output file names, a
        format with one ``{}`` (``"even{}"`` gives ``evenmean``); None: never.
    """

    name: str
    default: str | int | float | bool
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    tag: str | None = None

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

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


REDUCE_CHOICES: tuple[str, ...] = ("avg", "max", "min")

_WINDOW = frozenset(GEOMETRY)

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


def panel_op(panel: str) -> tuple[OpInfo, dict[str, str]]:
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
    ``<stem>.<adaptive op>-<reduce>-<H|n>x<W|n>.<ext>``, either followed by
    ``.compare.png`` (a ``--compare`` figure), and ``<stem>.compare[-<knob>...].png``.
    """
    window = "|".join(re.escape(n) for n, op in OPS.items() if op.kind == "window")
    adaptive = "|".join(re.escape(n) for n, op in OPS.items() if op.kind == "adaptive")
    tags = [rf"(?:{window})-k{_PAIR}-s{_PAIR}(?:-[A-Za-z0-9.]+)*"]
    if adaptive:
        tags.append(rf"(?:{adaptive})-[a-z]+-(?:\d+|H)x(?:\d+|W)(?:-[A-Za-z0-9.]+)*")
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

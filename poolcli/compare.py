"""Comparison figures: which poolings a figure shows, and its panels.

A :class:`Comparison` is planned (and validated) before any image is read:
the panels (op names from :func:`poolcli.ops.panel_names`) and one column
per kernel setting. :func:`comparison_grid` pools one image for every panel
with :mod:`poolcli.pooling` and hands :mod:`poolcli.figures` the panels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ops
from .errors import ParameterError
from .spec import PairLike, PoolSpec

if TYPE_CHECKING:
    import numpy as np

    from .figures import Panel

#: What ``poolcli compare`` shows when ``--ops`` is not given.
DEFAULT_PANELS: tuple[str, ...] = ("max", "avg", "min", "adaptive")
#: Its default kernel: on a typical photo, 2x2 panels look alike; 8x8 shows what each op keeps.
DEFAULT_KERNEL = 8


def default_kernel(panels: Sequence[str]) -> int:
    """The kernel a figure of ``panels`` gets when none is given: :data:`DEFAULT_KERNEL`, or less
    where a panel's op takes no larger one (blur pooling's filters go up to 7 taps).

    >>> default_kernel(["max", "avg"]), default_kernel(["max", "blur"])
    (8, 7)
    """
    limits = [ops.panel_op(p)[0].kernel_max for p in panels]
    return min([DEFAULT_KERNEL, *(k for k in limits if k is not None)])


@dataclass(frozen=True)
class Column:
    """One kernel setting: a spec per panel, and the window that sizes adaptive panels."""

    specs: tuple[PoolSpec, ...]
    window: PoolSpec


@dataclass(frozen=True)
class Comparison:
    """What ``poolcli compare`` draws: every panel in ``panels`` at every setting in ``columns``.

    With ``diff``, each op after the first gets a ``|op - first op|`` panel,
    all on one colour scale.
    """

    panels: tuple[str, ...]
    columns: tuple[Column, ...]
    diff: bool = False
    tag: str = ops.FIGURE_TAG

    @classmethod
    def make(
        cls,
        panels: tuple[str, ...] = DEFAULT_PANELS,
        kernels: tuple[PairLike, ...] | None = None,
        *,
        diff: bool = False,
        **knobs: Any,
    ) -> Comparison:
        """Validate a comparison before any image is read.

        Each kernel is pooled with the ``stride`` in ``knobs`` (default: that
        kernel); no ``kernels``: one, :func:`default_kernel`. The window knobs (``stride``, ``padding``, ``dilation``,
        ``ceil_mode``) go to every windowed op, which refuses what it does
        not take (avg and ``dilation``); the others (``count_include_pad``,
        ``divisor``) only to the ops that take them.

        Raises
        ------
        ParameterError
            An unknown or repeated panel, no panels or kernels, or knobs PyTorch would refuse.
        """
        if not panels:
            raise ParameterError("ops", None, f"name at least one of {', '.join(ops.panel_names())}")
        if len(set(panels)) != len(panels):
            raise ParameterError("ops", ",".join(panels), "lists an op twice")
        if kernels is None:
            kernels = (default_kernel(panels),)
        if not kernels:
            raise ParameterError("kernels", None, "name at least one kernel")
        infos = [ops.panel_op(panel) for panel in panels]
        columns = []
        for kernel in kernels:
            specs = []
            window: PoolSpec | None = None
            for (info, implied), _ in zip(infos, panels):
                if info.kind == "window":
                    given: dict[str, Any] = {k: v for k, v in knobs.items() if k in ops.GEOMETRY or k in info.knobs}
                    if given.get("stride") is None:  # each kernel, also for ops with a stride of their own (blur)
                        given["stride"] = kernel
                    spec = PoolSpec.make(info.name, kernel=kernel, **given, **implied)
                    window = window or spec
                else:
                    spec = PoolSpec.make(info.name, size=1, **implied)
                specs.append(spec)
            if window is None:
                geometry = {k: v for k, v in knobs.items() if k in ops.GEOMETRY}
                window = PoolSpec.make("max", kernel=kernel, **geometry)
            columns.append(Column(tuple(specs), window))
        tag = "-".join([ops.FIGURE_TAG, *_knob_tag(columns, kernels, knobs)])
        return cls(tuple(panels), tuple(columns), diff, tag)

    @property
    def panel_count(self) -> int:
        """Panels in the figure: the original, every op per column, and the differences."""
        per_column = len(self.panels) + (len(self.panels) - 1 if self.diff else 0)
        return 1 + per_column * len(self.columns)

    @property
    def label(self) -> str:
        return f"{self.panel_count} panels: original, {', '.join(self.panels)}{', differences' if self.diff else ''}"

    def sized_specs(self, shape: tuple[int, int]) -> list[PoolSpec]:
        """Every spec of the figure for an image of ``shape``: adaptive panels take their column's size."""
        out = []
        for column in self.columns:
            size = column.window.output_size(*shape)
            out += [s if s.info.kind == "window" else s.replace(size=size) for s in column.specs]
        return out


def comparison_grid(image: np.ndarray, plan: Comparison, device: str = "cpu") -> list[list[Panel | None]]:
    """The panels of a comparison figure, every one pooled by :mod:`poolcli.pooling`.

    One kernel setting: the original and one panel per op in a row, the
    difference panels (``|first op - op|``) in a row below, all on one colour scale. Several: one row
    per op (then per difference) and one column per kernel, after a first
    column holding the original.

    Raises
    ------
    WindowTooLargeError
        The image is smaller than a kernel.
    """
    from .figures import difference_panel, original_panel, result_panel
    from .pooling import pool

    specs = plan.sized_specs(image.shape[:2])
    per_column = len(plan.panels)
    results = [
        [(spec, pool(image, spec, device=device)) for spec in specs[i : i + per_column]]
        for i in range(0, len(specs), per_column)
    ]
    panels = [[result_panel(out, _title(spec)) for spec, out in column] for column in results]
    # each op against the first: the difference a student asks about (max vs avg, min vs avg ...)
    diffs = [
        [difference_panel(column[0][1], b, column[0][0].short, y.short) for y, b in column[1:]] for column in results
    ] if plan.diff else [[] for _ in results]  # fmt: skip
    original = original_panel(image)
    if len(plan.columns) == 1:
        grid: list[list[Panel | None]] = [[original, *panels[0]]]
        if diffs[0]:
            grid.append([None, *diffs[0]])
        return grid
    rows: list[list[Panel | None]] = [
        [original if i == 0 else None, *(col[i] for col in panels)] for i in range(per_column)
    ]
    rows += [[None, *(col[i] for col in diffs)] for i in range(len(diffs[0]))]
    return rows


def _title(spec: PoolSpec) -> str:
    # an adaptive panel's size is in its title already (the size line)
    return spec.describe().partition(" → ")[0]


def _knob_tag(columns: list[Column], kernels: tuple[PairLike, ...], knobs: dict[str, Any]) -> list[str]:
    """What a default figure name says about the knobs: ``k8-s8``, or ``k2,4,8`` for several kernels."""
    if len(columns) == 1:
        return columns[0].window.tag().split("-")[1:]
    window = columns[0].window
    parts = ["k" + ",".join(c.window.tag().split("-")[1][1:] for c in columns)]
    if knobs.get("stride") is not None:
        parts.append(window.tag().split("-")[2])
    return parts + window.tag().split("-")[3:]

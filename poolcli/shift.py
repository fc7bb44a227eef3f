"""``compare --shift N``: how much each op's output changes when the input moves by a pixel.

Max pooling is not shift-invariant: move the picture one pixel and much of
its output changes. Blurring before subsampling (Zhang, "Making
Convolutional Networks Shift-Invariant Again", 2019) changes it far less.
This shows it for any ops ``--ops`` names (max and avg today; blur or any op
added to the registry later): the image is cut to ``W - N`` columns starting
at column 0, 1, ..., N (the same picture moved left by 0..N pixels), each cut
is pooled by every op, and each panel says how far its output is from the
unshifted one: the mean absolute difference, in pixel values, over every
output pixel and channel, after moving the unshifted output by the whole
output pixels the shift accounts for (``d // stride``): a shift by a
multiple of the stride then changes (nearly) nothing, and what a one-pixel
shift changes is the aliasing Zhang's blur pooling removes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .compare import Comparison
from .errors import ImageShapeError
from .pipeline import Job, Result, Work, _check_output_pixels, _thumbnails

if TYPE_CHECKING:
    import numpy as np

    from .figures import FigureStyle, Panel

#: The most pixels ``--shift`` moves the image.
MAX_SHIFT = 32


@dataclass(frozen=True)
class Shifting:
    """Draw each op of ``comparison`` on the image shifted by 0..``shift`` pixels (a pipeline operation)."""

    comparison: Comparison
    style: FigureStyle
    shift: int

    writes = "figure"

    @property
    def tag(self) -> str:
        return self.comparison.tag.replace("compare", f"compare-shift{self.shift}", 1)

    @property
    def label(self) -> str:
        return f"shifted 0..{self.shift} px: {', '.join(self.comparison.panels)}"

    def check(self, image: np.ndarray, job: Job, work: Work) -> None:
        h, w = image.shape[:2]
        if w <= self.shift:
            raise ImageShapeError(f"image {h}x{w} is too narrow to shift by {self.shift} px", shape=image.shape)
        for spec in self.comparison.sized_specs((h, w - self.shift)):
            rows, cols = spec.output_size(h, w - self.shift)
            _check_output_pixels(rows, cols, work.read.max_pixels)

    def planned_shape(self, image: np.ndarray) -> None:
        return None

    def run(self, image: np.ndarray, job: Job, work: Work, result: Result) -> None:
        from .pipeline import write_job_figure

        grid, changes = shift_grid(image, self.comparison, self.shift, work.device)
        drawn = write_job_figure(job, grid, self.style, work, result)
        result.values = {"change": changes}
        if work.thumbs:
            result.thumbs = _thumbnails(original=image, figure=drawn)
        result.status = "written"


def shifted(image: np.ndarray, shift: int) -> list[np.ndarray]:
    """``image`` moved left by 0..``shift`` pixels: ``shift + 1`` cuts of ``W - shift`` columns each."""
    width = image.shape[1] - shift
    return [image[:, d : d + width] for d in range(shift + 1)]


def change(moved: np.ndarray, reference: np.ndarray, offset: int = 0) -> float:
    """Mean absolute difference, in pixel values over every pixel and channel, of two outputs of one shape.

    ``offset`` aligns them first: the input moved left by ``d`` pixels moves a
    stride-``s`` output left by ``d / s`` pixels, so column ``j`` of ``moved``
    is compared with column ``j + offset`` of ``reference`` (``offset = d // s``);
    what is left is the change a sub-stride shift makes.

    >>> import numpy as np
    >>> change(np.array([[1, 2, 3]]), np.array([[9, 1, 4]]), offset=1)
    1.0
    """
    import numpy as np

    width = reference.shape[1] - offset
    a = moved[:, :width].astype(np.float64)
    b = reference[:, offset : offset + width].astype(np.float64)
    return float(np.mean(np.abs(a - b)))


def shift_grid(
    image: np.ndarray, plan: Comparison, shift: int, device: str = "cpu"
) -> tuple[list[list[Panel | None]], dict[str, list[float]]]:
    """The panels of a shift figure, and each op's measured change per shift.

    The first row is the input at each shift; then one row per op, its
    output at each shift titled with its change from shift 0 (see
    :func:`change`); with ``plan.diff``, a row of ``|shift d − shift 0|``
    maps under each op.

    Returns
    -------
    grid : list of rows of Panel or None
    changes : dict
        Per op (as panels name it), the change at shift 0, 1, ..., ``shift`` (0.0 first).
    """
    from .figures import Panel as FigurePanel
    from .figures import difference_panel, result_panel, size_text
    from .pooling import pool

    if len(plan.columns) != 1:
        raise ValueError("a shift figure takes one kernel setting")
    cuts = shifted(image, shift)
    specs = plan.sized_specs(cuts[0].shape[:2])
    grid: list[list[Panel | None]] = [
        [FigurePanel(cut, f"input moved {d} px left\n{size_text(cut.shape)}") for d, cut in enumerate(cuts)]
    ]
    changes: dict[str, list[float]] = {}
    for spec in specs:
        outs = [pool(cut, spec, device=device) for cut in cuts]
        name = spec.short
        # input columns per output column, from the sizes themselves (a stride, or 1 for unpool)
        step = max(1, round(cuts[0].shape[1] / outs[0].shape[1]))
        offsets = [min(d // step, outs[0].shape[1] - 1) for d in range(shift + 1)]
        measured = [change(out, outs[0], k) for out, k in zip(outs, offsets)]
        changes[name] = measured
        knobs = spec.describe().partition(" → ")[0]
        row: list[Panel | None] = []
        for d, (out, amount, k) in enumerate(zip(outs, measured, offsets)):
            said = (
                "the reference"
                if d == 0
                else f"mean |Δ| vs 0 px: {amount:.2f}" + (f" (outputs aligned by {k} px)" if k else "")
            )
            row.append(result_panel(out, f"{knobs}, moved {d} px\n{said}"))
        grid.append(row)
        if plan.diff:
            grid.append([None, *(difference_panel(out, outs[0], f"{name} {d} px", "0 px") for d, out in
                                 enumerate(outs) if d > 0)])  # fmt: skip
    return grid, changes

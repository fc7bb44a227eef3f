"""Comparison figures: the only module that imports matplotlib.

A figure is a grid of :class:`Panel` s (an original, pooled results,
difference maps) drawn with matplotlib's Agg renderer into an in-memory PNG
and written atomically. Only ``matplotlib.figure.Figure`` and
``FigureCanvasAgg`` are used, never pyplot, so there is no global state and
figures can be drawn from worker threads. matplotlib is imported inside the
functions, when a figure is actually drawn.

What the pictures promise:

* colours are RGB(A) as they come from :mod:`poolcli.image_io`, so red is red;
* grayscale uses a fixed scale (0..255 for uint8, 0..65535 for uint16, the
  data's own range for other types), shared by every panel, never stretched
  per panel, so an average really is darker than a max;
* by default every panel covers the same area as the original and is drawn
  with nearest-neighbour when enlarged, so pooled blocks stay visible;
  ``true_size`` draws each panel at its real size relative to the original;
* alpha is shown over a checkerboard;
* all difference panels of a figure share one colour scale, 0 to the largest
  difference in any of them, so equal colours mean equal values;
* a panel is never handed to matplotlib larger than it is drawn: a large
  image is first reduced to the panel's pixel size by averaging the pixels
  each drawn pixel covers (:func:`shrink`), so a 9000 x 9000 photo costs a
  figure about its drawn size in memory, not twenty times the image.

Sizes in titles are ``H×W px (H×W)``: rows first, as everywhere in poolcli.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import ParameterError
from .image_io import encode_image, write_bytes
from .paths import check_figure_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

PanelKind = Literal["image", "diff"]

#: Panels show this many original pixels per inch at most, so at 100 dpi an
#: original up to PANEL_MAX_IN * 100 pixels wide is drawn 1:1.
REFERENCE_PPI = 100
PANEL_MIN_IN, PANEL_MAX_IN = 2.6, 4.8
#: Figures larger than this (inches, either side) get smaller panels.
FIGURE_MAX_IN = 22.0
#: Panels with at most this many rows and columns can carry their values.
ANNOTATE_MAX = 16
ANNOTATE_CELL_IN = 0.42
#: Numbers are written at most this large, and left out below the smaller size (points).
ANNOTATE_MAX_PT, ANNOTATE_MIN_PT = 10.0, 4.0
#: The share of a cell's width and height the longest number may fill, so neighbours never touch.
ANNOTATE_FILL = 0.84
DIFF_CMAP = "magma"

_MARGIN_IN, _GUTTER_IN = 0.25, 0.35
_TITLE_PT, _LINE_IN, _CHAR_IN = 9, 0.17, 0.075
_HEADER_IN, _COLORBAR_IN, _BOTTOM_IN = 0.62, 0.55, 0.15


@dataclass(frozen=True)
class Panel:
    """One picture in a figure.

    Attributes
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        RGB(A) order; any dtype poolcli reads. For ``kind="diff"`` a 2-D map
        of non-negative differences.
    title : str
        Lines separated by ``\\n``; long lines are wrapped to the panel width.
    kind : {"image", "diff"}
        ``diff`` panels get a colormap and a colour bar with the real range.
    """

    image: np.ndarray
    title: str
    kind: PanelKind = "image"


@dataclass(frozen=True)
class FigureStyle:
    """How a figure looks (the ``--dpi``, ``--title``, ``--cmap``, ... options)."""

    dpi: int = 100
    title: str | None = None
    cmap: str = "gray"
    true_size: bool = False
    annotate: bool = False


Grid = Sequence[Sequence["Panel | None"]]


def size_text(shape: tuple[int, ...]) -> str:
    """``200×300 px (H×W)`` for an image of shape (200, 300[, C])."""
    return f"{shape[0]}×{shape[1]} px (H×W)"


def original_panel(image: np.ndarray) -> Panel:
    """The input as the first panel of a figure."""
    return Panel(image, f"original\n{size_text(image.shape)}")


def result_panel(image: np.ndarray, knobs: str) -> Panel:
    """A pooled image titled with its knobs and size, e.g. ``max k=2 s=2 / → 200×300 px (H×W)``."""
    return Panel(image, f"{knobs}\n→ {size_text(image.shape)}")


def winners_panel(image: np.ndarray, where: np.ndarray, op: str = "max") -> Panel:
    """The original, dimmed to gray, with each window's winning pixel marked (``--winners``).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        The input, any dtype poolcli reads.
    where : ndarray of shape (OH, OW) or (OH, OW, C), integers
        Flat indices ``row * W + col``, as ``pool(..., return_indices=True)`` gives them.
    op : str
        The pooling whose winners they are (for the title).

    Returns
    -------
    Panel holding an RGB uint8 image of shape (H, W, 3): a colour image's red, green and blue
    winners light up those components (a pixel that wins in all three is white), a gray
    image's winners are red. An alpha channel's winners are not drawn.
    """
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    colour = image[..., :3] if channels >= 3 else (image if image.ndim == 2 else image[..., 0])
    values = colour.astype(np.float64)
    gray = values @ np.array([0.299, 0.587, 0.114]) if values.ndim == 3 else values
    lo, hi = display_range(image)
    base = np.clip((gray - lo) / (hi - lo), 0.0, 1.0) * 110  # dimmed, so the marks stand out
    overlay = np.repeat(base[:, :, None], 3, axis=2)
    indices = where if where.ndim == 3 else where[:, :, None]
    if channels >= 3:
        for c in range(3):
            marked = np.unravel_index(np.unique(indices[..., c]), (h, w))
            overlay[marked[0], marked[1], c] = 255
        note = "red, green, blue: each channel's"
    else:
        marked = np.unravel_index(np.unique(indices[..., 0]), (h, w))
        overlay[marked[0], marked[1]] = (255, 40, 40)
        note = "red: each"
    return Panel(np.rint(overlay).astype(np.uint8), f"{op} winners ({note} window's pick)\n{size_text(image.shape)}")


def difference_panel(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> Panel:
    """``|a - b|`` per pixel; for colour images the largest difference over the channels.

    Parameters
    ----------
    a, b : ndarray of the same shape (H, W) or (H, W, C)

    Returns
    -------
    Panel of kind ``diff`` holding a float64 array of shape (H, W).
    """
    if a.shape != b.shape:
        raise ValueError(f"cannot subtract images of shapes {a.shape} and {b.shape}")
    note = ""
    if a.ndim == 3:
        # a channel at a time: a float64 copy of one channel, not of the whole colour image
        diff = np.abs(a[..., 0].astype(np.float64) - b[..., 0])
        for c in range(1, a.shape[2]):
            np.maximum(diff, np.abs(a[..., c].astype(np.float64) - b[..., c]), out=diff)
        note = " (largest of R,G,B)" if a.shape[2] == 3 else " (largest channel)"
    else:
        diff = np.abs(a.astype(np.float64) - b)
    return Panel(diff, f"|{name_a} − {name_b}|{note}\n{size_text(diff.shape)}", "diff")


def check_cmap(name: str) -> str:
    """Return ``name`` if matplotlib knows the colormap; :class:`ParameterError` otherwise."""
    import matplotlib

    if name not in matplotlib.colormaps:
        raise ParameterError("cmap", name, "unknown colormap (try gray, viridis, magma, cividis, bone)")
    return name


def display_range(image: np.ndarray) -> tuple[float, float]:
    """The values drawn as black and white for ``image``'s sample format.

    uint8 and uint16 use their full scale; other integer and float images use
    their data's range (``0..1`` for floats inside it). Alpha is left out.
    """
    if image.dtype == np.uint8:
        return (0.0, 255.0)
    if image.dtype == np.uint16:
        return (0.0, 65535.0)
    colour = image[..., :3] if image.ndim == 3 else image
    finite = colour[np.isfinite(colour)] if colour.dtype.kind == "f" else colour
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if image.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        return (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def make_figure(grid: Grid, style: FigureStyle = FigureStyle()) -> Figure:
    """Lay out ``grid`` (rows of panels, ``None`` for an empty cell) as a matplotlib figure.

    The first panel is the reference: its shape sets every panel's displayed
    size. All image panels share one value scale (their
    :func:`display_range` s combined); all difference panels share one
    colour scale, 0 to the largest difference in any of them. Each panel
    larger than it is drawn is reduced first (:func:`shrink`). The panel
    axes carry the gid ``"panel"``, colour bars ``"colorbar"``.

    With ``style.annotate``, each panel of at most :data:`ANNOTATE_MAX`
    rows and columns gets its values, sized to the cells so that no two
    numbers touch; :func:`annotation_notes` tells which panels were left
    without numbers, and why.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; draw it with :func:`figure_png`.
    """
    from matplotlib.figure import Figure

    layout = _layout(grid, style)
    panels = layout.panels
    reference = panels[0].image
    images = [p.image for p in panels if p.kind == "image"]
    lo, hi = _shared_range(images)
    pw, ph, fig_w, fig_h = layout.pw, layout.ph, layout.fig_w, layout.fig_h
    titles, bands, bars = layout.titles, layout.bands, layout.bars
    diff_top = _diff_top(panels)

    fig = Figure(figsize=(fig_w, fig_h), dpi=style.dpi, facecolor="white")
    heading = style.title if style.title is not None else ""
    info = _describe(reference, lo, hi)
    fig.text(0.5, 1 - 0.12 / fig_h, heading, ha="center", va="top", fontsize=12, fontweight="bold")
    fig.text(0.5, 1 - (0.14 + (0.24 if heading else 0.0)) / fig_h, info, ha="center", va="top", fontsize=8.5,
             color="0.3")  # fmt: skip

    limits = layout.limits
    top = _HEADER_IN
    for r, row in enumerate(grid):
        top += bands[r]
        for c, panel in enumerate(row):
            if panel is None:
                continue
            left = _MARGIN_IN + c * (pw + _GUTTER_IN)
            box = (left / fig_w, 1 - (top + ph) / fig_h, pw / fig_w, ph / fig_h)
            ax = fig.add_axes(box, gid="panel")
            ax.set_axis_off()
            ax.set_xlim(0, limits[1])
            ax.set_ylim(limits[0], 0)
            ax.set_title(titles[r][c], fontsize=_TITLE_PT, pad=4, linespacing=1.15)
            image = _draw(ax, panel, style, lo, hi, limits, (pw, ph), diff_top)
            if panel.kind == "diff":
                # under the drawn map (which is smaller than the panel in true-size mode), wide enough for ticks
                drawn = _extent(panel.image.shape, limits, style.true_size)
                bar_w = min(pw, max(pw * (drawn[1] - drawn[0]) / limits[1], 1.6))
                bar_top = top + ph * drawn[2] / limits[0] + 0.09
                bar_box = ((left + (pw - bar_w) / 2) / fig_w, 1 - (bar_top + 0.11) / fig_h, bar_w / fig_w, 0.11 / fig_h)
                cax = fig.add_axes(bar_box, gid="colorbar")
                fig.colorbar(image, cax=cax, orientation="horizontal")
                cax.tick_params(labelsize=7.5, length=2, pad=1.5)
        top += ph + bars[r]
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render ``fig`` with the Agg backend to PNG bytes (RGB, at the figure's own dpi)."""
    return encode_image("figure.png", figure_rgb(fig), png_compression=6)


def figure_rgb(fig: Figure) -> np.ndarray:
    """Render ``fig`` with the Agg backend: (H, W, 3) uint8 RGB."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    # the figure is opaque: drop Agg's alpha channel, a quarter of the pixels' bytes
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[:, :, :3])


def write_figure(path: str | Path, grid: Grid, style: FigureStyle = FigureStyle(), overwrite: bool = False) -> Path:
    """Draw ``grid`` and write it to ``path`` (a ``.png``) atomically; returns the path.

    Same rules as :func:`poolcli.write_image`: an existing file is an
    :class:`~poolcli.OutputExistsError` unless ``overwrite``; a failed write
    leaves no partial file.
    """
    save_figure(path, grid, style, overwrite)
    return Path(path)


def save_figure(
    path: str | Path, grid: Grid, style: FigureStyle = FigureStyle(), overwrite: bool = False
) -> np.ndarray:
    """:func:`write_figure`, returning the figure's pixels, (H, W, 3) uint8 (for a thumbnail)."""
    check_figure_path(path)
    rgb = figure_rgb(make_figure(grid, style))
    write_bytes(path, encode_image("figure.png", rgb, png_compression=6), overwrite=overwrite)
    return rgb


# --- drawing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where everything of a figure goes, in inches (what :func:`make_figure` draws)."""

    panels: list[Panel]
    pw: float
    ph: float
    fig_w: float
    fig_h: float
    titles: list[list[str]]
    bands: list[float]
    bars: list[float]
    limits: tuple[int, int]


def _layout(grid: Grid, style: FigureStyle) -> _Layout:
    panels = [p for row in grid for p in row if p is not None]
    if not panels:
        raise ValueError("a figure needs at least one panel")
    height, width = panels[0].image.shape[:2]
    n_rows, n_cols = len(grid), max(len(row) for row in grid)
    pw, ph = _panel_inches(height, width, style.annotate)
    bars = [_COLORBAR_IN if any(p is not None and p.kind == "diff" for p in row) else 0.0 for row in grid]
    for _ in range(4):  # lay out; again with smaller panels while the figure is too large (gutters do not shrink)
        wrap = max(12, int((pw + _GUTTER_IN * 0.8) / _CHAR_IN))
        titles = [[_wrap(p.title, wrap) if p else "" for p in row] for row in grid]
        bands = [max((t.count("\n") + 1 for t in row if t), default=1) * _LINE_IN + 0.12 for row in titles]
        fig_w = 2 * _MARGIN_IN + n_cols * pw + (n_cols - 1) * _GUTTER_IN
        fig_h = _HEADER_IN + sum(bands) + n_rows * ph + sum(bars) + _BOTTOM_IN
        # only the pictures shrink; titles and colour bars keep a readable size
        factor = min(1.0, FIGURE_MAX_IN / fig_w, FIGURE_MAX_IN / fig_h)
        if factor > 0.99 or pw * factor < 0.8:
            break
        pw, ph = pw * factor, ph * factor
    limits = _limits(panels, height, width, style.true_size)
    return _Layout(panels, pw, ph, fig_w, fig_h, titles, bands, bars, limits)


def _drawn_inches(shape: tuple[int, ...], limits: tuple[int, int], true_size: bool,
                  panel_in: tuple[float, float]) -> tuple[float, float]:  # fmt: skip
    """(width, height) in inches the image itself covers: less than its panel in true-size mode."""
    extent = _extent(shape, limits, true_size)
    return (panel_in[0] * (extent[1] - extent[0]) / limits[1], panel_in[1] * (extent[2] - extent[3]) / limits[0])


def _diff_top(panels: list[Panel]) -> float:
    """The top of the one colour scale every difference panel shares: the largest difference in any."""
    tops = [float(np.nanmax(p.image)) for p in panels if p.kind == "diff" and p.image.size]
    top = max(tops, default=0.0)
    return top if top > 0 else 1.0


def shrink(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``image`` reduced to at most ``rows`` x ``cols`` by area averaging; unchanged if it is not larger.

    Output cell ``i`` of ``m`` along an axis of length ``n`` is the mean of
    input cells ``floor(i*n/m)`` to ``floor((i+1)*n/m) - 1``: every input
    pixel counts once, with equal weight, so a fine pattern turns into its
    average grey instead of aliasing into a false one. Only axes longer than
    asked are reduced (never enlarged); the image's own byte order becomes
    the machine's.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    rows, cols : int
        The most rows and columns wanted (at least 1).

    Returns
    -------
    ndarray of shape (min(H, rows), min(W, cols)[, C]), same dtype (integers rounded).

    >>> shrink(np.array([[0, 10, 20, 30], [40, 50, 60, 70]], np.uint8), 1, 2)
    array([[25, 45]], dtype=uint8)
    """
    if not image.dtype.isnative:
        image = image.astype(image.dtype.newbyteorder("="))
    h, w = image.shape[:2]
    if h <= rows and w <= cols:
        return image
    # float32 holds sums of a few hundred 8- or 16-bit samples exactly; wider samples are summed in float64
    acc = np.float32 if image.dtype.itemsize <= 2 else np.float64
    if h > rows:
        starts = (np.arange(rows + 1) * h) // rows
        out = np.empty((rows, *image.shape[1:]), acc)
        for i in range(rows):  # a band at a time: no float copy of the whole image
            np.sum(image[starts[i] : starts[i + 1]], axis=0, dtype=acc, out=out[i])
        out /= np.diff(starts).astype(acc).reshape(-1, *[1] * (image.ndim - 1))
    else:
        out = image.astype(acc)
    if w > cols:
        starts = (np.arange(cols + 1) * w) // cols
        out = np.add.reduceat(out, starts[:-1], axis=1) / np.diff(starts).astype(acc).reshape(
            1, -1, *[1] * (image.ndim - 2)
        )
    if image.dtype.kind in "iu":
        return np.rint(out).astype(image.dtype)
    return out.astype(image.dtype)


def _round(value: float) -> str:
    """A value for people: 4 significant digits (``0.1235``, ``3.333``, ``6.554e+04``)."""
    return f"{value:.4g}"


def _panel_inches(height: int, width: int, annotate: bool) -> tuple[float, float]:
    """(width, height) of a panel in inches, keeping the original's aspect ratio."""
    long_px = max(height, width)
    long_in = min(max(long_px / REFERENCE_PPI, PANEL_MIN_IN), PANEL_MAX_IN)
    if annotate and long_px <= ANNOTATE_MAX:
        long_in = max(long_in, ANNOTATE_CELL_IN * long_px)
    return (long_in * width / long_px, long_in * height / long_px)


def _limits(panels: list[Panel], height: int, width: int, true_size: bool) -> tuple[int, int]:
    """The data area every panel shows, in original pixels (rows, cols)."""
    if not true_size:
        return (height, width)
    # padding can make an output a pixel larger than its input; keep it whole
    return (max(p.image.shape[0] for p in panels), max(p.image.shape[1] for p in panels))


def _extent(shape: tuple[int, ...], limits: tuple[int, int], true_size: bool) -> tuple[float, float, float, float]:
    if not true_size:
        return (0.0, limits[1], limits[0], 0.0)
    h, w = shape[:2]
    # centred under the title, so a small result sits next to its title and colour bar
    x0 = (limits[1] - w) / 2
    return (x0, x0 + w, float(h), 0.0)


def _draw(ax: Axes, panel: Panel, style: FigureStyle, lo: float, hi: float, limits: tuple[int, int],
          panel_in: tuple[float, float], diff_top: float) -> AxesImage:  # fmt: skip
    extent = _extent(panel.image.shape, limits, style.true_size)
    drawn_in = _drawn_inches(panel.image.shape, limits, style.true_size, panel_in)
    # matplotlib gets no more pixels than it draws: its resampling works on float copies of the whole array
    drawn_px = (max(1, round(drawn_in[1] * style.dpi)), max(1, round(drawn_in[0] * style.dpi)))
    image = shrink(panel.image, *drawn_px)
    # enlarged pixels stay hard-edged blocks; a shrunk image is already averaged to the drawn size
    interpolation = "nearest" if image is not panel.image or drawn_px[1] >= image.shape[1] else "antialiased"
    common: dict[str, Any] = {"extent": extent, "interpolation": interpolation, "aspect": "auto"}
    if panel.kind == "diff":
        shown = ax.imshow(image, cmap=DIFF_CMAP, vmin=0.0, vmax=diff_top, **common)
    elif image.ndim == 2 or image.shape[2] not in (3, 4):
        gray = image if image.ndim == 2 else image[:, :, 0]
        shown = ax.imshow(gray, cmap=style.cmap, vmin=lo, vmax=hi, **common)
    else:
        if image.shape[2] == 4:
            _checkerboard(ax, extent, limits)
        shown = ax.imshow(_rgb_for_display(image, lo, hi), **common)
    _frame(ax, extent)
    if style.annotate:
        size, _ = _annotation_size(panel, drawn_in)
        if size is not None:
            _annotate(ax, panel, shown, extent, size)
    return shown


def _frame(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """A thin gray outline, so an all-white (or all-background) result still shows where it is."""
    from matplotlib.patches import Rectangle

    x0, x1, y1, y0 = extent
    ax.add_patch(
        Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="0.7", linewidth=0.8, zorder=3, clip_on=False)
    )


def _rgb_for_display(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """RGB(A) that imshow draws as is: uint8 unchanged, anything else as floats in 0..1."""
    if image.dtype == np.uint8:
        return image
    colour = np.clip((image[..., :3].astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    if image.shape[2] == 3:
        return colour
    alpha = image[..., 3].astype(np.float64)
    if image.dtype.kind in "iu":
        alpha = alpha / np.iinfo(image.dtype).max
    return np.dstack([colour, np.clip(alpha, 0.0, 1.0)])


def _checkerboard(ax: Axes, extent: tuple[float, float, float, float], limits: tuple[int, int]) -> None:
    """Gray squares behind a transparent image, the same apparent size in every panel."""
    square = max(limits) / 12
    cols = max(1, round((extent[1] - extent[0]) / square))
    rows = max(1, round((extent[2] - extent[3]) / square))
    board = (np.add.outer(np.arange(rows), np.arange(cols)) % 2) * 0.25 + 0.6
    ax.imshow(board, cmap="gray", vmin=0.0, vmax=1.0, extent=extent, interpolation="nearest", aspect="auto")


def _annotate(ax: Axes, panel: Panel, shown: object, extent: tuple[float, float, float, float],
              size: float) -> None:  # fmt: skip
    """Write each pixel's value in its cell at ``size`` points, black on light cells and white on dark ones."""
    image = panel.image
    h, w = image.shape[:2]
    texts = _cell_texts(image)
    rgba = shown.to_rgba(shown.get_array())  # type: ignore[attr-defined]
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    dx, dy = (extent[1] - extent[0]) / w, (extent[2] - extent[3]) / h
    for i in range(h):
        for j in range(w):
            ax.text(extent[0] + (j + 0.5) * dx, extent[3] + (i + 0.5) * dy, texts[i][j], ha="center",
                    va="center", fontsize=size, linespacing=1.0,
                    color="black" if luminance[i, j] > 0.5 else "white")  # fmt: skip


def _cell_texts(image: np.ndarray) -> list[list[str]]:
    """The text of each cell: one number, or R, G, B on three lines."""
    values = image[..., :3] if image.ndim == 3 else image[..., None]
    integral = image.dtype.kind in "iu" or bool(np.all(np.mod(image, 1) == 0))
    return [
        ["\n".join(_number(v, integral) for v in values[i, j]) for j in range(image.shape[1])]
        for i in range(image.shape[0])
    ]


def _annotation_size(panel: Panel, drawn_in: tuple[float, float]) -> tuple[float | None, str | None]:
    """The font size (points) that fits ``panel``'s numbers in its cells, or None and why not.

    The longest number is measured with matplotlib's own font metrics at
    :data:`ANNOTATE_MAX_PT`; the size is scaled so it fills at most
    :data:`ANNOTATE_FILL` of a cell's width, and its lines at most that share
    of the cell's height, so no two numbers can touch.
    """
    image = panel.image
    h, w = image.shape[:2]
    name = panel.title.split("\n")[0]
    if max(h, w) > ANNOTATE_MAX:
        return None, f"numbers left out of '{name}': {h}×{w} px, more than {ANNOTATE_MAX}×{ANNOTATE_MAX}"
    texts = _cell_texts(image)
    lines = texts[0][0].count("\n") + 1
    width_pt, line_pt = _text_extent_pt(max((t for row in texts for t in row), key=_longest_line_pt))
    cell_w, cell_h = drawn_in[0] / w * 72, drawn_in[1] / h * 72
    size = min(ANNOTATE_MAX_PT,
               ANNOTATE_MAX_PT * ANNOTATE_FILL * cell_w / width_pt,
               ANNOTATE_MAX_PT * ANNOTATE_FILL * cell_h / (line_pt * lines))  # fmt: skip
    if size < ANNOTATE_MIN_PT:
        return None, (
            f"numbers left out of '{name}': its cells are {cell_w:.0f} pt wide, too small for legible numbers "
            f"({size:.1f} pt, under {ANNOTATE_MIN_PT:g} pt)"
        )
    return size, None


def _longest_line_pt(text: str) -> float:
    return _text_extent_pt(text)[0]


def _text_extent_pt(text: str) -> tuple[float, float]:
    """(widest line, height of one line) of ``text`` at :data:`ANNOTATE_MAX_PT` points, from the font's metrics."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(size=ANNOTATE_MAX_PT)
    measure = TextToPath().get_text_width_height_descent
    width = max(measure(line, font, ismath=False)[0] for line in text.split("\n"))
    # a line as matplotlib spaces them (linespacing 1.0): the height of "lp", ascender to descender
    line = measure("lp", font, ismath=False)[1]
    return width, line


def annotation_notes(grid: Grid, style: FigureStyle) -> list[str]:
    """Why panels of ``grid`` drawn with ``style`` carry no numbers, one line each (empty without ``annotate``).

    A panel is left without numbers when it has more than
    :data:`ANNOTATE_MAX` rows or columns, or when its cells are too small
    for numbers of at least :data:`ANNOTATE_MIN_PT` points at this layout
    and dpi. :func:`make_figure` makes the same decisions; the library never
    prints, so a caller shows these.

    >>> import numpy as np
    >>> grid = [[original_panel(np.zeros((20, 30), np.uint8))]]
    >>> annotation_notes(grid, FigureStyle(annotate=True))
    ["numbers left out of 'original': 20×30 px, more than 16×16"]
    """
    if not style.annotate:
        return []
    layout = _layout(grid, style)
    notes = []
    for panel in layout.panels:
        drawn_in = _drawn_inches(panel.image.shape, layout.limits, style.true_size, (layout.pw, layout.ph))
        note = _annotation_size(panel, drawn_in)[1]
        if note is not None:
            notes.append(note)
    return notes


def _number(value: np.generic, integral: bool) -> str:
    return str(int(value)) if integral else f"{float(value):.3g}"


def _shared_range(images: list[np.ndarray]) -> tuple[float, float]:
    ranges = [display_range(im) for im in images] or [(0.0, 1.0)]
    return (min(r[0] for r in ranges), max(r[1] for r in ranges))


def _describe(image: np.ndarray, lo: float, hi: float) -> str:
    channels = 1 if image.ndim == 2 else image.shape[2]
    kind = {1: "gray", 3: "RGB", 4: "RGBA (alpha over a checkerboard)"}.get(channels, f"{channels} channels")
    scale = f"{_round(lo)}..{_round(hi)}"
    fixed = image.dtype in (np.uint8, np.uint16)
    return f"{image.dtype.name} {kind}, values drawn on a {'fixed ' if fixed else ''}{scale} scale, not stretched"


def _wrap(title: str, width: int) -> str:
    return "\n".join(textwrap.fill(line, width) or line for line in title.split("\n"))

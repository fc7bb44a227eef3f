"""The ``poolcli explain`` animation: the same steps as the page, as an animated GIF.

The only module that imports Pillow (a dependency of matplotlib, declared in
poolcli's own dependencies because this module uses it directly). Each frame
draws the input grid with its padding, the window's cells outlined, the
winning cell ringed, the output grid filling in, and the reduction written
out; the first frame also gives the output-size formula and stays longer.
Text is set in DejaVu, the fonts matplotlib ships, found without importing
matplotlib; Pillow's own font is the fallback.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .explain import Explanation, number

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

#: Milliseconds each step is shown; the first (with the formula) and the last stay longer.
STEP_MS, FIRST_MS, LAST_MS = 1100, 4000, 2500
WINDOW = (255, 127, 14)
WINNER = (214, 39, 40)
FORMULA_BG = (240, 246, 255)
TEXT_BG = (255, 248, 240)
_MARGIN, _GAP = 18, 34
#: The palette index left free for "unchanged" (transparent) pixels; drawing uses the other 255.
_CLEAR = 255


def render(e: Explanation) -> bytes:
    """The animation for ``e``: a GIF that loops, one frame per step.

    Every frame uses one palette, and each is stored as the rectangle that
    changed since the frame before (the window, an output cell, the text),
    drawn over it; frames are encoded as they are drawn, so memory holds two
    frames, not the whole animation.
    """
    import numpy as np
    from PIL import GifImagePlugin, Image

    layout = _Layout(e)
    count = len(e.steps)
    palette = _palette(_frame_at(e, layout, 0), _frame_at(e, layout, count - 1))
    out = io.BytesIO()
    previous: np.ndarray | None = None
    for n, frame in enumerate(_frames(e, layout)):
        indexed = frame.quantize(palette=palette, dither=Image.Dither.NONE)
        pixels = np.asarray(indexed)
        if previous is None:
            header, _ = GifImagePlugin.getheader(indexed, info={"loop": 0, "duration": FIRST_MS})
            out.write(b"".join(header))
            box = (0, 0, indexed.width, indexed.height)
        else:
            box = _changed(previous, pixels)
        duration = FIRST_MS if n == 0 else LAST_MS if n == count - 1 else STEP_MS
        params: dict[str, Any] = {"duration": duration, "disposal": 1}
        part = indexed.crop(box)
        if previous is not None:
            # pixels that did not change are left transparent: long runs that compress to nearly nothing
            left, top, right, bottom = box
            window = pixels[top:bottom, left:right].copy()
            window[previous[top:bottom, left:right] == window] = _CLEAR
            part = Image.fromarray(window, "P")
            part.putpalette(indexed.getpalette() or [])
            params["transparency"] = _CLEAR
        for chunk in GifImagePlugin.getdata(part, offset=box[:2], **params):
            out.write(chunk)
        previous = pixels
    out.write(b";")  # the GIF trailer
    return out.getvalue()


def _changed(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    """The rectangle (left, top, right, bottom) holding every pixel that differs; 1x1 if none does."""
    import numpy as np

    differs = before != after
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if rows.size == 0:
        return (0, 0, 1, 1)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def write_gif(path: str | Path, e: Explanation, *, overwrite: bool = False) -> Path:
    """Write the animation for ``e`` to ``path`` atomically (an existing file only with ``overwrite``)."""
    from .image_io import write_bytes

    return write_bytes(path, render(e), overwrite=overwrite)


def frame_png(e: Explanation, step: int) -> bytes:
    """One frame of the animation as a PNG (for documentation and tests)."""
    out = io.BytesIO()
    _frame_at(e, _Layout(e), step).save(out, "PNG")
    return out.getvalue()


# --- layout ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    for folder in _font_folders():
        candidate = os.path.join(folder, name)
        if os.path.exists(candidate):
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def _font_folders() -> list[str]:
    import importlib.util

    folders = []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:
        folders.append(os.path.join(os.path.dirname(spec.origin), "mpl-data", "fonts", "ttf"))
    folders.append("/usr/share/fonts/truetype/dejavu")
    return folders


class _Layout:
    """Where everything goes; the same for every frame (a GIF's frames share one size)."""

    def __init__(self, e: Explanation) -> None:
        self.rgb = len(e.channels) == 3
        self.cell = 58 if self.rgb else 42
        self.value_font = _font(12 if self.rgb else 15)
        self.small = _font(13)
        self.title_font = _font(17)
        self.mono = _font(14, mono=True)
        (r0, c0), (r1, c1) = e.first, e.last
        self.rows, self.cols = r1 - r0 + 1, c1 - c0 + 1
        self.pitch = self.cell + 2
        self.grid_top = _MARGIN + 66
        self.in_left = _MARGIN
        in_w = self.cols * self.pitch
        self.out_left = self.in_left + in_w + _GAP
        out_w = e.output.shape[1] * self.pitch
        self.width = max(self.out_left + out_w + _MARGIN, 720)
        in_h = self.rows * self.pitch
        out_h = e.output.shape[0] * self.pitch
        self.text_top = self.grid_top + max(in_h, out_h) + 18
        self.text_width = self.width - 2 * _MARGIN - 16
        self.lines = [self._wrap(s.text, self.mono) for s in e.steps]
        self.notes = [self._wrap(s.notes, self.small) for s in e.steps]
        self.formula = self._wrap(["Why the output is " + f"{e.output.shape[0]}×{e.output.shape[1]}:", *e.formula],
                                  self.small)  # fmt: skip
        tallest = max(
            len(lines) * 20 + len(notes) * 18 + (len(self.formula) * 18 + 16 if n == 0 else 0)
            for n, (lines, notes) in enumerate(zip(self.lines, self.notes))
        )
        self.height = self.text_top + tallest + 24 + _MARGIN
        self.lo, self.hi = _display_range(e)

    def _wrap(self, texts: list[str], font: Any) -> list[str]:
        lines: list[str] = []
        for text in texts:
            words, line = text.split(" "), ""
            for word in words:
                trial = f"{line} {word}" if line else word
                if line and font.getlength(trial) > self.text_width:
                    lines.append(line)
                    line = "    " + word
                else:
                    line = trial
            lines.append(line)
        return lines

    def input_box(self, row: int, col: int, e: Explanation) -> tuple[int, int, int, int]:
        x = self.in_left + (col - e.first[1]) * self.pitch
        y = self.grid_top + (row - e.first[0]) * self.pitch
        return (x, y, x + self.cell - 1, y + self.cell - 1)

    def output_box(self, i: int, j: int) -> tuple[int, int, int, int]:
        x = self.out_left + j * self.pitch
        y = self.grid_top + i * self.pitch
        return (x, y, x + self.cell - 1, y + self.cell - 1)


def _display_range(e: Explanation) -> tuple[float, float]:
    if e.dtype == "uint8":
        return (0.0, 255.0)
    if e.dtype == "uint16":
        return (0.0, 65535.0)
    finite = [v for v in e.grid.ravel().tolist() if isinstance(v, (int, float)) and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if e.dtype.startswith("float") and lo >= 0 and hi <= 1:
        return (0.0, 1.0)
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


def _fill(e: Explanation, layout: _Layout, values: list[Any]) -> tuple[int, int, int]:
    def level(v: Any) -> int:
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            return 0
        return max(0, min(255, round((v - layout.lo) / (layout.hi - layout.lo) * 255)))

    if len(values) == 3:
        r, g, b = (level(v) for v in values)
        return (r, g, b)
    g = level(values[0])
    return {"R": (g, 0, 0), "G": (0, g, 0), "B": (0, 0, g)}.get(e.channels[0], (g, g, g))


def _ink(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = (0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]) / 255
    return (17, 17, 17) if luminance > 0.5 else (255, 255, 255)


# --- drawing --------------------------------------------------------------------------------------


def _frames(e: Explanation, layout: _Layout) -> Iterator[Image.Image]:
    """Every frame, in order: a base with the grids is drawn once; each step draws only its own marks."""
    base = _base(e, layout)
    for n in range(len(e.steps)):
        _output_cell(base, e, layout, n)  # the output fills in: drawn into the base for good
        yield _marks(base.copy(), e, layout, n)


def _frame_at(e: Explanation, layout: _Layout, n: int) -> Image.Image:
    base = _base(e, layout)
    for k in range(n + 1):
        _output_cell(base, e, layout, k)
    return _marks(base, e, layout, n)


def _palette(*frames: Image.Image) -> Image.Image:
    """One palette for the whole animation, from frames that hold every colour drawn."""
    from PIL import Image

    width = max(f.width for f in frames)
    sheet = Image.new("RGB", (width, sum(f.height for f in frames)), "white")
    top = 0
    for frame in frames:
        sheet.paste(frame, (0, top))
        top += frame.height
    return sheet.quantize(colors=255, method=Image.Quantize.MEDIANCUT)


def _base(e: Explanation, layout: _Layout) -> Image.Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (layout.width, layout.height), "white")
    draw = ImageDraw.Draw(image)
    where = e.source if e.region is None else f"{Path(e.source).name}, region {e.region[2]}x{e.region[3]}"
    draw.text((_MARGIN, _MARGIN + 24), f"{e.spec.describe()} on {where}", fill=(80, 80, 80), font=layout.small)
    draw.text((layout.in_left, layout.grid_top - 18), "input, with its padding", fill=(90, 90, 90), font=layout.small)
    draw.text((layout.out_left, layout.grid_top - 18), f"output {e.output.shape[0]}×{e.output.shape[1]}",
              fill=(90, 90, 90), font=layout.small)  # fmt: skip
    (r0, c0), (r1, c1) = e.first, e.last
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            _input_cell(image, e, layout, r, c)
    out_rows, out_cols = e.output.shape[:2]
    for i in range(out_rows):
        for j in range(out_cols):
            draw.rectangle(layout.output_box(i, j), fill=(245, 245, 245))
    return image


def _output_cell(image: Image.Image, e: Explanation, layout: _Layout, n: int) -> None:
    from PIL import ImageDraw

    i, j = e.steps[n].out
    box = layout.output_box(i, j)
    values = e.output[i, j].tolist()
    fill = _fill(e, layout, values)
    draw = ImageDraw.Draw(image)
    draw.rectangle(box, fill=fill)
    _values(draw, layout, box, values, _ink(fill))


def _marks(image: Image.Image, e: Explanation, layout: _Layout, n: int) -> Image.Image:
    """Draw step ``n``'s own marks on ``image`` (a copy of the base): the window, the winner, the text."""
    from PIL import ImageDraw

    step = e.steps[n]
    draw = ImageDraw.Draw(image)
    draw.text((_MARGIN, _MARGIN), f"{e.spec.op} pooling, step {n + 1} of {len(e.steps)}", fill=(20, 20, 20),
              font=layout.title_font)  # fmt: skip
    for r, c in step.taps:
        colour = WINDOW if e.kind(r, c) != "beyond" else (255, 205, 160)
        draw.rectangle(layout.input_box(r, c, e), outline=colour, width=5)
    # the window's extent: dilated windows show their gaps inside it
    a, b = layout.input_box(*step.taps[0], e), layout.input_box(*step.taps[-1], e)
    _dashed_rect(draw, (a[0] - 3, a[1] - 3, b[2] + 3, b[3] + 3), WINDOW)
    for ch, winner in enumerate(step.winners):
        if winner is not None:
            box = layout.input_box(*winner, e)
            if layout.rgb:
                _badge(draw, box, e.channels[ch], ch)
            else:
                draw.ellipse((box[0] + 5, box[1] + 5, box[2] - 5, box[3] - 5), outline=WINNER, width=3)
                draw.ellipse((box[0] + 8, box[1] + 8, box[2] - 8, box[3] - 8), outline="white", width=1)
    draw.rectangle(layout.output_box(*step.out), outline=WINDOW, width=5)
    y = layout.text_top
    lines = layout.lines[n]
    draw.rectangle((_MARGIN, y - 4, layout.width - _MARGIN, y + len(lines) * 20 + 2), fill=TEXT_BG)
    draw.rectangle((_MARGIN, y - 4, _MARGIN + 3, y + len(lines) * 20 + 2), fill=WINDOW)
    for line in lines:
        draw.text((_MARGIN + 12, y), line, fill=(20, 20, 20), font=layout.mono)
        y += 20
    y += 6
    for line in layout.notes[n]:
        draw.text((_MARGIN + 4, y), line, fill=(138, 75, 0), font=layout.small)
        y += 18
    if n == 0:
        y += 8
        height = len(layout.formula) * 18 + 8
        draw.rectangle((_MARGIN, y - 4, layout.width - _MARGIN, y + height - 4), fill=FORMULA_BG)
        draw.rectangle((_MARGIN, y - 4, _MARGIN + 3, y + height - 4), fill=(31, 119, 180))
        for line in layout.formula:
            draw.text((_MARGIN + 12, y), line, fill=(20, 20, 20), font=layout.small)
            y += 18
    return image


def _input_cell(image: Image.Image, e: Explanation, layout: _Layout, r: int, c: int) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    box = layout.input_box(r, c, e)
    kind = e.kind(r, c)
    if kind == "image":
        values = e.grid[r, c].tolist()
        fill = _fill(e, layout, values)
        draw.rectangle(box, fill=fill)
        _values(draw, layout, box, values, _ink(fill))
    elif kind == "pad":
        image.paste(_hatch(layout.cell), box[:2])
        _centred(draw, box, e.reduction.pad, layout.value_font, (120, 120, 120))
    else:
        _dashed_rect(draw, box, (185, 185, 185))


@lru_cache(maxsize=4)
def _hatch(size: int) -> Any:
    """A padding cell's background: grey stripes, so padding never looks like image."""
    from PIL import Image, ImageDraw

    tile = Image.new("RGB", (size, size), (238, 238, 238))
    draw = ImageDraw.Draw(tile)
    for offset in range(-size, size, 8):
        draw.line((offset, size, offset + size, 0), fill=(222, 222, 222), width=3)
    return tile


def _values(draw: ImageDraw.ImageDraw, layout: _Layout, box: tuple[int, int, int, int], values: list[Any],
            ink: tuple[int, int, int]) -> None:  # fmt: skip
    if len(values) == 1:
        _centred(draw, box, number(values[0]), layout.value_font, ink)
        return
    line = 14
    top = (box[1] + box[3]) / 2 - line * len(values) / 2
    for k, v in enumerate(values):
        _centred(draw, (box[0], int(top + k * line), box[2], int(top + (k + 1) * line)), number(v), layout.value_font,
                 ink)  # fmt: skip


def _centred(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, font: Any,
             fill: tuple[int, int, int]) -> None:  # fmt: skip
    draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, fill=fill, font=font, anchor="mm")


def _badge(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], label: str, index: int) -> None:
    x = box[2] - 15 - 14 * index
    draw.rounded_rectangle((x, box[1] - 5, x + 13, box[1] + 9), radius=3, fill=WINNER)
    draw.text((x + 7, box[1] + 2), label, fill="white", font=_font(10), anchor="mm")


def _dashed_rect(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    dash = 5
    for x in range(x0, x1, 2 * dash):
        draw.line((x, y0, min(x + dash, x1), y0), fill=colour, width=2)
        draw.line((x, y1, min(x + dash, x1), y1), fill=colour, width=2)
    for y in range(y0, y1, 2 * dash):
        draw.line((x0, y, x0, min(y + dash, y1)), fill=colour, width=2)
        draw.line((x1, y, x1, min(y + dash, y1)), fill=colour, width=2)

"""The ``poolcli explain`` page: one self-contained HTML file that steps the window through the grid.

Everything is in the file: the CSS and the script inline, the explanation
as JSON in a ``<script type="application/json">`` block, the overview of the
image as a ``data:`` URI. Nothing is fetched (no fonts, scripts or images
from anywhere), so the page works offline and from ``file://``.

The script draws the input grid (padding drawn as padding, with the op's
neutral value), highlights the window's cells, marks the winner, fills the
output grid in, and writes the reduction for the current step. Previous,
next and play buttons, a slider and the arrow keys move between steps. Read
without the script, the page still holds the formula and every step as text.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from .explain import Explanation
from .htmlpage import page_head

#: What the page's ``<meta name="generator">`` says (how tests and tools recognise it).
GENERATOR = "poolcli explain"


def render(e: Explanation) -> str:
    """The page for ``e``, as text."""
    data = json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    formula = "".join(f"<li>{escape(line)}</li>" for line in e.formula)
    notes = "".join(f"<li>{escape(n)}</li>" for n in e.notes)
    steps = "".join(
        f"<li>output ({s.out[0]}, {s.out[1]}): {escape(' | '.join(s.text))}"
        + "".join(f"<br><small>{escape(n)}</small>" for n in s.notes)
        + "</li>"
        for s in e.steps
    )
    overview = ""
    if e.overview is not None:
        uri = "data:image/jpeg;base64," + base64.b64encode(e.overview).decode("ascii")
        overview = (
            f'<figure class="overview"><img id="overview" src="{uri}" alt="where the region lies in the image">'
            f"<figcaption>where the region lies in {escape(Path(e.source).name)} "
            f"({e.image_shape[0]}×{e.image_shape[1]})</figcaption></figure>"
        )
    where = e.source
    if e.region is not None:
        r, c, h, w = e.region
        where += f", rows {r}–{r + h - 1}, columns {c}–{c + w - 1}"
    channels = "".join(e.channels)
    shown = {"Y": "gray values", "RGB": "R, G, B values per cell"}.get(channels, f"channel {channels}")
    return _PAGE.format(
        head=page_head(generator=GENERATOR, title=e.title, style=_STYLE),
        heading=escape(f"{e.spec.op} pooling, step by step"),
        knobs=escape(e.spec.describe()),
        source=escape(where),
        size=f"{e.grid.shape[0]}×{e.grid.shape[1]}",
        out=f"{e.output.shape[0]}×{e.output.shape[1]}",
        dtype=escape(e.dtype),
        shown=escape(shown),
        count=len(e.steps),
        last=len(e.steps) - 1,
        formula=formula,
        notes=f'<ul class="notes">{notes}</ul>' if notes else "",
        overview=overview,
        steps=steps,
        data=data,
        script=_SCRIPT,
    )


def write_page(path: str | Path, e: Explanation, *, overwrite: bool = False) -> Path:
    """Write the page for ``e`` to ``path`` atomically (an existing file only with ``overwrite``)."""
    from .image_io import write_bytes

    return write_bytes(path, render(e).encode("utf-8"), overwrite=overwrite)


_PAGE = """{head}
<header>
<h1>{heading}</h1>
<p class="knobs"><code>{knobs}</code> on {source}: {size} cells in, {out} out ({dtype}, {shown})</p>
</header>
<nav class="controls" aria-label="steps">
<button id="prev" type="button" title="previous step (←)">◀ previous</button>
<button id="play" type="button" title="play / pause (space)">▶ play</button>
<button id="next" type="button" title="next step (→)">next ▶</button>
<input id="slider" type="range" min="0" max="{last}" value="0" aria-label="step">
<span id="counter">step 1 of {count}</span>
</nav>
<main>
<div class="stage">
<figure><figcaption>input, with its padding</figcaption><div class="gridwrap"><div id="input" class="grid"></div><div id="box"></div></div></figure>
<figure><figcaption>output {out}</figcaption><div id="output" class="grid"></div></figure>
{overview}
</div>
<section id="explain" aria-live="polite">
<p id="where"></p>
<pre id="reduction"></pre>
<ul id="stepnotes" class="notes"></ul>
<div id="formula"><h2>Why the output is {out}</h2><ul>{formula}</ul></div>
</section>
{notes}
<section class="legend">
<span><i class="sw win"></i> the window's cells</span>
<span><i class="sw won"></i> the cell that wins (max, min)</span>
<span><i class="sw pad"></i> padding, drawn with its neutral value</span>
<span><i class="sw beyond"></i> past the padded input (ceil mode): ignored</span>
</section>
<noscript><p>Scripts are off: the steps are listed below.</p></noscript>
<details id="all"><summary>Every step as text ({count})</summary>
<h2>Output size</h2><ul>{formula}</ul>
<ol start="1">{steps}</ol>
</details>
</main>
<script type="application/json" id="data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
:root{--cell:46px;--win:#ff7f0e;--won:#d62728;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#222;background:#fff}
body{margin:16px 24px;max-width:1400px}
h1{font-size:1.4em;margin:0 0 4px}h2{font-size:1.05em;margin:8px 0 4px}
.knobs{margin:0 0 12px;color:#444}
.controls{display:flex;gap:8px;align-items:center;margin:8px 0 12px;flex-wrap:wrap}
.controls button{font:inherit;padding:4px 12px;border:1px solid #888;border-radius:4px;background:#f4f4f4;cursor:pointer}
.controls button:hover{background:#e8e8e8}
#slider{width:280px}
#counter{font-variant-numeric:tabular-nums;color:#333}
.stage{display:flex;gap:28px;align-items:flex-start;flex-wrap:wrap}
figure{margin:0}figcaption{font-size:.9em;color:#555;margin-bottom:4px}
.gridwrap{position:relative}
.grid{display:grid;gap:2px;background:#fff}
.cell{width:var(--cell);height:var(--cell);display:flex;flex-direction:column;align-items:center;
justify-content:center;font-size:14px;font-variant-numeric:tabular-nums;position:relative;box-sizing:border-box;
border-radius:3px;line-height:1.05}
.cell.rgb{font-size:12px}
.cell.pad{background:repeating-linear-gradient(45deg,#f2f2f2,#f2f2f2 4px,#e2e2e2 4px,#e2e2e2 8px);color:#888;
font-style:italic}
.cell.beyond{background:#fff;border:1px dashed #bbb}
.cell.win{box-shadow:inset 0 0 0 5px var(--win)}
.cell.beyond.win{box-shadow:inset 0 0 0 5px rgba(255,127,14,.35)}
.cell.won::after{content:"";position:absolute;inset:8px;border:3px solid var(--won);border-radius:50%;
box-shadow:0 0 0 2px #fff,inset 0 0 0 1px #fff}
.cell.rgb.won::after{content:attr(data-won);inset:auto;top:-6px;right:-6px;width:auto;height:auto;padding:0 3px;
border:none;border-radius:3px;background:var(--won);color:#fff;font:bold 10px/14px system-ui,sans-serif}
.cell.win span{font-weight:bold}
#box{position:absolute;border:2px dashed var(--win);pointer-events:none;box-sizing:border-box}
#output .cell{background:#f7f7f7;color:#222}
#output .cell.todo{color:transparent}
#output .cell.cur{box-shadow:inset 0 0 0 5px var(--win)}
#explain{margin-top:14px;min-height:120px}
#where{margin:0 0 4px;color:#444}
#reduction{font:15px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#fff8f0;
border-left:4px solid var(--win);padding:6px 10px;margin:0;white-space:pre-wrap}
.notes{margin:6px 0;padding-left:20px;color:#8a4b00}
#formula{display:none;background:#f0f6ff;border-left:4px solid #1f77b4;padding:4px 10px;margin-top:8px}
#formula.show{display:block}
#formula ul{margin:4px 0;padding-left:18px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.legend{display:flex;gap:18px;flex-wrap:wrap;margin:14px 0;font-size:.9em;color:#444}
.sw{display:inline-block;width:16px;height:16px;vertical-align:-3px;border-radius:3px;margin-right:4px}
.sw.win{box-shadow:inset 0 0 0 4px var(--win)}.sw.won{border:3px solid var(--won);border-radius:50%;width:10px;height:10px}
.sw.pad{background:repeating-linear-gradient(45deg,#f2f2f2,#f2f2f2 3px,#d8d8d8 3px,#d8d8d8 6px)}
.sw.beyond{border:1px dashed #999}
.overview img{image-rendering:pixelated;border:1px solid #ccc}
details{margin-top:16px;color:#333}details li{margin:3px 0;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var r0 = D.first[0], c0 = D.first[1], r1 = D.last[0], c1 = D.last[1];
  var rows = r1 - r0 + 1, cols = c1 - c0 + 1, nch = D.channels.length;
  var input = document.getElementById("input"), output = document.getElementById("output");
  var box = document.getElementById("box"), slider = document.getElementById("slider");
  var counter = document.getElementById("counter"), playBtn = document.getElementById("play");
  var numbers = [];
  D.cells.forEach(function (row) { row.forEach(function (c) { c.v.forEach(function (v) {
    if (typeof v === "number") numbers.push(v); }); }); });
  var lo = 0, hi = 255;
  if (D.dtype === "uint16") hi = 65535;
  else if (D.dtype !== "uint8") {
    lo = Math.min.apply(null, numbers); hi = Math.max.apply(null, numbers);
    if (D.dtype.indexOf("float") === 0 && lo >= 0 && hi <= 1) { lo = 0; hi = 1; }
    if (hi <= lo) hi = lo + 1;
  }
  function level(v) { return Math.max(0, Math.min(255, Math.round((v - lo) / (hi - lo) * 255))); }
  function fmt(v) {
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(4)));
  }
  function paint(el, values) {
    var rgb;
    if (nch === 3) rgb = values.map(level);
    else {
      var g = level(values[0]), ch = D.channels[0];
      rgb = ch === "R" ? [g, 0, 0] : ch === "G" ? [0, g, 0] : ch === "B" ? [0, 0, g] : [g, g, g];
    }
    el.style.background = "rgb(" + rgb.join(",") + ")";
    var lum = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255;
    el.style.color = lum > 0.5 ? "#111" : "#fff";
  }
  function write(el, values) {
    el.textContent = "";
    values.forEach(function (v) { var s = document.createElement("span"); s.textContent = fmt(v); el.appendChild(s); });
  }
  if (nch === 3) document.documentElement.style.setProperty("--cell", "60px");
  var padText = {max: "−∞", min: "+∞", avg: "0"}[D.op] || "pad";
  var cellAt = {};
  input.style.gridTemplateColumns = "repeat(" + cols + ", var(--cell))";
  D.cells.forEach(function (row, i) {
    row.forEach(function (c, j) {
      var el = document.createElement("div"), r = r0 + i, k = c0 + j;
      el.className = "cell " + c.kind + (nch === 3 ? " rgb" : "");
      el.dataset.r = r; el.dataset.c = k;
      if (c.kind === "image") { paint(el, c.v); write(el, c.v); el.title = "row " + r + ", column " + k; }
      else if (c.kind === "pad") { el.textContent = padText; el.title = "padding (row " + r + ", column " + k + ")"; }
      else { el.title = "past the padded input (row " + r + ", column " + k + "): ignored"; }
      input.appendChild(el);
      cellAt[r + "," + k] = el;
    });
  });
  var outCells = [];
  output.style.gridTemplateColumns = "repeat(" + D.out[1] + ", var(--cell))";
  D.output.forEach(function (row, i) {
    row.forEach(function (values, j) {
      var el = document.createElement("div");
      el.className = "cell out todo" + (nch === 3 ? " rgb" : "");
      el.dataset.i = i; el.dataset.j = j;
      write(el, values);
      output.appendChild(el);
      outCells.push(el);
    });
  });
  var lit = [], step = 0, timer = null;
  function show(n) {
    n = Math.max(0, Math.min(D.steps.length - 1, n));
    step = n;
    var s = D.steps[n];
    lit.forEach(function (el) { el.classList.remove("win", "won"); el.removeAttribute("data-won"); });
    lit = [];
    s.taps.forEach(function (t) { var el = cellAt[t[0] + "," + t[1]]; if (el) { el.classList.add("win"); lit.push(el); } });
    if (D.winner) {
      s.winners.forEach(function (w, ch) {
        if (!w) return;
        var el = cellAt[w[0] + "," + w[1]];
        if (!el) return;
        el.classList.add("won");
        if (nch > 1) el.setAttribute("data-won", ((el.getAttribute("data-won") || "") + D.channels[ch]));
        lit.push(el);
      });
    }
    var a = cellAt[s.taps[0][0] + "," + s.taps[0][1]], b = cellAt[s.taps[s.taps.length - 1][0] + "," + s.taps[s.taps.length - 1][1]];
    box.style.left = (a.offsetLeft - 3) + "px"; box.style.top = (a.offsetTop - 3) + "px";
    box.style.width = (b.offsetLeft + b.offsetWidth - a.offsetLeft + 6) + "px";
    box.style.height = (b.offsetTop + b.offsetHeight - a.offsetTop + 6) + "px";
    outCells.forEach(function (el, k) {
      el.classList.toggle("todo", k > n); el.classList.toggle("cur", k === n);
      if (k <= n) { var i = +el.dataset.i, j = +el.dataset.j; paint(el, D.output[i][j]); } else { el.style.background = ""; }
    });
    var rs = s.taps.map(function (t) { return t[0]; }), cs = s.taps.map(function (t) { return t[1]; });
    document.getElementById("where").textContent = "output (" + s.out[0] + ", " + s.out[1] + ") ← window over rows " +
      Math.min.apply(null, rs) + "…" + Math.max.apply(null, rs) + ", columns " + Math.min.apply(null, cs) + "…" +
      Math.max.apply(null, cs);
    document.getElementById("reduction").textContent = s.text.join("\n");
    var notes = document.getElementById("stepnotes");
    notes.textContent = "";
    s.notes.forEach(function (t) { var li = document.createElement("li"); li.textContent = t; notes.appendChild(li); });
    document.getElementById("formula").classList.toggle("show", n === 0);
    slider.value = n;
    counter.textContent = "step " + (n + 1) + " of " + D.steps.length;
    document.body.dataset.step = n;
  }
  function play(on) {
    if (timer) { clearInterval(timer); timer = null; }
    if (on) {
      if (step >= D.steps.length - 1) show(0);
      timer = setInterval(function () { if (step >= D.steps.length - 1) play(false); else show(step + 1); }, 900);
    }
    playBtn.textContent = timer ? "❚❚ pause" : "▶ play";
  }
  document.getElementById("prev").addEventListener("click", function () { play(false); show(step - 1); });
  document.getElementById("next").addEventListener("click", function () { play(false); show(step + 1); });
  playBtn.addEventListener("click", function () { play(!timer); });
  slider.addEventListener("input", function () { play(false); show(+slider.value); });
  document.addEventListener("keydown", function (ev) {
    if (ev.target === slider && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) return;
    if (ev.key === "ArrowRight") { play(false); show(step + 1); ev.preventDefault(); }
    else if (ev.key === "ArrowLeft") { play(false); show(step - 1); ev.preventDefault(); }
    else if (ev.key === "Home") { play(false); show(0); ev.preventDefault(); }
    else if (ev.key === "End") { play(false); show(D.steps.length - 1); ev.preventDefault(); }
    else if (ev.key === " " && ev.target.tagName !== "BUTTON") { play(!timer); ev.preventDefault(); }
  });
  show(0);
  window.poolcliExplain = {steps: D.steps.length, outputCells: outCells.length, show: show,
    step: function () { return step; }};
  document.body.dataset.steps = D.steps.length;
  document.body.dataset.ready = "1";
})();
"""

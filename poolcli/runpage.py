"""A run as one self-contained HTML page (``--html FILE.html``).

A :class:`RunPage` is a listener of :func:`poolcli.batch.execute`, beside the
:class:`~poolcli.report.Reporter`: each result becomes a table row as it
arrives (its thumbnails, made in the worker, inlined as ``data:`` URIs) and
is appended to an unnamed temporary file, so memory does not grow with the
number of inputs. When the run ends, or is interrupted, the page is written
atomically: the summary at the top, the rows from the temporary file, the
sorting script at the end. Nothing on the page is fetched from anywhere.
"""

from __future__ import annotations

import base64
import tempfile
import time
from collections.abc import Callable, Iterator
from html import escape
from pathlib import Path
from typing import IO

from . import __version__
from .batch import Listener, Summary
from .htmlpage import page_head
from .pipeline import Result, shape_text

#: What the page's ``<meta name="generator">`` says: how an earlier page is recognised (and may be replaced).
GENERATOR = "poolcli run page"
_CHUNK = 1 << 20


def is_run_page(path: str | Path) -> bool:
    """Whether ``path`` is a page poolcli wrote (or an empty file), so a new run may replace it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return not head.strip() or f'<meta name="generator" content="{GENERATOR}">'.encode() in head


class RunPage:
    """Build a run's page as results arrive; write it when the run ends.

    Parameters
    ----------
    path : path-like
        Where the page goes (checked beforehand by :func:`poolcli.batch.plan`).
    label : str
        What the run does (``max k=2 s=2``), shown at the top and on every row.
    command : str
        The command as typed, for the heading.
    overwrite : bool
        Replace a file that appeared at ``path`` during the run.
    warn : callable
        Says one line (on standard error) when the page cannot be written.
    started : float, optional
        ``time.perf_counter()`` when the run began.
    """

    def __init__(self, path: str | Path, *, label: str, command: str = "poolcli", overwrite: bool = False,
                 warn: Callable[[str], None] = lambda text: None, started: float | None = None) -> None:  # fmt: skip
        self.path, self.label, self.command, self.overwrite, self.warn = Path(path), label, command, overwrite, warn
        self.started = time.perf_counter() if started is None else started
        self.when = time.strftime("%Y-%m-%d %H:%M:%S")
        self.rows: IO[bytes] | None = None
        self.count = 0
        self.total = 0
        self.notes: list[str] = []
        self.failed = False

    # --- the Listener protocol ---------------------------------------------------------------------

    def start(self, total: int) -> None:
        self.total = total
        try:
            self.rows = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish()
        except OSError as exc:
            self._fail(exc)

    def note(self, text: str) -> None:
        if len(self.notes) < 50:
            self.notes.append(text)

    def add(self, result: Result) -> None:
        self.count += 1
        if self.rows is None:
            return
        try:
            self.rows.write(row(result, self.count, self.label).encode("utf-8"))
        except OSError as exc:
            self._fail(exc)

    def finish(self, summary: Summary) -> None:
        from .image_io import write_chunks
        from .report import summary_line

        if self.rows is None:
            return
        rows, self.rows = self.rows, None
        seconds = time.perf_counter() - self.started
        try:
            head = _head(self, summary, summary_line(summary, seconds)).encode("utf-8")
            write_chunks(self.path, _page_chunks(head, rows), overwrite=True)
        except Exception as exc:  # the page never stops a run; it says why once
            self._fail(exc)
        finally:
            rows.close()

    def _fail(self, exc: BaseException) -> None:
        if not self.failed:
            self.failed = True
            reason = getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc)
            self.warn(f"poolcli: error: {self.path}: cannot write the page: {reason}")


class Tee:
    """Tell several listeners the same things, in order (the reporter first)."""

    def __init__(self, *listeners: Listener) -> None:
        self.listeners = listeners

    def start(self, total: int) -> None:
        for listener in self.listeners:
            listener.start(total)

    def note(self, text: str) -> None:
        for listener in self.listeners:
            listener.note(text)

    def add(self, result: Result) -> None:
        for listener in self.listeners:
            listener.add(result)

    def finish(self, summary: Summary) -> None:
        for listener in self.listeners:
            listener.finish(summary)


def _page_chunks(head: bytes, rows: IO[bytes]) -> Iterator[bytes]:
    yield head
    rows.seek(0)
    while chunk := rows.read(_CHUNK):
        yield chunk
    yield _TAIL.encode("utf-8")


# --- the HTML ------------------------------------------------------------------------------------------


def row(result: Result, order: int, label: str) -> str:
    """One input's table row: name, status, thumbnails, knobs, shapes, dtype, time, reason."""
    status = result.status
    output = result.target if result.target is not None else result.figure
    if result.target is not None and result.figure is not None:
        output = f"{result.target}, {result.figure}"
    shapes = ""
    if result.in_shape is not None:
        shapes = shape_text(result.in_shape) + (f" → {shape_text(result.out_shape)}" if result.out_shape else "")
    pictures = "".join(_thumb(name, data) for name, data in (result.thumbs or {}).items())
    reason = ""
    if status in ("failed", "skipped") and result.error:
        reason = f'<span class="reason">{escape(result.error)}</span>'
    warnings = "".join(f'<span class="warning">{escape(w)}</span>' for w in result.warnings)
    return (
        f'<tr class="{escape(status)}" data-order="{order}" data-name="{escape(result.source)}" '
        f'data-status="{escape(status)}" data-ms="{result.ms:.3f}">'
        f'<td class="n">{order}</td>'
        f'<td class="name"><span class="src">{escape(result.source)}</span>'
        + (f'<span class="out">→ {escape(output)}</span>' if output and status != "failed" else "")
        + f'</td><td class="status"><span class="badge">{escape(status)}</span></td>'
        f'<td class="thumbs"><div>{pictures}</div></td>'
        f'<td class="facts"><span>{escape(label)}</span><span>{escape(shapes)}</span>'
        f"<span>{escape(result.dtype or '')}</span></td>"
        f'<td class="ms">{result.ms:.1f} ms</td>'
        f'<td class="why">{reason}{warnings}</td></tr>\n'
    )


def _thumb(name: str, data: bytes) -> str:
    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    return f'<figure class="{escape(name)}"><img src="{uri}" alt="{escape(name)}"><figcaption>{escape(name)}</figcaption></figure>'


def _head(page: RunPage, summary: Summary, line: str) -> str:
    counts = [
        ("written", summary.written), ("skipped", summary.skipped), ("failed", summary.failed),
        ("planned", summary.planned), ("read", summary.read),
    ]  # fmt: skip
    tiles = "".join(
        f'<div class="tile {name}"><b>{count}</b> {name}</div>' for name, count in counts if count or name == "failed"
    )
    banner = ""
    if summary.interrupted:
        banner = (
            f'<p class="interrupted">Interrupted: {page.count} of {page.total} input(s) finished; '
            "this page shows those.</p>"
        )
    notes = "".join(f"<li>{escape(n)}</li>" for n in page.notes)
    return _HEAD.format(
        head=page_head(generator=GENERATOR, title=f"poolcli: {page.label}", style=_STYLE),
        label=escape(page.label),
        command=escape(page.command),
        when=escape(page.when),
        version=escape(__version__),
        line=escape(line),
        tiles=tiles,
        banner=banner,
        notes=f'<ul class="notes">{notes}</ul>' if notes else "",
        count=page.count,
        total=page.total,
    )


_HEAD = """{head}
<header>
<h1>{label}</h1>
<p class="cmd"><code>{command}</code> · {when} · poolcli {version}</p>
{banner}
<div id="summary" class="tiles">{tiles}</div>
<p id="line">{line}</p>
{notes}
</header>
<main>
<p class="sortby">Sort by
<button type="button" data-key="order">order</button>
<button type="button" data-key="name">name</button>
<button type="button" data-key="status">status</button>
<button type="button" data-key="ms">time</button>
<span id="shown">{count} of {total} input(s)</span></p>
<table id="runs">
<thead><tr><th>#</th><th>input</th><th>status</th><th>original · result</th><th>knobs · shape · dtype</th>
<th>time</th><th>reason</th></tr></thead>
<tbody>
"""

_TAIL = """</tbody>
</table>
</main>
<script>
(function () {
  "use strict";
  var body = document.querySelector("#runs tbody");
  var state = {key: "order", up: true};
  function value(tr, key) {
    var v = tr.dataset[key];
    return key === "ms" || key === "order" ? parseFloat(v) : v.toLowerCase();
  }
  function sort(key) {
    state.up = state.key === key ? !state.up : true;
    state.key = key;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      var c = x < y ? -1 : x > y ? 1 : value(a, "order") - value(b, "order");
      return state.up ? c : -c;
    });
    rows.forEach(function (tr) { body.appendChild(tr); });
    document.querySelectorAll(".sortby button").forEach(function (b) {
      b.classList.toggle("on", b.dataset.key === key);
      b.setAttribute("aria-pressed", b.dataset.key === key ? "true" : "false");
      b.dataset.dir = b.dataset.key === key ? (state.up ? "up" : "down") : "";
    });
    document.body.dataset.sorted = key + (state.up ? "" : "-desc");
  }
  document.querySelectorAll(".sortby button").forEach(function (b) {
    b.addEventListener("click", function () { sort(b.dataset.key); });
  });
  window.poolcliRun = {rows: body.rows.length, sort: sort};
  document.body.dataset.rows = body.rows.length;
  document.body.dataset.ready = "1";
})();
</script>
</body>
</html>
"""

_STYLE = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;background:#fff}
body{margin:16px 24px}
h1{font-size:1.35em;margin:0 0 2px}
.cmd{color:#555;margin:0 0 10px}.cmd code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
.tiles{display:flex;gap:10px;flex-wrap:wrap}
.tile{padding:6px 12px;border-radius:6px;background:#f1f5f9;min-width:80px}.tile b{font-size:1.3em}
.tile.written{background:#e7f6ea}.tile.failed{background:#fdeaea}.tile.skipped{background:#fff6e0}
#line{color:#333;margin:8px 0}
.interrupted{background:#fff3cd;border-left:4px solid #e0a800;padding:6px 10px}
.notes{color:#555}
.sortby button{font:inherit;padding:2px 10px;border:1px solid #999;border-radius:4px;background:#f5f5f5;cursor:pointer}
.sortby button.on{background:#dbeafe;border-color:#3b82f6}
.sortby button.on[data-dir=up]::after{content:" ▲"}.sortby button.on[data-dir=down]::after{content:" ▼"}
#shown{color:#666;margin-left:8px}
table{border-collapse:collapse;width:100%;margin-top:8px}
th,td{border-bottom:1px solid #e5e5e5;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#fafafa;position:sticky;top:0}
td.n,td.ms{font-variant-numeric:tabular-nums;white-space:nowrap}td.n{color:#888}
td.name .src{font-weight:600;word-break:break-all;display:block}td.name .out{color:#666;font-size:.9em;display:block;word-break:break-all}
.badge{padding:1px 8px;border-radius:10px;background:#e5e7eb;font-size:.9em}
tr.written .badge{background:#d1f0d9}tr.failed .badge{background:#f8d0d0}tr.skipped .badge{background:#fde9b8}
td.thumbs div{display:flex;gap:8px;flex-wrap:wrap}
td.thumbs figure{margin:0}td.thumbs img{display:block;max-height:112px;border:1px solid #ddd;image-rendering:pixelated}
td.thumbs figure.figure img{max-height:140px;image-rendering:auto}
td.thumbs figcaption{font-size:.75em;color:#777}
td.facts span{display:block;font-size:.9em}
.reason{color:#b00020;display:block}tr.skipped .reason{color:#7a5b00}.warning{color:#8a4b00;display:block}
"""

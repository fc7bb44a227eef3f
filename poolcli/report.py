"""Telling a run as it goes: one line per output or failure, a progress bar, a summary, a report.

The library (:mod:`poolcli.batch`) hands results over; this module turns them
into text on the streams the CLI gives it.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import TextIO

from .batch import Summary
from .errors import OutputPathError
from .pipeline import Result, shape_text


def record(result: Result) -> dict:
    """One JSON-ready record of a result, as ``--report`` writes it."""
    return {
        "input": str(result.source),
        "output": None if result.target is None else str(result.target),
        "status": result.status,
        "error": result.error if result.status == "failed" else None,
        "in_shape": None if result.in_shape is None else list(result.in_shape),
        "out_shape": None if result.out_shape is None else list(result.out_shape),
        "dtype": result.dtype,
        "ms": round(result.ms, 3),
    }


def summary_line(summary: Summary) -> str:
    """``412 written, 3 skipped (exist), 2 failed in 8.1 s, 51 img/s``.

    >>> summary_line(Summary(written=412, skipped=3, failed=2, seconds=8.1))
    '412 written, 3 skipped (exist), 2 failed in 8.1 s, 51 img/s'
    """
    rate = summary.written / summary.seconds if summary.seconds > 0 else 0.0
    done = f"{summary.planned} planned (dry run)" if summary.planned else f"{summary.written} written"
    text = f"{done}, {summary.skipped} skipped (exist), {summary.failed} failed in {summary.seconds:.1f} s, {rate:.0f} img/s"
    return ("interrupted: " + text) if summary.interrupted else text


def progress_line(done: int, total: int, elapsed: float, width: int = 20) -> str:
    """A one-line progress bar: count, share, rate and time left.

    >>> progress_line(50, 200, 10.0)
    '[#####...............]   50/200   25%  5.0 img/s  ETA 0:30'
    """
    share = done / total if total else 1.0
    filled = int(share * width)
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = _clock((total - done) / rate) if rate > 0 else "--:--"
    count = f"{done:>{len(str(total))}}/{total}"
    return f"[{'#' * filled}{'.' * (width - filled)}]  {count}  {share:4.0%}  {rate:.1f} img/s  ETA {eta}"


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class Reporter:
    """Where a run's results are told: one line per output, per failure, a summary, a report.

    Parameters
    ----------
    out, err : text streams
        Per-file lines go to ``out``; failures, progress and the summary to ``err``.
    quiet : bool
        Failures only.
    single : bool
        A one-file run: no summary, as a plain command would.
    label : str
        The operation, shown on each output line.
    report : path, optional
        A file that gets one JSON object per input (JSON Lines, see
        :func:`record`), flushed as each is done, so even an interrupted
        run's report is complete up to the interrupt.
    progress : bool, optional
        Draw a progress bar on ``err``; default: when ``err`` is a terminal.
    output_lines : bool
        Tell each pooled image written (false with ``--no-output``, when only
        figures are written).
    debug : bool
        After a failure caused by a bug, print its traceback (``--debug``).

    Raises
    ------
    OutputPathError
        The report file cannot be opened.
    """

    #: Seconds between redraws of the progress bar.
    REFRESH = 0.1

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool = False, single: bool = False, label: str = "",
                 report: str | Path | None = None, progress: bool | None = None,
                 output_lines: bool = True, debug: bool = False) -> None:  # fmt: skip
        self.out, self.err, self.quiet, self.single, self.label = out, err, quiet, single, label
        self.output_lines, self.debug = output_lines, debug
        if progress is None:
            progress = not quiet and not single and _isatty(err)
        self.progress = progress
        self.report: TextIO | None = None
        if report is not None:
            try:
                self.report = open(report, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
            except OSError as exc:
                raise OutputPathError(f"cannot write the report: {exc.strerror or exc}", path=report) from None
        self.total = self.done = 0
        self.start_time = self.drawn_at = 0.0
        self.bar_shown = False

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        self.start_time = time.perf_counter()
        self._draw(force=True)

    def add(self, result: Result) -> None:
        self.done += 1
        printed = False
        if self.report is not None:
            self.report.write(json.dumps(record(result)) + "\n")
            self.report.flush()
        if not self.quiet:
            for warning in result.warnings:
                self._line(self.err, f"poolcli: warning: {warning}")
                printed = True
        if result.status == "failed":
            self._line(self.err, f"poolcli: error: {result.error or 'failed'}")
            if self.debug and "exception" in result.extra:
                self._line(self.err, "".join(traceback.format_exception(result.extra["exception"])).rstrip())
            printed = True
        elif result.status in ("written", "planned") and not self.quiet:
            verb = "would write" if result.status == "planned" else "wrote"
            if self.output_lines:
                self._line(
                    self.out,
                    f"{result.source} -> {result.target} "
                    f"({verb}; {shape_text(result.in_shape)}"
                    + (f" -> {shape_text(result.out_shape)}" if result.out_shape else "")
                    + f", {self.label})",
                )
            if "figure" in result.extra:
                self._line(
                    self.out, f"{result.source} -> {result.extra['figure']} ({verb}; figure: original | {self.label})"
                )
            printed = True
        self._draw(force=printed)

    def finish(self, summary: Summary) -> None:
        self._clear()
        if self.report is not None:
            self.report.close()
            self.report = None
        if not self.quiet and not self.single:
            self.err.write(f"poolcli: {summary_line(summary)}\n")
            self.err.flush()

    def _line(self, stream: TextIO, text: str) -> None:
        self._clear()
        stream.write(text + "\n")
        stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.progress:
            return
        now = time.perf_counter()
        if not force and now - self.drawn_at < self.REFRESH and self.done < self.total:
            return
        self.drawn_at = now
        self.err.write("\r" + progress_line(self.done, self.total, now - self.start_time) + "\x1b[K")
        self.err.flush()
        self.bar_shown = True

    def _clear(self) -> None:
        if self.bar_shown:
            self.err.write("\r\x1b[K")
            self.bar_shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

"""Telling a run as it goes: a line per output or failure, a progress bar, a summary, a report file.

:func:`poolcli.batch.execute` hands results over; a :class:`Reporter` turns
them into text on the streams the CLI gives it. Telling never stops the
work: a name the terminal cannot encode is printed with replacement
characters, a closed or broken standard output stops the per-file lines (the
run goes on, and says so once on standard error), and a report file that
cannot be written is reported once while pooling goes on (the run then exits 1).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .batch import Summary
from .paths import TEMP_SUFFIX, UMASK, temp_prefix
from .pipeline import Result, shape_text


def record(result: Result) -> dict[str, Any]:
    """One JSON-ready record of a result, as ``--report`` writes it.

    ``details`` is there only for a result that has some: what an operation
    says about how it got its result beyond its knobs (fractional pooling's
    seed and samples, stochastic sampling's seed and draws), enough to repeat it.
    """
    line: dict[str, Any] = {
        "input": result.source,
        "output": result.target if result.target is not None else result.figure,
        "status": result.status,
        "error": result.error if result.status == "failed" else None,
        "in_shape": None if result.in_shape is None else list(result.in_shape),
        "out_shape": None if result.out_shape is None else list(result.out_shape),
        "dtype": result.dtype,
        "ms": round(result.ms, 3),
    }
    if result.details is not None:
        line["details"] = result.details
    return line


def summary_line(summary: Summary, seconds: float) -> str:
    """``412 written, 3 skipped (exist), 2 failed in 8.1 s, 51 img/s``: ``seconds`` is the whole run's.

    >>> summary_line(Summary(written=412, skipped=3, failed=2), 8.1)
    '412 written, 3 skipped (exist), 2 failed in 8.1 s, 51 img/s'
    >>> summary_line(Summary(written=6), 18.7)
    '6 written, 0 skipped (exist), 0 failed in 18.7 s, 0.32 img/s'
    """
    if summary.planned:
        done, count = f"{summary.planned} planned (dry run)", summary.planned
    elif summary.read and not summary.written:
        done, count = f"{summary.read} read", summary.read
    else:
        done, count = f"{summary.written} written", summary.written
    rate = count / seconds if seconds > 0 else 0.0
    shown = f"{rate:.0f}" if rate >= 10 or rate == 0 else f"{rate:.2g}"  # a slow run is 0.32 img/s, not 0
    text = f"{done}, {summary.skipped} skipped (exist), {summary.failed} failed in {seconds:.1f} s, {shown} img/s"
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
    """Where a run's results are told.

    Parameters
    ----------
    out, err : text streams or None
        Per-file lines go to ``out``; failures, warnings, notes, progress and
        the summary to ``err``. None: that stream is closed (nothing is told there).
    quiet : bool
        Failures only.
    label : str
        The operation, shown on each output line.
    report : path, optional
        A file that gets one JSON object per input (JSON Lines, see
        :func:`record`), written to a temporary file flushed as each input is
        done and renamed into place at the end (also after an interrupt).
    render : callable, optional
        For operations that write nothing (``global``, ``info``): the lines
        to print for a result, instead of ``a -> b (wrote ...)``.
    hint : callable, optional
        Appends what helps to an error of a given kind (the CLI's flags).
    summary : bool
        Tell a summary at the end (the CLI's choice: not for one file on its own).
    output_lines : bool
        Tell each pooled image written (false with ``--no-output``).
    debug : bool
        After a failure caused by a bug, print its traceback.
    started : float, optional
        When the run began (``time.perf_counter()``); the summary's time
        counts from there.
    """

    #: Seconds between redraws of the progress bar.
    REFRESH = 0.1

    def __init__(self, out: TextIO | None, err: TextIO | None, *, quiet: bool = False, label: str = "",
                 report: str | Path | None = None, render: Callable[[Result], list[str]] | None = None,
                 hint: Callable[[str | None, str], str] | None = None, summary: bool = True,
                 progress: bool | None = None, output_lines: bool = True, debug: bool = False,
                 started: float | None = None) -> None:  # fmt: skip
        self.out, self.err, self.quiet, self.label = out, err, quiet, label
        self.render, self.hint = render, hint or (lambda kind, text: text)
        self.output_lines, self.debug, self.show_summary = output_lines, debug, summary
        self.progress = (not quiet and _isatty(err)) if progress is None else progress
        self.report_path = None if report is None else Path(report)
        self.report: TextIO | None = None
        self.report_tmp: str | None = None
        self.report_failed = False
        self.out_closed = False
        self.total = self.done = 0
        self.started = time.perf_counter() if started is None else started
        self.drawn_at = 0.0
        self.bar_shown = False

    # --- the Listener protocol -----------------------------------------------------------------

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        if self.report_path is not None:
            self._open_report()
        self._draw(force=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            self._line(self.err, f"poolcli: note: {text}")

    def add(self, result: Result) -> None:
        self.done += 1
        printed = False
        error = None if result.error is None else self.hint(result.error_kind, result.error)
        if self.report is not None:
            self._report_line(json.dumps({**record(result), "error": error if result.status == "failed" else None}))
        if not self.quiet:
            for warning in result.warnings:
                self._line(self.err, f"poolcli: warning: {warning}")
                printed = True
        if result.status == "failed":
            self._line(self.err, f"poolcli: error: {error or 'failed'}")
            if self.debug and result.trace:
                self._line(self.err, result.trace.rstrip())
            printed = True
        elif result.status == "read" and self.render is not None:
            for line in self.render(result):
                self._out(line)
            printed = True
        elif result.status in ("written", "planned") and not self.quiet:
            verb = "would write" if result.status == "planned" else "wrote"
            if self.output_lines and result.target is not None:
                self._out(
                    f"{result.source} -> {result.target} ({verb}; {shape_text(result.in_shape)}"
                    + (f" -> {shape_text(result.out_shape)}" if result.out_shape else "")
                    + f", {self.label})"
                )
            if result.figure is not None:
                what = self.label if result.target is None else f"figure: original | {self.label}"
                self._out(f"{result.source} -> {result.figure} ({verb}; {shape_text(result.in_shape)}, {what})")
            printed = True
        self._draw(force=printed)

    def finish(self, summary: Summary) -> None:
        self._clear()
        self._close_report()
        if not self.quiet and self.show_summary:
            self._line(self.err, f"poolcli: {summary_line(summary, time.perf_counter() - self.started)}")

    @property
    def failed(self) -> bool:
        """Whether telling itself failed in a way that must fail the run (the report)."""
        return self.report_failed

    # --- the report file ---------------------------------------------------------------------------

    def _open_report(self) -> None:
        assert self.report_path is not None
        folder = self.report_path.parent
        if self.report_path.exists() and not self.report_path.is_file():  # a device or a pipe: written as it is
            try:
                self.report = open(self.report_path, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
            except OSError as exc:
                self._report_error(exc)
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, self.report_tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(), suffix=TEMP_SUFFIX)
            self.report = os.fdopen(fd, "w", encoding="utf-8")
        except OSError as exc:
            self._report_error(exc)

    def _report_line(self, text: str) -> None:
        assert self.report is not None
        try:
            self.report.write(text + "\n")
            self.report.flush()
        except OSError as exc:
            self._report_error(exc)

    def _close_report(self) -> None:
        if self.report is None:
            return
        report, self.report = self.report, None
        try:
            report.close()
            if not self.report_failed and self.report_tmp is not None and self.report_path is not None:
                os.chmod(self.report_tmp, 0o666 & ~UMASK)
                os.replace(self.report_tmp, self.report_path)
                self.report_tmp = None
        except OSError as exc:
            self._report_error(exc)
        finally:
            if self.report_tmp is not None:
                try:
                    os.unlink(self.report_tmp)
                except OSError:
                    pass

    def _report_error(self, exc: OSError) -> None:
        """Say once that the report cannot be written; the pooling goes on."""
        if not self.report_failed:
            self.report_failed = True
            reason = exc.strerror or str(exc)
            self._line(self.err, f"poolcli: error: {self.report_path}: cannot write the report: {reason}")
        if self.report is not None:
            try:
                self.report.close()
            except OSError:
                pass
            self.report = None

    # --- streams -----------------------------------------------------------------------------------

    def _out(self, text: str) -> None:
        if self.out_closed:
            return
        if not self._line(self.out, text):
            self.out_closed = True
            self._line(self.err, "poolcli: note: standard output is closed; the run goes on without its per-file lines")

    def _line(self, stream: TextIO | None, text: str) -> bool:
        """Write a line; False when the stream is closed or broken (nothing is raised)."""
        self._clear()
        return _write(stream, text + "\n")

    def _draw(self, force: bool = False) -> None:
        if not self.progress:
            return
        now = time.perf_counter()
        if not force and now - self.drawn_at < self.REFRESH and self.done < self.total:
            return
        self.drawn_at = now
        elapsed = now - self.started
        self.bar_shown = _write(self.err, "\r" + progress_line(self.done, self.total, elapsed) + "\x1b[K")

    def _clear(self) -> None:
        if self.bar_shown:
            _write(self.err, "\r\x1b[K")
            self.bar_shown = False


def _write(stream: TextIO | None, text: str) -> bool:
    """Write ``text``, replacing what the stream's encoding cannot hold; False if the stream is gone."""
    if stream is None:
        return False
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(stream, "encoding", None) or "ascii"
            stream.write(text.encode(encoding, "replace").decode(encoding))
        stream.flush()
    except (OSError, ValueError):
        return False
    return True


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False

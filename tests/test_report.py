"""Telling a run: summary and progress lines, the progress bar, the report file, streams that fail."""

from __future__ import annotations

import io
import re

from poolcli import batch, report
from poolcli.pipeline import Pooling, WriteOptions
from poolcli.spec import PoolSpec

from .files import SUMMARY


def test_summary_and_progress_lines():
    assert report.summary_line(batch.Summary(written=412, skipped=3, failed=2), 8.1) == (
        "412 written, 3 skipped (exist), 2 failed in 8.1 s, 51 img/s"
    )
    assert report.summary_line(batch.Summary(planned=5, interrupted=True), 0.0) == (
        "interrupted: 5 planned (dry run), 0 skipped (exist), 0 failed in 0.0 s, 0 img/s"
    )
    slow = [report.summary_line(batch.Summary(written=n), s) for n, s in ((6, 18.7), (1, 2.5), (99, 10.0))]
    assert [line.rsplit(", ", 1)[1] for line in slow] == ["0.32 img/s", "0.4 img/s", "9.9 img/s"]
    assert report.progress_line(0, 7, 0.0) == "[....................]  0/7    0%  0.0 img/s  ETA --:--"
    assert report.progress_line(7, 7, 2.0) == "[####################]  7/7  100%  3.5 img/s  ETA 0:00"
    assert report.progress_line(1, 10_000, 1.0).endswith("ETA 2:46:39")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_cleared_for_each_line(tree, tmp_path):
    op = Pooling(PoolSpec.make("max", 2))
    outputs, options = batch.Outputs(f"{tmp_path}/out/", "png"), batch.RunOptions(jobs=1)
    out, err = io.StringIO(), _Terminal()
    batch.execute(
        [str(tree)], op, report.Reporter(out, err, label=op.label), outputs=outputs, options=options, device="cpu"
    )
    text = err.getvalue()
    assert text.startswith("\r[")  # drawn at the start
    assert "\r[" + "#" * 20 + "]  10/10  100%" in text  # and at the end (10 inputs at the top level)
    assert "\r\x1b[Kpoolcli: error: " in text  # cleared before a failure line
    summary = text.rsplit("\r\x1b[K", 1)[1]  # cleared before the summary
    assert re.fullmatch(SUMMARY + "\n", summary)
    assert "\r" not in out.getvalue() and out.getvalue().count("\n") == 8
    quiet = _Terminal()
    batch.execute([str(tree)], op, report.Reporter(io.StringIO(), quiet, quiet=True), outputs=outputs, options=options,
                  write=WriteOptions(overwrite=True), device="cpu")  # fmt: skip
    assert "\r" not in quiet.getvalue() and "[" not in quiet.getvalue()

"""Running a plan: failures that may pass are tried again (--retries) on every engine, and each input is told once."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest

from poolcli import batch, image_io
from poolcli.errors import ImageReadError
from poolcli.pipeline import Pooling
from poolcli.spec import PoolSpec

from .conftest import write_rgb


class Told:
    """A listener that keeps what it is told."""

    def __init__(self) -> None:
        self.results, self.notes = [], []

    def start(self, total: int) -> None:
        self.total = total

    def note(self, text: str) -> None:
        self.notes.append(text)

    def add(self, result) -> None:
        self.results.append(result)

    def finish(self, summary) -> None:
        self.summary = summary


@pytest.fixture
def flaky(monkeypatch):
    """Reading ``flaky.png`` fails with an I/O error its first ``fails[0]`` times; every read is counted."""
    real, lock = image_io.read_bytes, threading.Lock()
    reads: dict[str, int] = {}
    fails = [0]

    def read_bytes(path, *args, **kwargs):
        name = str(path).rsplit("/", 1)[-1]
        with lock:
            reads[name] = reads.get(name, 0) + 1
            failing = name == "flaky.png" and reads[name] <= fails[0]
        if failing:
            try:
                raise OSError(errno.EIO, "Input/output error")
            except OSError as exc:  # as image_io.read_bytes turns it into poolcli's error
                raise ImageReadError(exc.strerror, path=path) from None
        return real(path, *args, **kwargs)

    monkeypatch.setattr(image_io, "read_bytes", read_bytes)
    return reads, fails


@pytest.fixture
def folder(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "flaky.png", "z.png"):
        write_rgb(src / name, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return src


ENGINES = ["threads", "dask"]


def _run(src, out, engine, retries, scheduler=None):
    told = Told()
    options = batch.RunOptions(jobs=2, engine=engine, retries=retries, scheduler=scheduler)
    batch.execute([str(src)], Pooling(PoolSpec.make("max", 2)), told, outputs=batch.Outputs(f"{out}/"), options=options)
    return told


@pytest.fixture(params=ENGINES)
def engine(request):
    """Each engine whose workers share this process (so the fault above reaches them)."""
    if request.param == "dask":
        return "dask", request.getfixturevalue("dask_scheduler")
    return request.param, None


def test_a_passing_failure_is_tried_again_and_told_once(folder, tmp_path, flaky, engine):
    reads, fails = flaky
    fails[0] = 2
    told = _run(folder, tmp_path / "out", engine[0], 2, engine[1])
    by_input = {r.source.rsplit("/", 1)[-1]: r for r in told.results}
    assert sorted(by_input) == ["a.png", "corrupt.png", "flaky.png", "z.png"] and len(told.results) == 4
    assert by_input["flaky.png"].status == "written" and reads["flaky.png"] == 3
    assert by_input["corrupt.png"].status == "failed" and reads["corrupt.png"] == 1  # poolcli's own error: once
    assert (told.summary.written, told.summary.failed) == (3, 1)


def test_retries_are_bounded_and_the_last_failure_is_told(folder, tmp_path, flaky, engine):
    reads, fails = flaky
    fails[0] = 5
    told = _run(folder, tmp_path / "out", engine[0], 1, engine[1])
    (flaky_result,) = [r for r in told.results if r.source.endswith("flaky.png")]
    assert flaky_result.status == "failed" and flaky_result.error == f"{folder / 'flaky.png'}: Input/output error"
    assert reads["flaky.png"] == 2 and len(told.results) == 4
    told = _run(folder, tmp_path / "out2", engine[0], 0, engine[1])
    assert reads["flaky.png"] == 3 and told.summary.failed == 2


def test_a_task_that_raises_fails_its_files_and_the_run_goes_on(folder, tmp_path, monkeypatch):
    real = batch.process_chunk

    def broken(jobs, work):
        if any(job.source.endswith("z.png") for job in jobs):
            raise RuntimeError("boom")
        return real(jobs, work)

    monkeypatch.setattr(batch, "process_chunk", broken)
    told = _run(folder, tmp_path / "out", "threads", 2)
    (z,) = [r for r in told.results if r.source.endswith("z.png")]
    assert (z.status, z.error, z.error_kind) == (
        "failed",
        f"{z.source}: internal error: RuntimeError: boom",
        "PoolcliError",
    )
    assert z.target == str(tmp_path / "out" / "z.max-k2-s2.png")
    assert (told.summary.written, told.summary.failed) == (2, 2)

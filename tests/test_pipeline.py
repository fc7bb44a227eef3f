"""One job through the pipeline: plain data in and out, grouped or not, the same bytes."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from poolcli.errors import ImageReadError
from poolcli.pipeline import Job, Pooling, Work, passing, process, process_chunk
from poolcli.spec import PoolSpec

from .conftest import cuda, write_rgb


def _group_jobs(tmp_path: Path, rng: np.random.Generator) -> list[Job]:
    shapes = [(20, 30, 3), (20, 30, 3), (16, 16), (20, 30, 3), (16, 16), (21, 30, 3)]
    jobs = []
    for i, shape in enumerate(shapes):
        src = write_rgb(tmp_path / f"g{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
        jobs.append(Job(str(src), str(tmp_path / "out" / f"g{i}.png")))
    (tmp_path / "bad.png").write_text("no")
    jobs.insert(3, Job(str(tmp_path / "bad.png"), str(tmp_path / "out" / "bad.png")))
    return jobs


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, cuda])])
def test_process_group_equals_process_per_image(tmp_path, rng, device):
    jobs = _group_jobs(tmp_path, rng)
    spec = PoolSpec.make("avg", 3, 2, 1)
    grouped = process_chunk(jobs, Work(Pooling(spec), device=device))
    assert [r.status for r in grouped] == ["written"] * 3 + ["failed"] + ["written"] * 3
    assert grouped[3].error == f"{tmp_path / 'bad.png'}: not a recognised image format"
    targets = [Path(job.target) for job in jobs]
    for target in targets:
        if target.exists():
            target.rename(target.with_suffix(".grouped.png"))
    singles = [process(job, Work(Pooling(spec))) for job in jobs]
    assert [r.status for r in singles] == [r.status for r in grouped]
    for target, one, many in zip(targets, singles, grouped):
        assert one.out_shape == many.out_shape
        if one.status == "written":
            assert target.read_bytes() == target.with_suffix(".grouped.png").read_bytes()


def test_jobs_work_and_results_are_plain_data_that_pickles(tmp_path, rng):
    import pickle

    from poolcli.pipeline import Describing, GlobalValues, ReadOptions, WriteOptions

    source = write_rgb(tmp_path / "a.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    job = Job("a.png", "a.max-k2-s2.png", base=str(tmp_path))
    for operation in (Pooling(PoolSpec.make("max")), GlobalValues(PoolSpec.make("global")), Describing(())):
        work = Work(operation, ReadOptions(max_pixels=100), WriteOptions(quality=80))
        assert pickle.loads(pickle.dumps(work)) == work
    result = process(pickle.loads(pickle.dumps(job)), Work(Pooling(PoolSpec.make("max"))))
    assert result.status == "written" and (tmp_path / "a.max-k2-s2.png").exists()
    assert pickle.loads(pickle.dumps(result)) == result
    assert source.exists()


def test_relative_paths_are_resolved_against_the_planning_folder(tmp_path, rng, monkeypatch):
    write_rgb(tmp_path / "a.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    monkeypatch.chdir("/")  # a worker started elsewhere
    result = process(Job("a.png", "b.png", base=str(tmp_path)), Work(Pooling(PoolSpec.make("min"))))
    assert (result.status, result.source, result.target) == ("written", "a.png", "b.png")  # shown as given
    assert (tmp_path / "b.png").exists()
    missing = process(Job("nope.png", "c.png", base=str(tmp_path)), Work(Pooling(PoolSpec.make("min"))))
    assert missing.error == "nope.png: not found" and missing.error_kind == "ImageReadError"


def test_an_existing_output_is_skipped_without_decoding(tmp_path, monkeypatch):
    from poolcli import image_io

    (tmp_path / "a.png").write_bytes(b"not even read")
    (tmp_path / "b.png").write_bytes(b"done before")
    monkeypatch.setattr(image_io, "load_image", lambda *a, **k: pytest.fail("decoded"))
    result = process(Job(str(tmp_path / "a.png"), str(tmp_path / "b.png")), Work(Pooling(PoolSpec.make("max"))))
    assert (result.status, result.error_kind) == ("skipped", "OutputExistsError")


def test_global_and_info_return_values(tmp_path):
    from poolcli.pipeline import Describing, GlobalValues

    source = write_rgb(tmp_path / "a.png", np.full((4, 6, 3), (10, 20, 31), np.uint8))
    got = process(Job(str(source)), Work(GlobalValues(PoolSpec.make("global"))))
    assert got.status == "read" and got.values == {
        "reduce": "avg",
        "dtype": "uint8",
        "channels": ["R", "G", "B"],
        "values": [10.0, 20.0, 31.0],
    }
    info = process(Job(str(source)), Work(Describing((("max", PoolSpec.make("max", kernel=3)),))))
    assert info.values["ops"] == {"max": {"knobs": "max k=3 s=3", "size": [1, 2]}}


def _raised_from(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except OSError:
            raise ImageReadError("reason", path="a.png") from None
    except ImageReadError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "may_pass"),
    [
        (OSError(errno.EIO, "Input/output error"), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (TimeoutError("timed out"), True),
        (FileNotFoundError(errno.ENOENT, "gone"), False),
        (PermissionError(errno.EACCES, "no"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (OSError(errno.EFBIG, "File too large"), False),
        (_raised_from(OSError(errno.EIO, "Input/output error")), True),
        (_raised_from(FileNotFoundError(errno.ENOENT, "gone")), False),
        (ImageReadError("not a recognised image format", path="a.png"), False),
        (MemoryError(), False),
    ],
)
def test_which_failures_may_pass(error, may_pass):
    assert passing(error) is may_pass

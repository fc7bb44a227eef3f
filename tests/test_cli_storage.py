"""URLs on the command line: s3:// inputs and outputs on a real S3-compatible server, with every engine, and resume."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from .conftest import poolcli_executable, write_rgb
from .files import files_under, summary_counts


@pytest.fixture
def photos(tmp_path, rng):
    """A small local tree (one broken file) and the same tree uploaded to the bucket's raw/."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    write_rgb(root / "a.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    write_rgb(root / "b.jpg", rng.integers(0, 256, (16, 18, 3), dtype=np.uint8))
    write_rgb(root / "sub" / "c.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
    (root / "broken.jpg").write_text("not a JPEG")
    return root


def _upload(s3, folder, prefix: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.fs.pipe(f"{s3.bucket}/{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def _local_reference(invoke, photos, tmp_path):
    out = tmp_path / "reference"
    result = invoke("max", photos, "-r", "-o", f"{out}/", "--format", "png", "-q")
    assert result.exit_code == 1
    return {name: (out / name).read_bytes() for name in files_under(out)}


EXPECTED = {"a.max-k2-s2.png", "b.max-k2-s2.png", "sub/c.max-k2-s2.png"}


def test_s3_to_s3_with_threads_writes_the_same_bytes_and_a_rerun_skips_them(invoke, s3, photos, tmp_path):
    reference = _local_reference(invoke, photos, tmp_path)
    _upload(s3, photos, "raw")
    raw, out = s3.url("raw"), s3.url("k2")
    report = tmp_path / "run.jsonl"
    result = invoke("max", f"{raw}/", "-r", "-o", f"{out}/", "--format", "png", "--report", report)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"poolcli: error: {raw}/broken.jpg: not a recognised image format"
    assert summary_counts(result.stderr) == (3, 0, 1)
    assert f"{raw}/a.png -> {out}/a.max-k2-s2.png (wrote; 20x24x3 -> 10x12x3, max k=2 s=2)" in result.stdout
    assert {k.removeprefix("k2/") for k in s3.keys("k2")} == EXPECTED
    for name in EXPECTED:
        assert s3.fs.cat(f"{s3.bucket}/k2/{name}") == reference[name], name
    records = {r["input"]: r for r in map(json.loads, report.read_text().splitlines())}
    assert records[f"{raw}/sub/c.png"]["output"] == f"{out}/sub/c.max-k2-s2.png"
    assert records[f"{raw}/sub/c.png"]["status"] == "written"

    again = invoke("max", f"{raw}/", "-r", "-o", f"{out}/", "--format", "png")
    assert again.exit_code == 1 and summary_counts(again.stderr) == (0, 3, 1) and again.stdout == ""


def test_s3_to_local_and_local_to_s3(invoke, s3, photos, tmp_path):
    reference = _local_reference(invoke, photos, tmp_path)
    _upload(s3, photos, "raw")
    down = invoke("max", s3.url("raw"), "-r", "-o", f"{tmp_path}/down/", "--format", "png", "-q")
    assert down.exit_code == 1
    assert {n: (tmp_path / "down" / n).read_bytes() for n in files_under(tmp_path / "down")} == reference
    up = invoke("max", f"{photos}/**/*.png", "-o", s3.url("up/"), "--format", "png", "-q")
    assert up.exit_code == 0, up.stderr
    assert s3.keys("up") == {"up/a.max-k2-s2.png", "up/sub/c.max-k2-s2.png"}
    assert s3.fs.cat(f"{s3.bucket}/up/sub/c.max-k2-s2.png") == reference["sub/c.max-k2-s2.png"]
    one = invoke("avg", s3.url("raw/a.png"), "-o", s3.url("one/a-small.png"))
    assert one.exit_code == 0, one.stderr
    assert s3.keys("one") == {"one/a-small.png"}


def test_s3_with_the_dask_engine(invoke, s3, photos, tmp_path, dask_scheduler):
    reference = _local_reference(invoke, photos, tmp_path)
    _upload(s3, photos, "raw")
    args = ("max", s3.url("raw"), "-r", "-o", s3.url("k2/"), "--format", "png", "--engine", "dask")
    result = invoke(*args, "--scheduler", dask_scheduler)
    assert result.exit_code == 1 and summary_counts(result.stderr) == (3, 0, 1)
    assert "poolcli: note:" not in result.stderr  # URLs need no shared file system
    for name in EXPECTED:
        assert s3.fs.cat(f"{s3.bucket}/k2/{name}") == reference[name], name
    again = invoke(*args, "--scheduler", dask_scheduler)
    assert summary_counts(again.stderr) == (0, 3, 1)


def test_s3_with_the_processes_engine_in_a_real_command(s3, photos, invoke, tmp_path):
    reference = _local_reference(invoke, photos, tmp_path)
    _upload(s3, photos, "raw")
    cmd = [poolcli_executable(), "max", s3.url("raw"), "-r", "-o", s3.url("k2/"), "--format", "png",
           "--engine", "processes", "-j", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=s3.env(), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert summary_counts(proc.stderr) == (3, 0, 1) and "Traceback" not in proc.stderr
    for name in EXPECTED:
        assert s3.fs.cat(f"{s3.bucket}/k2/{name}") == reference[name], name


def test_the_report_stays_a_local_file(invoke, s3):
    result = invoke("max", s3.url("raw/a.png"), "-o", s3.url("o.png"), "--report", s3.url("run.jsonl"))
    assert (result.exit_code, result.stderr) == (
        2, f"poolcli: error: {s3.url('run.jsonl')}: the report is written to a local file; give a local path\n"
    )  # fmt: skip


def test_a_protocol_without_its_package_is_a_usage_error(invoke, tmp_path):
    try:
        import gcsfs  # noqa: F401

        pytest.skip("gcsfs is installed")
    except ImportError:
        pass
    result = invoke("max", "gs://bucket/raw/", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2
    assert result.stderr.startswith("poolcli: error: gs://bucket/raw: gs:// needs a package that is not installed (")

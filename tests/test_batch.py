"""Batch runs: discovery, planning, parallel running, reporting, and nothing lost under faults."""

from __future__ import annotations

import io
import json
import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import poolcli
from poolcli import batch, report
from poolcli.cli import cli
from poolcli.paths import TEMP_SUFFIX
from poolcli.pipeline import Job, Pooling, Work, WriteOptions, process, process_chunk
from poolcli.sniff import HEAD_BYTES, looks_like_image
from poolcli.spec import PoolSpec

from .conftest import cuda, poolcli_executable, write_rgb

TAG = "max-k2-s2"
SUMMARY = r"poolcli: (interrupted: )?(\d+) written, (\d+) skipped \(exist\), (\d+) failed in \d+\.\d s, \d+ img/s"


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def summary_counts(stderr: str) -> tuple[int, int, int]:
    match = re.search(SUMMARY, stderr)
    assert match, stderr
    return int(match.group(2)), int(match.group(3)), int(match.group(4))


@pytest.fixture
def tree(tmp_path: Path, rng: np.random.Generator) -> Path:
    """Good images of several formats and sizes, bad files, a nested tree, a collision and a link loop."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    write_rgb(root / "a.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    write_rgb(root / "b.jpg", rng.integers(0, 256, (30, 31, 3), dtype=np.uint8))
    write_rgb(root / "c.tif", rng.integers(0, 65536, (20, 24), dtype=np.uint16))
    write_rgb(root / "d.webp", rng.integers(0, 256, (24, 26, 3), dtype=np.uint8))
    write_rgb(root / "e.bmp", rng.integers(0, 256, (16, 18, 3), dtype=np.uint8))
    write_rgb(root / "dup.jpg", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    write_rgb(root / "dup.png", rng.integers(0, 256, (14, 10, 3), dtype=np.uint8))
    ok, png = cv2.imencode(".png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
    assert ok
    (root / "renamed.dat").write_bytes(png.tobytes())  # an image by content, not by name
    (root / "notes.txt").write_text("not an image, not named like one: ignored")
    (root / "fake.jpg").write_text("named like an image: reported")
    (root / "truncated.png").write_bytes(png.tobytes()[:40])
    write_rgb(root / "sub" / "c.png", rng.integers(0, 256, (22, 22, 4), dtype=np.uint8))
    write_rgb(root / "sub" / "deeper" / "f.png", rng.integers(0, 256, (9, 13), dtype=np.uint8))
    os.symlink("..", root / "sub" / "loop")  # a folder link back up: a loop when followed
    return root


GOOD = {
    "a.png": "a.max-k2-s2.png",
    "b.jpg": "b.max-k2-s2.png",
    "c.tif": "c.max-k2-s2.png",
    "d.webp": "d.max-k2-s2.png",
    "e.bmp": "e.max-k2-s2.png",
    "dup.jpg": "dup.jpg.max-k2-s2.png",  # a.jpg and a.png would collide: each keeps its extension
    "dup.png": "dup.png.max-k2-s2.png",
    "renamed.dat": "renamed.max-k2-s2.png",
    "sub/c.png": "sub/c.max-k2-s2.png",
    "sub/deeper/f.png": "sub/deeper/f.max-k2-s2.png",
}
BAD = {
    "fake.jpg": "not a recognised image format",
    "truncated.png": "corrupt or truncated: the file ends before the IEND chunk",
}


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_folder_run_writes_exactly_the_good_images(invoke, tree, tmp_path, jobs):
    out = tmp_path / "out"
    report = tmp_path / "run.jsonl"
    result = invoke("max", tree, "-r", "-o", f"{out}/", "--format", "png", "-j", jobs, "--report", report)
    assert result.exit_code == 1  # some inputs failed
    assert files_under(out) == set(GOOD.values())  # the link loop was not followed
    for source, target in GOOD.items():
        expected = poolcli.pool(poolcli.read_image(tree / source), "max", 2)
        np.testing.assert_array_equal(poolcli.read_image(out / target), expected, err_msg=source)
    errors = sorted(line for line in result.stderr.splitlines() if line.startswith("poolcli: error:"))
    assert errors == sorted(f"poolcli: error: {tree / name}: {why}" for name, why in BAD.items())
    assert summary_counts(result.stderr) == (len(GOOD), 0, len(BAD))
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal

    records = {
        Path(r["input"]).relative_to(tree).as_posix(): r for r in map(json.loads, report.read_text().splitlines())
    }
    assert set(records) == set(GOOD) | set(BAD)
    assert records["a.png"] == {
        "input": str(tree / "a.png"), "output": str(out / "a.max-k2-s2.png"), "status": "written", "error": None,
        "in_shape": [40, 50, 3], "out_shape": [20, 25, 3], "dtype": "uint8", "ms": records["a.png"]["ms"],
    }  # fmt: skip
    assert records["a.png"]["ms"] > 0
    assert records["c.tif"]["dtype"] == "uint16" and records["c.tif"]["out_shape"] == [10, 12]
    assert records["fake.jpg"]["status"] == "failed"
    assert records["fake.jpg"]["error"] == f"{tree / 'fake.jpg'}: not a recognised image format"


def test_batch_output_equals_a_single_file_run(invoke, tree, tmp_path):
    assert invoke("avg", tree, "-o", f"{tmp_path}/many/", "-k", "3", "-q").exit_code == 1
    single = invoke("avg", tree / "b.jpg", "-o", tmp_path / "one.jpg", "-k", "3")
    assert single.exit_code == 0, single.stderr
    assert (tmp_path / "many" / "b.avg-k3-s3.jpg").read_bytes() == (tmp_path / "one.jpg").read_bytes()


def test_rerun_skips_what_exists_and_overwrite_redoes_it(invoke, tree, tmp_path):
    out = tmp_path / "out"
    args = ("max", tree, "-r", "-o", f"{out}/", "--format", "png")
    invoke(*args)
    stamp = {name: (out / name).stat().st_mtime_ns for name in GOOD.values()}
    again = invoke(*args)
    assert again.exit_code == 1  # the bad files are still bad
    assert summary_counts(again.stderr) == (0, len(GOOD), len(BAD))
    assert again.stdout == ""
    assert {name: (out / name).stat().st_mtime_ns for name in GOOD.values()} == stamp
    redo = invoke(*args, "--overwrite", "-q")
    assert redo.exit_code == 1
    assert [line for line in redo.stderr.splitlines() if not line.startswith("poolcli: error:")] == []  # -q
    assert files_under(out) == set(GOOD.values())


def test_outputs_beside_or_inside_the_input_are_not_read_back(invoke, tree):
    (tree / "fake.jpg").unlink()
    (tree / "truncated.png").unlink()
    first = invoke("min", tree, "-r", "-q")  # beside each input
    assert first.exit_code == 0, first.stderr
    inside = invoke("min", tree, "-r", "-o", f"{tree}/small/", "-q")
    assert inside.exit_code == 0, inside.stderr
    before = files_under(tree)
    again = invoke("min", tree, "-r", "-o", f"{tree}/small/")
    assert again.exit_code == 0
    assert summary_counts(again.stderr) == (0, len(GOOD), 0)
    assert files_under(tree) == before
    assert not any(".min-k2-s2.min-k2-s2" in name for name in before)
    assert len(files_under(tree / "small")) == len(GOOD)


def test_follow_links_ends_a_link_loop_and_reaches_linked_folders(invoke, tree, tmp_path, rng):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_rgb(elsewhere / "far.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    os.symlink(elsewhere, tree / "sub" / "far")
    plain = invoke("max", tree, "-r", "-o", f"{tmp_path}/plain/", "--format", "png", "-q")
    assert files_under(tmp_path / "plain") == set(GOOD.values())
    followed = invoke("max", tree, "-r", "--follow-links", "-o", f"{tmp_path}/followed/", "--format", "png", "-q")
    assert plain.exit_code == followed.exit_code == 1
    assert files_under(tmp_path / "followed") == set(GOOD.values()) | {"sub/far/far.max-k2-s2.png"}


def test_collisions_can_be_refused_before_any_work(invoke, tree, tmp_path):
    result = invoke("max", tree, "-o", f"{tmp_path}/out/", "--format", "png", "--on-collision", "refuse")
    assert result.exit_code == 2
    assert result.stderr == (
        f"poolcli: error: 1 output(s) would be written by several inputs: {tmp_path}/out/dup.max-k2-s2.png <- "
        f"{tree}/dup.jpg, {tree}/dup.png (or use --on-collision rename)\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_collision_renaming_cannot_settle_is_refused(invoke, tmp_path, rng):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        write_rgb(tmp_path / folder / "a.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    result = invoke("max", tmp_path / "x", tmp_path / "y", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2
    assert result.stderr == (
        f"poolcli: error: 1 output(s) would be written by several inputs: {tmp_path}/out/a.png.max-k2-s2.png <- "
        f"{tmp_path}/x/a.png, {tmp_path}/y/a.png\n"
    )
    assert not (tmp_path / "out").exists()


def test_globs_and_several_inputs(invoke, tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tree)
    (tree / "truncated.png").unlink()
    result = invoke("max", "*.png", "sub/**/f.png", "b.jpg", "-o", f"{tmp_path}/out/", "-q")
    assert result.exit_code == 0, result.stderr
    # a pattern's matches mirror the tree below its fixed start ("sub/")
    assert files_under(tmp_path / "out") == {"a.max-k2-s2.png", "dup.max-k2-s2.png", "deeper/f.max-k2-s2.png", "b.max-k2-s2.jpg"}  # fmt: skip


def test_glob_errors(invoke, tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tree)
    result = invoke("max", "*.png", "-o", f"{tmp_path}/out/", "-q")
    assert result.exit_code == 1
    assert result.stderr == "poolcli: error: truncated.png: corrupt or truncated: the file ends before the IEND chunk\n"
    result = invoke("max", "nothing/*.png", "-o", f"{tmp_path}/out/")
    assert result.exit_code == 1
    assert result.stderr.startswith("poolcli: error: nothing/*.png: no file matches this pattern\n")


def test_a_glob_does_not_follow_a_link_loop(tree):
    from poolcli.discover import discover

    found = [s.path.relative_to(tree).as_posix() for s in discover([f"{tree}/**/*.png"])]
    assert found == ["a.png", "dup.png", "truncated.png", "sub/c.png", "sub/deeper/f.png"]


USAGE = [
    (["max", "-"], "poolcli: error: reading standard input needs an output file, or '-' for standard output"),
    (["max", "-", "{d}/a.png", "-o", "{d}/o/"], "poolcli: error: '-' (standard input) must be the only input"),
    (["max", "{d}/a.png", "{d}/b.jpg", "-o", "-"], "poolcli: error: standard output ('-') takes exactly one input file"),
    (["max", "{d}", "-o", "{d}/one.png"], "poolcli: error: {d}/one.png: several inputs need an output folder, and this is named like an image file (end it with '/' to make a folder of that name)"),
    (["max", "{d}", "--jobs", "0"], "poolcli: error: Invalid value for '-j' / '--jobs': 0 is not in the range 1<=x<=1048576. (see 'poolcli max --help')"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), USAGE)
def test_usage_errors_stop_before_any_work(invoke, tree, args, message):
    before = files_under(tree)
    result = invoke(*[a.format(d=tree) for a in args])
    assert result.exit_code == 2
    assert result.stderr == message.format(d=tree) + "\n"
    assert files_under(tree) == before


def test_one_named_file_with_an_existing_output_is_still_an_error(invoke, tree):
    (tree / "a.max-k2-s2.png").write_bytes(b"keep")
    result = invoke("max", tree / "a.png")
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {tree / 'a.max-k2-s2.png'}: exists (use --overwrite to replace it)\n"
    assert (tree / "a.max-k2-s2.png").read_bytes() == b"keep"


def test_stdin_to_stdout_in_a_pipe(tree):
    data = (tree / "a.png").read_bytes()
    exe = poolcli_executable()
    proc = subprocess.run([exe, "max", "-", "-o", "-"], input=data, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"\x89PNG")
    expected = poolcli.pool(poolcli.read_image(tree / "a.png"), "max", 2)
    np.testing.assert_array_equal(poolcli.decode_image(proc.stdout), expected)
    assert proc.stderr.decode() == "- -> - (wrote; 40x50x3 -> 20x25x3, max k=2 s=2)\n"
    jpeg = subprocess.run([exe, "avg", "-", "-o", "-", "--format", "jpg", "-q"], input=data, capture_output=True, timeout=120)  # fmt: skip
    assert jpeg.returncode == 0 and jpeg.stdout.startswith(b"\xff\xd8\xff") and jpeg.stderr == b""


def test_stdin_to_a_file_in_process(tree, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["min", "-", "-o", str(tmp_path / "o.png")], input=(tree / "b.jpg").read_bytes())
    assert result.exit_code == 0, result.output
    expected = poolcli.pool(poolcli.read_image(tree / "b.jpg"), "min", 2)
    np.testing.assert_array_equal(poolcli.read_image(tmp_path / "o.png"), expected)


# --- finding images by content -------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp", ".bmp", ".ppm", ".pgm"])
def test_image_formats_are_recognised_by_their_first_bytes(ext, rng):
    image = rng.integers(0, 256, (8, 8) if ext == ".pgm" else (8, 8, 3), dtype=np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok
    assert looks_like_image(data.tobytes()[:HEAD_BYTES])


@pytest.mark.parametrize(
    "head", [b"", b"hello world", b"BM but not a bitmap header", b"%PDF-1.7", b"P1ano", b"RIFF\0\0\0\0WAVE"]
)
def test_other_bytes_are_not_images(head):
    assert not looks_like_image(head)


# --- grouping same-size images into one tensor ---------------------------------------------


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


def test_forced_batching_on_the_cpu_is_byte_identical(invoke, tree, tmp_path):
    one = invoke("max", tree, "-r", "-o", f"{tmp_path}/one/", "--format", "png", "-j", "1", "-q")
    many = invoke("max", tree, "-r", "-o", f"{tmp_path}/many/", "--format", "png", "--batch-size", "4", "-j", "2", "-q", "--device", "cpu")  # fmt: skip
    assert one.exit_code == many.exit_code == 1
    assert files_under(tmp_path / "one") == files_under(tmp_path / "many") == set(GOOD.values())
    for name in GOOD.values():
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name


@cuda
@pytest.mark.cuda
def test_cuda_batch_run_equals_cpu(invoke, tree, tmp_path):
    cpu = invoke("min", tree, "-r", "-o", f"{tmp_path}/cpu/", "--format", "png", "--device", "cpu", "-q")
    gpu = invoke("min", tree, "-r", "-o", f"{tmp_path}/gpu/", "--format", "png", "--device", "cuda", "-q")
    assert cpu.exit_code == gpu.exit_code == 1
    for name in files_under(tmp_path / "cpu"):
        assert (tmp_path / "cpu" / name).read_bytes() == (tmp_path / "gpu" / name).read_bytes(), name


# --- reporting --------------------------------------------------------------------------------


def test_summary_and_progress_lines():
    assert report.summary_line(batch.Summary(written=412, skipped=3, failed=2), 8.1) == (
        "412 written, 3 skipped (exist), 2 failed in 8.1 s, 51 img/s"
    )
    assert report.summary_line(batch.Summary(planned=5, interrupted=True), 0.0) == (
        "interrupted: 5 planned (dry run), 0 skipped (exist), 0 failed in 0.0 s, 0 img/s"
    )
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


# --- nothing lost under faults ----------------------------------------------------------------


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx // 3) % 256, (yy // 2) % 256, ((xx + yy) // 5) % 256], -1).astype(np.uint8)
    return cv2.add(base, rng.integers(0, 40, base.shape, dtype=np.uint8))


def test_sigint_keeps_finished_outputs_and_a_rerun_completes(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    count = 60
    for i in range(count):
        cv2.imwrite(str(src / f"p{i:02d}.jpg"), _photo(rng, 900, 1200))
    out = tmp_path / "out"
    cmd = [poolcli_executable(), "max", str(src), "-o", f"{out}/", "--format", "png", "-j", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and any(p.suffix == ".png" for p in out.iterdir())):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.endswith("poolcli: interrupted\n")
    written, skipped, failed = summary_counts(stderr)
    done = sorted(p.name for p in out.iterdir())
    assert not [n for n in done if n.endswith(TEMP_SUFFIX)]  # no temporary files left
    assert 1 <= written == len(done) < count and skipped == failed == 0
    for name in done:  # complete and decodable, the right pixels
        expected = poolcli.pool(poolcli.read_image(src / name.replace(f".{TAG}.png", ".jpg")), "max", 2)
        np.testing.assert_array_equal(poolcli.read_image(out / name), expected)

    rerun = subprocess.run([*cmd, "-q"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.iterdir())) == count


def test_a_write_that_fails_midway_leaves_the_old_output_intact(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    write_rgb(src / "big.png", rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))  # ~30 kB pooled
    write_rgb(src / "small.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    out = tmp_path / "out"
    cmd = [poolcli_executable(), "min", str(src), "-o", f"{out}/", "--overwrite", "-j", "2"]
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
    old = (out / "big.min-k2-s2.png").read_bytes()
    assert len(old) > 20_000
    write_rgb(src / "big.png", rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))  # a new result to write

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [f"poolcli: error: {out / 'big.min-k2-s2.png'}: write failed: File too large"]
    assert summary_counts(proc.stderr) == (1, 0, 1)  # the small one was still written
    assert (out / "big.min-k2-s2.png").read_bytes() == old
    assert sorted(p.name for p in out.iterdir()) == ["big.min-k2-s2.png", "small.min-k2-s2.png"]


def test_a_folder_run_skips_outputs_of_earlier_runs(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_rgb(photos / "a.png", np.full((4, 4, 3), 9, np.uint8))
    assert invoke("avg", photos, "-q").exit_code == 0  # writes photos/a.avg-k2-s2.png
    assert invoke("adaptive", photos, "--size", "1", "-q").exit_code == 0  # and photos/a.adaptive-avg-1x1.png
    result = invoke("max", photos, "-o", f"{tmp_path}/out/")
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.max-k2-s2.png"]
    # a file named on its own is always read, whatever its name
    assert invoke("max", photos / "a.avg-k2-s2.png", "-q").exit_code == 0


def test_a_bug_in_one_file_fails_that_file_only(invoke, tmp_path, monkeypatch):
    from poolcli import pooling

    photos = tmp_path / "photos"
    photos.mkdir()
    write_rgb(photos / "a.png", np.full((4, 4, 3), 9, np.uint8))
    write_rgb(photos / "b.png", np.full((6, 6, 3), 7, np.uint8))
    real = pooling.pool

    def broken(image, *args, **kwargs):
        if image.shape[0] == 4:
            raise RuntimeError("boom")
        return real(image, *args, **kwargs)

    monkeypatch.setattr(pooling, "pool", broken)
    result = invoke("max", photos, "-o", f"{tmp_path}/out/", "-q", "-j", "1")
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {photos / 'a.png'}: internal error: RuntimeError: boom\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.max-k2-s2.png"]
    traced = invoke("--debug", "max", photos, "-o", f"{tmp_path}/out2/", "-q", "-j", "1")
    assert "Traceback (most recent call last)" in traced.stderr
    assert 'raise RuntimeError("boom")' in traced.stderr


def test_a_folder_without_images_is_reported(invoke, tmp_path):
    (tmp_path / "x.png").mkdir()
    result = invoke("max", tmp_path / "x.png")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"poolcli: error: {tmp_path / 'x.png'}: is a directory with no images in it (-r looks in subfolders)\n"
    )


def test_an_output_that_is_another_input_is_refused_before_any_work(invoke, tmp_path):
    write_rgb(tmp_path / "a.png", np.full((4, 4, 3), 9, np.uint8))
    write_rgb(tmp_path / "a.max-k2-s2.png", np.full((4, 4, 3), 1, np.uint8))
    before = (tmp_path / "a.max-k2-s2.png").read_bytes()
    result = invoke("max", tmp_path / "a.png", tmp_path / "a.max-k2-s2.png", "--overwrite")
    assert result.exit_code == 2
    assert result.stderr == (
        f"poolcli: error: {tmp_path / 'a.max-k2-s2.png'}: would overwrite another input ({tmp_path / 'a.png'} writes it)\n"
    )
    assert (tmp_path / "a.max-k2-s2.png").read_bytes() == before

"""Folder runs through the command line: which files, where outputs go, re-runs, faults, nothing lost."""

from __future__ import annotations

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
from poolcli.cli import cli
from poolcli.paths import TEMP_SUFFIX

from .conftest import cuda, poolcli_executable, write_rgb
from .files import BAD, GOOD, TAG, files_under, summary_counts


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


# --- the report is an output like any other (issue 9 items 1-3) --------------------------------------


def test_a_report_never_replaces_an_input_or_an_output(invoke, tree, tmp_path):
    photo = tree / "a.png"
    before = photo.read_bytes()
    result = invoke("max", photo, "--dry-run", "--report", photo)
    assert (result.exit_code, result.stderr) == (
        2,
        f"poolcli: error: {photo}: the report would overwrite an input of this run\n",
    )
    (tmp_path / "link.png").symlink_to(photo)
    result = invoke("max", photo, "--dry-run", "--report", tmp_path / "link.png")
    assert result.exit_code == 2 and "would overwrite an input" in result.stderr
    out = tmp_path / "a.max-k2-s2.png"
    result = invoke("max", photo, "-o", out, "--report", out)
    assert (result.exit_code, result.stderr) == (
        2,
        f"poolcli: error: {out}: the report would overwrite an output of this run\n",
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    result = invoke("max", photo, "-o", f"{tmp_path}/o/", "--report", notes)
    assert (result.exit_code, result.stderr) == (
        2, f"poolcli: error: {notes}: exists and is not a poolcli report (use --overwrite to replace it)\n",
    )  # fmt: skip
    assert photo.read_bytes() == before and notes.read_text() == "my notes" and not (tmp_path / "o").exists()


def test_an_earlier_report_is_replaced_atomically(invoke, tree, tmp_path):
    report = tmp_path / "run.jsonl"
    assert invoke("max", tree / "a.png", "-o", f"{tmp_path}/o/", "--report", report).exit_code == 0
    first = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["status"] for r in first] == ["written"]
    again = invoke("max", tree / "a.png", "-o", f"{tmp_path}/o/", "--report", report)  # a poolcli report: replaced
    assert again.exit_code == 1 and json.loads(report.read_text())["status"] == "failed"
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))


def test_a_report_that_cannot_be_written_is_told_once_and_the_run_goes_on(run_poolcli, tree, tmp_path):
    proc = run_poolcli("max", tree, "-o", tmp_path / "out", "--report", "/dev/full", "-j", "1")
    assert proc.returncode == 1
    report_errors = [line for line in proc.stderr.splitlines() if "/dev/full" in line]
    assert report_errors == ["poolcli: error: /dev/full: cannot write the report: No space left on device"]
    assert summary_counts(proc.stderr) == (8, 0, 2)  # every good image of the top folder was still pooled
    assert "Traceback" not in proc.stderr


def test_an_output_never_replaces_another_input_even_through_a_link(invoke, tmp_path, rng):
    photos = tmp_path / "photos"
    photos.mkdir()
    a = write_rgb(photos / "a.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    b = write_rgb(photos / "b.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    before = b.read_bytes()
    # (a) a --compare figure that is another input
    figure_named = photos / "a.max-k2-s2.compare.png"  # a's default figure, given as an input too
    figure_named.write_bytes(before)
    result = invoke("max", a, figure_named, "--compare", "--overwrite")
    assert (result.exit_code, result.stderr) == (
        2, f"poolcli: error: {figure_named}: would overwrite another input ({a} writes it)\n",
    )  # fmt: skip
    figure_named.unlink()
    # (b) the other input named through a linked folder
    (tmp_path / "via").symlink_to(photos)
    (photos / "b.max-k2-s2.png").write_bytes(before)  # b's output, named below as an input through the link
    result = invoke("max", b, tmp_path / "via" / "b.max-k2-s2.png", "--overwrite")
    assert (result.exit_code, result.stderr) == (
        2, f"poolcli: error: {photos / 'b.max-k2-s2.png'}: would overwrite another input ({b} writes it)\n",
    )  # fmt: skip
    assert b.read_bytes() == before and (photos / "b.max-k2-s2.png").read_bytes() == before


# --- streams and names (items 4, 5, 11) ------------------------------------------------------------


def test_names_the_terminal_cannot_encode_are_printed_with_replacements(tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    write_rgb(folder / "aé.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    (folder / "bé.png").write_text("broken")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run(
        [poolcli_executable(), "max", folder, "-o", tmp_path / "out"], capture_output=True, env=env, timeout=120
    )
    assert proc.returncode == 1
    assert b"a?.png -> " in proc.stdout  # replaced, not a UnicodeEncodeError
    assert b"b\\xe9.png: not a recognised image format" in proc.stderr  # Python's own escape on stderr
    assert (tmp_path / "out" / "aé.max-k2-s2.png").exists()


@pytest.mark.parametrize("closed", ["stdin", "stdout", "both"])
def test_a_file_to_file_run_needs_no_standard_streams(tmp_path, rng, closed):
    source = write_rgb(tmp_path / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    shell = f"{poolcli_executable()} max {source} -o {tmp_path / 'b.png'}"
    shell += {"stdin": " <&-", "stdout": " >&-", "both": " <&- >&-"}[closed]
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Error" not in proc.stderr and (tmp_path / "b.png").exists()


def test_a_closed_pipe_for_the_image_is_a_failed_write(tmp_path, rng):
    source = write_rgb(tmp_path / "big.png", rng.integers(0, 256, (600, 800, 3), dtype=np.uint8))
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {poolcli_executable()} max {source} -o - | head -c 10 >/dev/null"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == "poolcli: error: -: write failed: broken pipe (the reader went away)\n"


def test_a_closed_pipe_for_the_lines_stops_the_lines_not_the_work(tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        write_rgb(folder / f"p{i:02d}.png", rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {poolcli_executable()} max {folder} -o {tmp_path / 'out'} -j 1 | head -1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.stdout.count("\n") == 1
    assert len(list((tmp_path / "out").iterdir())) == 12  # every image was pooled
    assert "standard output is closed; the run goes on without its per-file lines" in proc.stderr
    assert summary_counts(proc.stderr) == (12, 0, 0) and "Traceback" not in proc.stderr


def test_dash_o_dash_refuses_a_terminal(tmp_path, rng):
    import pty

    source = write_rgb(tmp_path / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    leader, follower = pty.openpty()
    proc = subprocess.run(
        [poolcli_executable(), "max", source, "-o", "-"], stdout=follower, stderr=subprocess.PIPE, timeout=120
    )
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "poolcli: error: -o - would write binary image data to the terminal; redirect it (> FILE) or use -o FILE "
        "(see 'poolcli max --help')\n"
    )


# --- names, signals, leftovers (items 6, 9) -------------------------------------------------------


def test_a_name_too_long_fails_that_file_only(invoke, tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    long_name = "x" * 250 + ".png"  # fits; its output name (+ ".max-k2-s2") does not
    write_rgb(folder / long_name, rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    write_rgb(folder / ("y" * 240 + ".png"), rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))  # 250-byte output
    result = invoke("max", folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    too_long = tmp_path / "out" / ("x" * 250 + ".max-k2-s2.png")
    assert (
        result.stderr.splitlines()[0] == f"poolcli: error: {too_long}: file name too long (264 bytes, the limit is 255)"
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["y" * 240 + ".max-k2-s2.png"]


def test_sigterm_stops_like_ctrl_c_and_a_rerun_clears_the_leftovers(tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(40):
        write_rgb(folder / f"p{i:02d}.png", rng.integers(0, 256, (400, 400, 3), dtype=np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    leftover = out / f".pcffff-999999-stale{TEMP_SUFFIX}"  # another host's old leftover: removed when old
    leftover.write_bytes(b"partial")
    os.utime(leftover, (time.time() - 7200,) * 2)
    proc = subprocess.Popen([poolcli_executable(), "max", folder, "-o", out, "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 60
    while len(list(out.glob("*.png"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "poolcli: terminated" in err and "Traceback" not in err
    assert re.search(r"poolcli: interrupted: \d+ written", err)
    assert "removed 1 temporary file(s) an interrupted run left in" in err
    assert not list(out.glob(f"*{TEMP_SUFFIX}"))
    for done in out.glob("*.png"):  # whatever was written is whole
        assert poolcli.read_image(done).shape == (200, 200, 3)
    rerun = subprocess.run(
        [poolcli_executable(), "max", folder, "-o", out, "-q"], capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0 and len(list(out.glob("*.png"))) == 40


# --- what a run says it does (items 24, 29, 39) -------------------------------------------------------


def test_a_dry_run_says_what_the_run_would_do(invoke, tree, tmp_path):
    out = f"{tmp_path}/out/"
    assert invoke("max", tree, "-o", out, "-q").exit_code == 1
    dry = invoke("max", tree, "-o", out, "--dry-run")
    assert dry.stdout == "" and "would write" not in dry.stdout
    assert summary_counts(dry.stderr) == (0, len(GOOD) - 2, 2)  # everything exists: skipped, as the run would
    assert "0 planned (dry run)" not in dry.stderr
    single = invoke("max", tree / "a.png", "-o", f"{tmp_path}/out/a.max-k2-s2.png", "--dry-run")
    assert single.exit_code == 1 and "exists (use --overwrite to replace it)" in single.stderr


def test_a_dangling_link_in_a_folder_is_reported(invoke, tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    write_rgb(folder / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    (folder / "gone.png").symlink_to(folder / "nowhere.png")
    (folder / "gone.txt").symlink_to(folder / "nowhere.txt")  # not named like an image: not an input
    result = invoke("max", folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"poolcli: error: {folder / 'gone.png'}: dangling symbolic link"


def test_jobs_are_capped_at_a_few_per_core(invoke, tree, tmp_path):
    result = invoke("max", tree, "-o", tmp_path / "out", "-j", "10000")
    cap = 4 * len(os.sched_getaffinity(0))
    assert f"poolcli: note: --jobs 10000 lowered to {cap} (4 per CPU core)" in result.stderr.splitlines()
    assert summary_counts(result.stderr) == (len(GOOD) - 2, 0, 2)


# --- global and info go the same way as the pooling commands (item 28) -----------------------------


def test_global_and_info_read_standard_input_and_skip_earlier_outputs(tree, tmp_path):
    runner = CliRunner()
    data = (tree / "a.png").read_bytes()
    got = runner.invoke(cli, ["global", "-", "--json"], input=data)
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["input"] == "-"
    info = runner.invoke(cli, ["info", "-"], input=data)
    assert info.exit_code == 0 and info.output.startswith("-\n  size      40x50 (rows x cols), 3 channel(s) RGB")
    figure = runner.invoke(cli, ["compare", "-", "-o", str(tmp_path / "f.png"), "-k", "2"], input=data)
    assert figure.exit_code == 0 and (tmp_path / "f.png").exists()
    (tree / "a.max-k2-s2.png").write_bytes((tree / "a.png").read_bytes())  # an earlier output in the folder
    listed = runner.invoke(cli, ["info", str(tree), "--json"])
    assert str(tree / "a.max-k2-s2.png") not in listed.output and str(tree / "a.png") in listed.output

"""The command line through click's CliRunner: exact messages and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import poolcli
from poolcli.cli import cli

from .conftest import write_rgb


def read_back(path: Path) -> np.ndarray:
    return poolcli.read_image(path)


def test_max_writes_beside_input_and_says_where(invoke, rgb_png):
    result = invoke("max", rgb_png, "-k", "2", "-s", "2")
    assert result.exit_code == 0, result.stderr
    out = rgb_png.with_name("photo.max-k2-s2.png")
    assert out.exists()
    assert str(out) in result.stdout
    assert "37x41x3 -> 18x20x3" in result.stdout


@pytest.mark.parametrize(
    ("args", "name", "call"),
    [
        (["max", "-k", "3", "-s", "2"], "photo.max-k3-s2.png", lambda im: poolcli.pool(im, "max", 3, 2)),
        (["min", "-k", "2x3", "--ceil"], "photo.min-k2x3-s2x3-ceil.png", lambda im: poolcli.pool(im, "min", (2, 3), ceil_mode=True)),
        (["avg", "-k", "3", "-s", "2", "-p", "1", "--no-count-include-pad"], "photo.avg-k3-s2-p1-nopad.png",
         lambda im: poolcli.pool(im, "avg", 3, 2, 1, count_include_pad=False)),
        (["avg", "--divisor", "3"], "photo.avg-k2-s2-div3.png", lambda im: poolcli.pool(im, "avg", divisor=3)),
        (["max", "-k", "3", "-s", "1", "-d", "2"], "photo.max-k3-s1-d2.png", lambda im: poolcli.pool(im, "max", 3, 1, dilation=2)),
        (["max", "-p", "same", "-k", "3", "-s", "2"], "photo.max-k3-s2-psame.png", lambda im: poolcli.pool(im, "max", 3, 2, "same")),
        (["adaptive", "--size", "5x7", "--reduce", "max"], "photo.adaptive-max-5x7.png", lambda im: poolcli.adaptive_pool(im, (5, 7), "max")),
        (["adaptive", "--size", "5x-"], "photo.adaptive-avg-5xW.png", lambda im: poolcli.adaptive_pool(im, (5, None))),
    ],
)  # fmt: skip
def test_cli_writes_the_same_pixels_as_the_api(invoke, rgb_png, args, name, call):
    result = invoke(args[0], rgb_png, *args[1:], "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(read_back(rgb_png.with_name(name)), call(read_back(rgb_png)))


def test_output_file_and_folder(invoke, rgb_png, tmp_path):
    assert invoke("max", rgb_png, "-o", tmp_path / "small.png").exit_code == 0
    assert (tmp_path / "small.png").exists()
    result = invoke("max", rgb_png, "-o", f"{tmp_path / 'new' / 'deeper'}/")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "new" / "deeper" / "photo.max-k2-s2.png").exists()


def test_format_converts(invoke, rgb_png):
    assert invoke("avg", rgb_png, "--format", "jpg").exit_code == 0
    out = rgb_png.with_name("photo.avg-k2-s2.jpg")
    assert cv2.imread(str(out)).shape == (18, 20, 3)


def test_gray_flag_and_sixteen_bit(invoke, rgb_png, gray16_png):
    assert invoke("min", rgb_png, "--gray").exit_code == 0
    assert read_back(rgb_png.with_name("photo.min-k2-s2.png")).ndim == 2
    assert invoke("max", gray16_png).exit_code == 0
    out = read_back(gray16_png.with_name("deep.max-k2-s2.png"))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, poolcli.pool(read_back(gray16_png), "max"))


def test_existing_output_is_an_error_for_one_file_and_overwrite_replaces(invoke, rgb_png):
    out = rgb_png.with_name("photo.max-k2-s2.png")
    out.write_bytes(b"keep me")
    result = invoke("max", rgb_png)
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {out}: exists (use --overwrite to replace it)\n"
    assert out.read_bytes() == b"keep me"
    assert invoke("max", rgb_png, "--overwrite").exit_code == 0
    assert read_back(out).shape == (18, 20, 3)


def test_existing_outputs_are_skipped_in_a_folder_run(invoke, rgb_png, gray_png, tmp_path):
    assert invoke("max", tmp_path, "-o", f"{tmp_path}/out/").exit_code == 0
    again = invoke("max", tmp_path, "-o", f"{tmp_path}/out/")
    assert again.exit_code == 0
    assert again.stdout == ""
    assert re.fullmatch(r"poolcli: 0 written, 2 skipped \(exist\), 0 failed in \d+\.\d s, 0 img/s\n", again.stderr)


def test_dry_run_writes_nothing(invoke, rgb_png):
    result = invoke("max", rgb_png, "-k", "3", "-s", "2", "-p", "1", "--dry-run")
    assert result.exit_code == 0
    assert "would write" in result.stdout and "37x41x3 -> 19x21x3" in result.stdout
    assert sorted(p.name for p in rgb_png.parent.iterdir()) == ["photo.png"]


def test_global_prints_rgb_order(invoke, tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 200  # red
    image[:2, :, 2] = 10  # some blue
    path = write_rgb(tmp_path / "red.png", image)
    result = invoke("global", path, "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["channels"] == ["R", "G", "B"]
    assert record["values"] == [200.0, 0.0, 5.0]
    text = invoke("global", path, "--reduce", "max").stdout
    assert text.strip() == f"{path}: global max: R=200  G=0  B=10"


def test_info_prints_sizes_by_formula(invoke, rgb_png):
    result = invoke("info", rgb_png, "-k", "3", "-s", "2", "-p", "1")
    assert result.exit_code == 0
    assert "37x41 (rows x cols), 3 channel(s) RGB" in result.stdout
    assert "max k=3 s=2 p=1" in result.stdout and "-> 19x21" in result.stdout
    record = json.loads(invoke("info", rgb_png, "-k", "2", "-s", "1", "-d", "2", "--json").stdout)
    assert record["ops"]["max"]["size"] == [35, 39]  # effective kernel 3
    assert record["ops"]["avg"]["size"] == [36, 40]  # avg has no dilation
    assert record["dtype"] == "uint8"
    assert sorted(p.name for p in rgb_png.parent.iterdir()) == ["photo.png"]


def test_cuda_requested_without_cuda(invoke, rgb_png, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = invoke("max", rgb_png, "--device", "cuda")
    assert result.exit_code == 2
    assert result.stderr == (
        "poolcli: error: device 'cuda': CUDA is not available (no GPU or a CPU-only PyTorch); use --device cpu\n"
    )
    assert not rgb_png.with_name("photo.max-k2-s2.png").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_output_folder(invoke, rgb_png):
    # /proc refuses new files even to root, so this fails the same way as a read-only folder
    target = Path("/proc/self/poolcli-out.png")
    result = invoke("max", rgb_png, "-o", target)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"poolcli: error: {target}: write failed: ")
    assert result.stderr.count("\n") == 1


def test_several_inputs_need_an_output_folder(invoke, rgb_png, gray_png, tmp_path):
    result = invoke("max", rgb_png, gray_png, "-o", tmp_path / "one.png")
    assert result.exit_code == 2
    assert result.stderr == (
        f"poolcli: error: {tmp_path / 'one.png'}: several inputs need an output folder, and this is named like an "
        "image file (end it with '/' to make a folder of that name)\n"
    )
    assert not (tmp_path / "one.png").exists()


def test_several_inputs_into_a_new_folder_without_a_slash(invoke, rgb_png, gray_png, tmp_path):
    """Issue 9 item 22: ``-o small`` for a folder, as with cp -r or rsync, makes the folder."""
    result = invoke("max", tmp_path, "-o", tmp_path / "small", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "small").iterdir()) == ["gray.max-k2-s2.png", "photo.max-k2-s2.png"]
    result = invoke("min", rgb_png, gray_png, "-o", tmp_path / "two", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["gray.min-k2-s2.png", "photo.min-k2-s2.png"]
    result = invoke("min", rgb_png, "-o", tmp_path / "one.png", "--device", "cpu")  # one file: -o is that file
    assert result.exit_code == 0 and (tmp_path / "one.png").is_file()


def test_every_command_has_help_ending_with_an_example(invoke):
    for name, command in cli.all_commands().items():
        result = invoke(name, "--help")
        assert result.exit_code == 0
        assert command.help and command.help.strip()
        assert "Example:" in result.stdout, name
        assert f"poolcli {name}" in result.stdout.split("Example:")[1], name


def test_version(invoke):
    assert invoke("--version").stdout == f"poolcli, version {poolcli.__version__}\n"


# --- defects found by trying poolcli from outside (issue 9) ----------------------------------------


def test_the_reported_shape_is_the_written_one(invoke, rgba_png, tmp_path):
    """Item 21: flattening for JPEG writes three channels, and says so."""
    out = tmp_path / "flat.jpg"
    result = invoke("max", rgba_png, "-o", out, "--background", "black", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert "16x20x4 -> 8x10x3" in result.stdout
    assert read_back(out).shape == (8, 10, 3)


def test_compare_is_a_flag_that_swallows_nothing(invoke, rgb_png, tmp_path):
    """Item 23: a bare --compare before the inputs."""
    result = invoke("max", "--compare", rgb_png, "-k", "4", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert rgb_png.with_name("photo.max-k4-s4.compare.png").exists()
    result = invoke("max", rgb_png, "--compare-to", tmp_path / "fig.png", "--no-output", "--device", "cpu")
    assert result.exit_code == 0 and (tmp_path / "fig.png").exists()


def test_compare_names_carry_the_knobs_and_the_default_shows_a_difference(invoke, rgb_png):
    """Items 26 and 32: -k 2 and -k 8 do not collide; the default kernel is 8."""
    for args, name in (([], "photo.compare-k8-s8.png"), (["-k", "2"], "photo.compare-k2-s2.png"),
                       (["--kernels", "2,4", "-p", "1"], "photo.compare-k2,4-p1.png")):  # fmt: skip
        result = invoke("compare", rgb_png, *args, "--device", "cpu")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"{rgb_png} -> {rgb_png.with_name(name)} (wrote;")
    text = invoke("compare", "--help").stdout
    assert "standard output" not in text and "<stem>.compare-k<K>-s<S>.png" in " ".join(text.split())


def test_compare_with_blur_panels_takes_the_largest_kernel_blur_has(invoke, rgb_png):
    """Blur pooling's filters stop at 7 taps: its default figure is k=7, and -k 8 is still refused, naming the limit."""
    result = invoke("compare", rgb_png, "--ops", "max,blur,maxblur", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{rgb_png} -> {rgb_png.with_name('photo.compare-k7-s7.png')} (wrote;")
    result = invoke("compare", rgb_png, "--ops", "max,blur", "-k", "8", "--device", "cpu")
    assert result.exit_code == 2 and "at most 7 for blur pooling" in result.stderr
    assert not rgb_png.with_name("photo.compare-k8-s8.png").exists()


def test_jpeg_quality(invoke, tmp_path, rng):
    """Item 27: --quality sets JPEG and WebP quality; the default keeps pooled values close."""
    smooth = np.add.outer(np.arange(64), np.arange(96)).astype(np.uint8)
    source = write_rgb(tmp_path / "s.png", np.dstack([smooth] * 3))
    exact = poolcli.pool(read_back(source), "max")
    for quality, worst in ((None, 6), ("100", 2), ("10", 255)):
        out = tmp_path / f"q{quality}.jpg"
        args = ["max", source, "-o", out, "--device", "cpu"] + (["--quality", quality] if quality else [])
        assert invoke(*args).exit_code == 0
        error = np.abs(read_back(out).astype(int) - exact).max()
        assert error <= worst if quality != "10" else error > 6, (quality, error)
    assert (tmp_path / "q10.jpg").stat().st_size < (tmp_path / "q100.jpg").stat().st_size


def test_info_rounds_float_ranges_for_people(invoke, tmp_path):
    """Item 33."""
    source = tmp_path / "f.tif"
    assert cv2.imwrite(str(source), np.array([[0.123456789, 0.987654321]], np.float32))
    result = invoke("info", source, "-k", "1")
    assert "  dtype     float32, values 0.1235..0.9877" in result.stdout.splitlines()


def test_a_figure_of_standard_input_is_named_after_its_output(tmp_path, rgb_png):
    """Item 36: not ./-.compare.png."""
    from click.testing import CliRunner

    out = tmp_path / "out.png"
    result = CliRunner().invoke(
        cli, ["max", "-", "-o", str(out), "--compare", "--device", "cpu"], input=rgb_png.read_bytes()
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.compare.png").exists() and not (tmp_path / "-.compare.png").exists()
    to_stdout = CliRunner().invoke(cli, ["max", "-", "-o", "-", "--compare"], input=rgb_png.read_bytes())
    assert to_stdout.exit_code == 2
    assert "a figure of an image written to standard output needs a path of its own" in to_stdout.output


def test_poolcli_alone_prints_its_help(invoke):
    """Item 25."""
    result = invoke()
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: poolcli [OPTIONS] COMMAND [ARGS]...")

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


ERRORS = [
    # (args, exit code, exact stderr; {f} is the input file, {d} its folder)
    (["max", "{d}/missing.png"], 1, "poolcli: error: {d}/missing.png: not found"),
    (["max", "{d}/notes.png"], 1, "poolcli: error: {d}/notes.png: not a recognised image format"),
    (["max", "{f}", "-k", "50"], 1, "poolcli: error: {f}: image 37x41 is smaller than the kernel 50x50 (use --padding or --ceil)"),
    (["max", "{f}", "-k", "0"], 2, "poolcli: error: kernel 0: must be at least 1"),
    (["max", "{f}", "-s", "0"], 2, "poolcli: error: stride 0: must be at least 1"),
    (["max", "{f}", "-k", "-3"], 2, "poolcli: error: Invalid value for '-k' / '--kernel': expected an integer like 3 or HxW like 2x3 (got '-3') (see 'poolcli max --help')"),
    (["max", "{f}", "-k", "2by3"], 2, "poolcli: error: Invalid value for '-k' / '--kernel': expected an integer like 3 or HxW like 2x3 (got '2by3') (see 'poolcli max --help')"),
    (["avg", "{f}", "-d", "2"], 2, "poolcli: error: dilation 2: avg pooling has no dilation (PyTorch's avg_pool2d has none); use max or min"),
    (["max", "{f}", "-k", "3", "-p", "2"], 2, "poolcli: error: padding 2: at most half the kernel (1 for kernel 3), as PyTorch allows: a window must never lie wholly in the padding"),
    (["max", "{f}", "--device", "tpu"], 2, "poolcli: error: unknown device 'tpu': use auto, cpu, cuda or cuda:N"),
    (["max", "{f}", "-o", "{f}"], 2, "poolcli: error: {f}: output is the input file itself; refusing to overwrite an input"),
    (["max", "{f}", "-o", "{d}/out.xyz"], 2, "poolcli: error: {d}/out.xyz: unknown output format '.xyz' (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    (["max", "{f}", "-o", "{d}/noext"], 2, "poolcli: error: {d}/noext: no file extension, so no output format (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    (["max", "{f}", "-o", "{d}/notes.png/x.png"], 2, "poolcli: error: {d}/notes.png: is a file, but a folder is needed here"),
    (["adaptive", "{f}", "--size", "0x3"], 2, "poolcli: error: Invalid value for '--size': each side must be a positive integer or '-' (got '0x3') (see 'poolcli adaptive --help')"),
    (["max"], 2, "poolcli: error: Missing argument 'INPUT...'. (see 'poolcli max --help')"),
    (["maxx", "{f}"], 2, "poolcli: error: No such command 'maxx'. Did you mean 'max'? (see 'poolcli --help')"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), ERRORS)
def test_error_table(invoke, rgb_png, args, code, message):
    folder = rgb_png.parent
    (folder / "notes.png").write_text("not an image")
    before = sorted(p.name for p in folder.iterdir())
    fill = {"f": str(rgb_png), "d": str(folder)}
    result = invoke(*[a.format(**fill) for a in args])
    assert result.exit_code == code
    assert result.stderr == message.format(**fill) + "\n"
    assert "Traceback" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


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
    for name, command in cli.commands.items():
        result = invoke(name, "--help")
        assert result.exit_code == 0
        assert command.help and command.help.strip()
        assert "Example:" in result.stdout, name
        assert f"poolcli {name}" in result.stdout.split("Example:")[1], name


def test_version(invoke):
    assert invoke("--version").stdout == f"poolcli, version {poolcli.__version__}\n"

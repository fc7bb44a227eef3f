"""Every error a user can meet on the command line, in one place: exact message, exit status, nothing written.

Usage problems (exit 2) are found before any work; a failed input (exit 1) is
one line naming the file, and the run goes on.
"""

from __future__ import annotations

import os

import pytest

from .conftest import write_rgb
from .files import CLI_HINT, FAILURES, files_under, outputs, photo

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
    # issue 9 item 14: every knob is bounded at the boundary, before any work
    (["max", "{f}", "-s", "99999999999999999999"], 2, "poolcli: error: Invalid value for '-s' / '--stride': must be at most 2,147,483,647 (got '99999999999999999999') (see 'poolcli max --help')"),
    (["max", "{f}", "-k", "100000000000000000000", "-p", "50000000000000000000"], 2, "poolcli: error: Invalid value for '-k' / '--kernel': must be at most 2,147,483,647 (got '100000000000000000000') (see 'poolcli max --help')"),
    (["avg", "{f}", "--divisor", "1000000000000000000000000000000"], 2, "poolcli: error: Invalid value for '--divisor': 1000000000000000000000000000000 is not in the range 1<=x<=2147483647. (see 'poolcli avg --help')"),
    (["avg", "{f}", "--divisor", "1e30"], 2, "poolcli: error: Invalid value for '--divisor': '1e30' is not a valid integer range. (see 'poolcli avg --help')"),
    (["max", "{f}", "--quality", "0"], 2, "poolcli: error: Invalid value for '--quality': 0 is not in the range 1<=x<=100. (see 'poolcli max --help')"),
    # issue 9 item 13: output sizes are bounded too, before anything is allocated
    (["adaptive", "{f}", "--size", "99999999999999999999x1"], 2, "poolcli: error: Invalid value for '--size': each side must be at most 2,147,483,647 (got '99999999999999999999x1') (see 'poolcli adaptive --help')"),
    (["adaptive", "{f}", "--size", "20000x20000"], 1, "poolcli: error: {f}: image too large: the output would be 20000x20000 = 400,000,000 pixels, over the limit of 89,478,485 pixels (raise it with --max-pixels; 0 = no limit)"),
    (["adaptive", "{f}", "--size", "100x100", "--max-pixels", "5000"], 1, "poolcli: error: {f}: image too large: the output would be 100x100 = 10,000 pixels, over the limit of 5,000 pixels (raise it with --max-pixels; 0 = no limit)"),
    # issue 9 item 25: --debug keeps a usage error's exit status
    (["--debug", "max", "{f}", "-k", "0"], 2, None),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), ERRORS)
def test_error_table(invoke, rgb_png, args, code, message):
    folder = rgb_png.parent
    (folder / "notes.png").write_text("not an image")
    before = sorted(p.name for p in folder.iterdir())
    fill = {"f": str(rgb_png), "d": str(folder)}
    result = invoke(*[a.format(**fill) for a in args])
    assert result.exit_code == code
    if message is None:  # --debug: the traceback, then the same line
        assert result.stderr.startswith("Traceback") and result.stderr.endswith(
            "poolcli: error: kernel 0: must be at least 1\n"
        )
    else:
        assert result.stderr == message.format(**fill) + "\n"
        assert "Traceback" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


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


@pytest.mark.parametrize(("item", "setup", "reason"), FAILURES, ids=[f[0] for f in FAILURES])
def test_failures_are_one_line_exit_1_and_write_nothing(invoke, tmp_path, item, setup, reason):
    path = setup(tmp_path)
    before = outputs(tmp_path)
    result = invoke("max", path, "--device", "cpu")
    assert result.exit_code == 1
    hint = CLI_HINT.get(reason, " (use --padding or --ceil)" if "smaller than the kernel" in reason else "")
    assert result.stderr == f"poolcli: error: {path}: {reason}{hint}\n"
    assert result.stdout == ""
    assert outputs(tmp_path) == before


OUTPUT_USAGE = [
    # (item, extra arguments, reason); {d} is the folder, {f} the input
    ("21-file-as-folder", ["-o", "{d}/plain.txt/out.png"], "{d}/plain.txt: is a file, but a folder is needed here"),
    ("21-file-as-folder-dir", ["-o", "{d}/plain.txt/"], "{d}/plain.txt/: is a file, but a folder is needed here"),
    ("22-unknown-ext", ["-o", "{d}/out.xyz"], "{d}/out.xyz: unknown output format '.xyz' (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    ("22-no-ext", ["-o", "{d}/out"], "{d}/out: no file extension, so no output format (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    ("22-bad-format", ["--format", "gif"], "unknown output format 'gif' (use one of .bmp, .jpe, .jpeg, .jpg, .pgm, .png, .ppm, .tif, .tiff, .webp)"),
    ("25-same-path", ["-o", "{f}"], "{f}: output is the input file itself; refusing to overwrite an input"),
    ("25-dot-slash", ["-o", "{d}/./photo.png"], "{d}/photo.png: output is the input file itself; refusing to overwrite an input"),
    ("25-hard-link", ["-o", "{d}/hard.png"], "{d}/hard.png: output is the input file itself; refusing to overwrite an input"),
    ("25-symlink", ["-o", "{d}/soft.png"], "{d}/soft.png: output is the input file itself; refusing to overwrite an input"),
]  # fmt: skip


@pytest.mark.parametrize(("item", "args", "reason"), OUTPUT_USAGE, ids=[u[0] for u in OUTPUT_USAGE])
def test_bad_outputs_are_usage_errors_before_any_work(invoke, tmp_path, item, args, reason):
    source = write_rgb(tmp_path / "photo.png", photo())
    (tmp_path / "plain.txt").write_text("a file, not a folder")
    os.link(source, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(source)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fill = {"d": str(tmp_path), "f": str(source)}
    result = invoke("max", source, "--device", "cpu", "--overwrite", *[a.format(**fill) for a in args])
    assert result.exit_code == 2
    assert result.stderr == f"poolcli: error: {reason.format(**fill)}\n"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


FIGURE_ERRORS = [
    (["max", "{f}", "--no-output"], 2, "poolcli: error: --no-output needs --compare (it would write nothing) (see 'poolcli max --help')"),
    (["max", "{f}", "--dpi", "200"], 2, "poolcli: error: --dpi, --title, --cmap, --true-size and --annotate need --compare (see 'poolcli max --help')"),
    (["max", "{f}", "--compare-to", "{d}/fig.jpg"], 2, "poolcli: error: {d}/fig.jpg: figures are written as PNG; give a name ending in .png"),
    (["compare", "{f}", "--ops", "max,mode"], 2, "poolcli: error: Invalid value for '--ops': use names from max, avg, min, adaptive, adaptive-max, adaptive-min, median, lp, blur, maxblur, softpool, stochastic, fractional, unpool (got 'max,mode') (see 'poolcli compare --help')"),
    (["compare", "{f}", "--kernels", "2,x"], 2, "poolcli: error: Invalid value for '--kernels': expected an integer like 3 or HxW like 2x3 (got '2,x') (see 'poolcli compare --help')"),
    (["compare", "{f}", "--cmap", "nosuch"], 2, "poolcli: error: cmap nosuch: unknown colormap (try gray, viridis, magma, cividis, bone)"),
    (["compare", "{f}", "--format", "jpg"], 2, "poolcli: error: No such option '--format'. (Did you mean one of: '--floor', '--report'?) (see 'poolcli compare --help')"),
    (["compare", "{f}", "-o", "{d}/grid.tif"], 2, "poolcli: error: {d}/grid.tif: figures are written as PNG; give a name ending in .png"),
    (["compare", "{f}", "-d", "2"], 2, "poolcli: error: dilation 2: avg pooling has no dilation (PyTorch's avg_pool2d has none); use max or min"),
    (["compare", "{f}", "--dpi", "5"], 2, "poolcli: error: Invalid value for '--dpi': 5 is not in the range 50<=x<=300. (see 'poolcli compare --help')"),
    (["compare", "{f}", "-k", "50"], 1, "poolcli: error: {f}: image 37x41 is smaller than the kernel 50x50 (use --padding or --ceil)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), FIGURE_ERRORS)
def test_figure_error_table(invoke, rgb_png, args, code, message):
    folder = rgb_png.parent
    (folder / "notes.png").write_text("not an image")
    before = sorted(p.name for p in folder.iterdir())
    fill = {"f": str(rgb_png), "d": str(folder)}
    result = invoke(*[a.format(**fill) for a in args])
    assert (result.exit_code, result.stderr) == (code, message.format(**fill) + "\n")
    assert sorted(p.name for p in folder.iterdir()) == before

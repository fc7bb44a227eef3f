"""The commands of the ops beyond max, avg and min: same pixels as the API, their figures and reports, their errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import poolcli
from poolcli import ops
from poolcli.pooling import fractional_samples

from .conftest import write_rgb

NEW_OPS = ["median", "lp", "blur", "maxblur", "softpool", "stochastic", "fractional", "unpool"]


@pytest.mark.parametrize(
    ("args", "name", "knobs"),
    [
        (["median", "-k", "3", "-s", "2", "-p", "1", "--even", "mean"], "photo.median-k3-s2-p1-evenmean.png",
         dict(kernel=3, stride=2, padding=1, even="mean")),
        (["lp", "--power", "3", "--ceil"], "photo.lp-k2-s2-ceil-pow3.png", dict(power=3, ceil_mode=True)),
        (["lp", "--power", "inf"], "photo.lp-k2-s2-powinf.png", dict(power=float("inf"))),
        (["blur"], "photo.blur-k3-s2.png", {}),
        (["blur", "-k", "4x2", "-s", "3", "--pad-mode", "zero"], "photo.blur-k4x2-s3-zero.png",
         dict(kernel=(4, 2), stride=3, pad_mode="zero")),
        (["maxblur", "--max-size", "3"], "photo.maxblur-k3-s2-m3.png", dict(max_size=3)),
        (["softpool", "-k", "3", "-s", "2", "-p", "1"], "photo.softpool-k3-s2-p1.png", dict(kernel=3, stride=2, padding=1)),
        (["stochastic", "--mode", "sample", "--seed", "5"], "photo.stochastic-k2-s2-sample-seed5.png",
         dict(mode="sample", seed=5)),
        (["fractional", "--size", "20x30"], "photo.fractional-k2-20x30.png", dict(size=(20, 30))),
        (["fractional", "--ratio", "0.6", "-k", "3", "--seed", "2"], "photo.fractional-k3-r0.6-seed2.png",
         dict(ratio=0.6, kernel=3, seed=2)),
        (["unpool", "-k", "4", "--reduce", "min"], "photo.unpool-k4-s4-min.png", dict(kernel=4, reduce="min")),
    ],
)  # fmt: skip
def test_each_command_writes_the_apis_pixels(invoke, rgb_png, args, name, knobs):
    result = invoke(args[0], rgb_png, *args[1:], "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    written = poolcli.read_image(rgb_png.with_name(name))
    np.testing.assert_array_equal(written, poolcli.pool(poolcli.read_image(rgb_png), args[0], **knobs))


def test_every_new_op_is_registered_with_a_command():
    assert set(NEW_OPS) <= set(ops.OPS)


def test_the_report_carries_the_random_draws(invoke, rgb_png, tmp_path):
    report = tmp_path / "report.jsonl"
    result = invoke("fractional", rgb_png, "--ratio", "0.5", "--seed", "9", "--report", report)
    assert result.exit_code == 0, result.stderr
    (line,) = map(json.loads, report.read_text().splitlines())
    assert line["details"] == {"seed": 9, "samples": fractional_samples(9, 3).tolist()}
    assert line["out_shape"] == [18, 20, 3]
    invoke("stochastic", rgb_png, "--mode", "sample", "--report", report, "--overwrite")
    (line,) = map(json.loads, report.read_text().splitlines())
    assert line["details"] == {"seed": 0, "draws": "numpy.random.default_rng(0).random((3, 18, 20))"}
    invoke("max", rgb_png, "--report", report, "--overwrite")
    assert "details" not in json.loads(report.read_text())  # only results that have some


def test_sample_mode_is_the_same_in_worker_processes_and_batches(invoke, rgb_png, tmp_path):
    for i in range(3):
        write_rgb(tmp_path / f"copy{i}.png", poolcli.read_image(rgb_png))
    result = invoke("stochastic", tmp_path, "--mode", "sample", "--seed", "3", "--engine", "processes", "-j", "2",
                    "--batch-size", "3", "-o", tmp_path / "out", "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    want = poolcli.pool(poolcli.read_image(rgb_png), "stochastic", mode="sample", seed=3)
    outs = sorted((tmp_path / "out").iterdir())
    assert len(outs) == 4
    for out in outs:
        np.testing.assert_array_equal(poolcli.read_image(out), want)


def test_winners_figure_shows_the_original_its_winners_and_the_result(invoke, rgb_png, tmp_path):
    figure = tmp_path / "winners.png"
    result = invoke("max", rgb_png, "-k", "4", "--winners", figure, "--no-output")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{rgb_png} -> {figure} (wrote; 37x41x3, figure: original | max k=4 s=4)\n"
    drawn = poolcli.read_image(figure)
    assert drawn.ndim == 3 and drawn.shape[1] > 3 * drawn.shape[0] / 2  # three panels side by side
    assert not rgb_png.with_name("photo.max-k4-s4.png").exists()


def test_winners_panel_marks_each_channels_pick():
    from poolcli.figures import winners_panel

    image = np.zeros((2, 4, 3), np.uint8)
    image[1, 0, 0] = image[0, 1, 1] = image[1, 3, 2] = 200
    _, where = poolcli.pool(image, "max", return_indices=True)
    panel = winners_panel(image, where, "max").image
    assert panel.dtype == np.uint8 and panel.shape == (2, 4, 3)
    marked = panel == 255
    assert marked[1, 0].tolist() == [True, False, False] and marked[0, 1].tolist() == [False, True, False]
    assert marked[0, 2].tolist() == [True, True, False]  # the second window's first cell: red and green are all 0
    assert marked[1, 3].tolist() == [False, False, True]
    assert panel[1, 1].tolist() == [0, 0, 0] and panel[1, 0, 1] == 26  # the rest: the image in gray, dimmed


def test_compare_shows_max_next_to_its_unpooling(invoke, rgb_png, tmp_path):
    out = tmp_path / "fig.png"
    result = invoke("compare", rgb_png, "--ops", "max,unpool,median,blur,fractional", "-k", "4", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "6 panels: original, max, unpool, median, blur, fractional" in result.stdout
    assert poolcli.read_image(out).ndim == 3


@pytest.fixture
def negative_tif(tmp_path):
    path = tmp_path / "signed.tif"
    assert cv2.imwrite(str(path), np.array([[1.5, -3.0], [2.0, 0.0]], np.float32))
    return path


ERRORS = [
    # (args, exit code, exact stderr; {f} is a 37x41 RGB PNG, {n} a float TIFF with a negative value)
    (["lp", "{f}", "--power", "0"], 2, "poolcli: error: Invalid value for '--power': 0.0 is not in the range x>0. (see 'poolcli lp --help')"),
    (["lp", "{f}", "-p", "1"], 2, "poolcli: error: padding 1: lp pooling has no padding (PyTorch's lp_pool2d has none)"),
    (["lp", "{n}", "--power", "2.5"], 1, "poolcli: error: {n}: lp pooling with power 2.5 needs values of at least 0 (PyTorch gives NaN for x^p of x < 0); use abs=True (--abs) for the Lp norm of |x|; this image's lowest value is -3"),
    (["fractional", "{f}", "--ratio", "1.5"], 2, "poolcli: error: Invalid value for '--ratio': each side must be a number between 0 and 1 (exclusive) (got '1.5') (see 'poolcli fractional --help')"),
    (["fractional", "{f}", "--size", "50"], 1, "poolcli: error: {f}: fractional output 50x50 with kernel 2 needs an image of at least 51x51; this one is 37x41"),
    (["fractional", "{f}"], 2, "poolcli: error: size: fractional pooling needs an output size or a ratio"),
    (["fractional", "{f}", "--size", "5", "--ratio", "0.5"], 2, "poolcli: error: ratio 0.5x0.5: give an output size or a ratio, not both"),
    (["stochastic", "{n}"], 1, "poolcli: error: {n}: stochastic pooling needs values of at least 0 (each cell is drawn with probability value / window sum); this image's lowest value is -3"),
    (["max", "{f}", "--even", "mean"], 2, "poolcli: error: even mean: only applies to median pooling"),
    (["median", "{f}", "--even", "upper"], 2, "poolcli: error: Invalid value for '--even': 'upper' is not one of 'lower', 'mean'. (see 'poolcli median --help')"),
    (["avg", "{f}", "--seed", "3"], 2, "poolcli: error: seed 3: only applies to stochastic and fractional pooling"),
    (["blur", "{f}", "-k", "8"], 2, "poolcli: error: kernel 8: at most 7 for blur pooling"),
    (["blur", "{f}", "-p", "1"], 2, "poolcli: error: padding 1: blur pads by itself: (k-1)//2 cells before and k//2 after, as --pad-mode says"),
    (["maxblur", "{f}", "--max-size", "40"], 1, "poolcli: error: {f}: image 37x41 is smaller than the kernel 40x40 (use --padding or --ceil)"),
    (["avg", "{f}", "--winners", "{d}/w.png"], 2, "poolcli: error: winners {d}/w.png: only applies to max and min pooling (where a window's value came from)"),
    (["max", "{f}", "--winners", "{d}/w.png", "--compare-to", "{d}/c.png"], 2, "poolcli: error: --winners names the figure, as --compare-to does; give one of them (see 'poolcli max --help')"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), ERRORS)
def test_error_table(invoke, rgb_png, negative_tif, args, code, message):
    folder = rgb_png.parent
    before = sorted(p.name for p in folder.iterdir())
    fill = {"f": str(rgb_png), "d": str(folder), "n": str(negative_tif)}
    result = invoke(*[a.format(**fill) for a in args])
    assert (result.exit_code, result.stderr) == (code, message.format(**fill) + "\n")
    assert "Traceback" not in result.output
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


@pytest.mark.parametrize("name", NEW_OPS)
def test_help_says_the_knobs_and_their_defaults(invoke, name):
    text = " ".join(invoke(name, "--help").stdout.split())
    info = ops.OPS[name]
    for param in info.params:
        assert param.flag in text
    if info.default("stride") is not None:
        assert "[default: 2]" in text


def test_compare_strides_every_panel_by_its_kernel_unless_told():
    from poolcli.compare import Comparison

    column = Comparison.make(("max", "blur", "maxblur"), (4,)).columns[0]
    assert [spec.stride for spec in column.specs] == [(4, 4)] * 3  # blur's own default (2) gives way
    column = Comparison.make(("max", "blur"), (3,), stride=2).columns[0]
    assert [spec.stride for spec in column.specs] == [(2, 2)] * 2

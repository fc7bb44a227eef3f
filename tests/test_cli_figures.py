"""Figures made by the command line (``--compare``, ``compare``), opened and looked at pixel by pixel."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import poolcli

from .conftest import write_rgb
from .files import RED, blobs, read_figure


def test_red_stays_red_in_every_panel(run_poolcli, tmp_path):
    source = write_rgb(tmp_path / "red.png", np.broadcast_to(RED, (24, 32, 3)).copy())
    proc = run_poolcli("compare", source, "-k", "2", "-s", "2", "-o", tmp_path / "fig.png", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout
        == f"{source} -> {tmp_path / 'fig.png'} (wrote; 24x32x3, 5 panels: original, max, avg, min, adaptive)\n"
    )
    figure = read_figure(tmp_path / "fig.png")
    red = np.all(figure == RED, axis=2)
    blue = (figure[..., 2] > 200) & (figure[..., 0] < 50)
    assert len(blobs(red)) == 5  # original, max, avg, min, adaptive: every one pure red
    assert not blue.any()  # BGR drawn as RGB would have turned them blue


def test_uniform_gray_is_drawn_at_its_value_not_stretched(run_poolcli, tmp_path):
    source = write_rgb(tmp_path / "flat.png", np.full((20, 30), 100, np.uint8))
    proc = run_poolcli("compare", source, "-o", tmp_path / "fig.png")
    assert proc.returncode == 0, proc.stderr
    figure = read_figure(tmp_path / "fig.png").astype(int)
    gray100 = np.all(np.abs(figure - 100) <= 1, axis=2)
    areas = blobs(gray100)
    assert len(areas) == 5 and areas[-1] > 0.9 * areas[0]  # five equal panels, all still 100
    assert blobs(np.all(figure < 8, axis=2)) == []  # a stretched flat image would be black (text is specks)


def test_sixteen_bit_is_drawn_on_its_full_scale(run_poolcli, tmp_path):
    source = write_rgb(tmp_path / "deep.png", np.full((16, 16), 32768, np.uint16))
    proc = run_poolcli("compare", source, "--ops", "max,min", "-o", tmp_path / "fig.png")
    assert proc.returncode == 0, proc.stderr
    figure = read_figure(tmp_path / "fig.png").astype(int)
    assert len(blobs(np.all(np.abs(figure - 128) <= 1, axis=2))) == 3  # half of 65535 is mid gray


def test_alpha_is_shown_over_a_checkerboard(invoke, tmp_path):
    image = np.zeros((24, 24, 4), np.uint8)
    image[..., 0] = 255  # red, but wholly transparent
    source = write_rgb(tmp_path / "ghost.png", image)
    result = invoke("max", source, "--compare", "--no-output")
    assert result.exit_code == 0, result.stderr
    figure = read_figure(tmp_path / "ghost.max-k2-s2.compare.png")
    light, dark = (np.all(figure == v, axis=2) for v in (217, 153))
    assert len(blobs(light)) >= 12 and len(blobs(dark)) >= 12  # squares in both panels
    assert not np.all(figure == RED, axis=2).any()


def test_true_size_draws_results_at_their_real_size(invoke, tmp_path):
    source = write_rgb(tmp_path / "red.png", np.broadcast_to(RED, (40, 40, 3)).copy())
    for flag, ratio in (("--true-size", 4.0), (None, 1.0)):
        args = ["max", source, "--compare", "--no-output", "--overwrite", *([flag] if flag else [])]
        assert invoke(*args).exit_code == 0
        original, pooled = blobs(np.all(read_figure(tmp_path / "red.max-k2-s2.compare.png") == RED, axis=2))
        assert original / pooled == pytest.approx(ratio, rel=0.1)


def test_max_compare_writes_the_image_and_the_figure(invoke, rgb_png):
    result = invoke("max", rgb_png, "-k", "2", "-s", "2", "--compare")
    assert result.exit_code == 0, result.stderr
    image, figure = rgb_png.with_name("photo.max-k2-s2.png"), rgb_png.with_name("photo.max-k2-s2.compare.png")
    assert result.stdout.splitlines() == [
        f"{rgb_png} -> {image} (wrote; 37x41x3 -> 18x20x3, max k=2 s=2)",
        f"{rgb_png} -> {figure} (wrote; 37x41x3, figure: original | max k=2 s=2)",
    ]
    np.testing.assert_array_equal(poolcli.read_image(image), poolcli.pool(poolcli.read_image(rgb_png), "max"))
    assert read_figure(figure).shape[0] > 200


def test_no_output_writes_only_the_named_figure(invoke, rgb_png, tmp_path):
    result = invoke("adaptive", rgb_png, "--size", "5x7", "--compare-to", tmp_path / "fig.png", "--no-output")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout
        == f"{rgb_png} -> {tmp_path / 'fig.png'} (wrote; 37x41x3, figure: original | adaptive avg → 5x7)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "photo.png"]


def test_existing_figure_follows_the_overwrite_rules(invoke, rgb_png):
    figure = rgb_png.with_name("photo.compare-k8-s8.png")
    figure.write_bytes(b"keep me")
    result = invoke("compare", rgb_png)
    assert result.exit_code == 1
    assert result.stderr == f"poolcli: error: {figure}: exists (use --overwrite to replace it)\n"
    assert figure.read_bytes() == b"keep me"
    assert invoke("compare", rgb_png, "--overwrite").exit_code == 0
    assert read_figure(figure).shape[1] > 200
    pooled = rgb_png.with_name("photo.max-k2-s2.compare.png")
    pooled.write_bytes(b"keep me")
    assert invoke("max", rgb_png, "--compare").exit_code == 1
    assert not rgb_png.with_name("photo.max-k2-s2.png").exists()  # nothing written when one target exists


def test_folder_run_writes_one_figure_beside_each_output(invoke, rgb_png, gray_png, tmp_path):
    result = invoke("min", tmp_path, "-o", f"{tmp_path}/out/", "--compare")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "gray.min-k2-s2.compare.png", "gray.min-k2-s2.png", "photo.min-k2-s2.compare.png", "photo.min-k2-s2.png",
    ]  # fmt: skip
    again = invoke("compare", tmp_path, "-o", f"{tmp_path}/figs/", "--ops", "max", "-q")
    assert again.exit_code == 0 and again.stdout == ""
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "gray.compare-k8-s8.png",
        "photo.compare-k8-s8.png",
    ]


def test_dry_run_writes_no_figure(invoke, rgb_png):
    result = invoke("compare", rgb_png, "--kernels", "2,3", "--diff", "--dry-run")
    assert result.exit_code == 0
    assert "(would write; 37x41x3, 15 panels: original, max, avg, min, adaptive, differences)" in result.stdout
    assert invoke("max", rgb_png, "--compare", "--dry-run").stdout.count("would write") == 2
    assert sorted(p.name for p in rgb_png.parent.iterdir()) == ["photo.png"]


def test_matplotlib_is_imported_only_for_figures(rgb_png):
    code = (
        "import sys\n"
        "from poolcli.cli import cli\n"
        f"cli.main(['max', {str(rgb_png)!r}, '-q', '--device', 'cpu'], standalone_mode=False)\n"
        "print('matplotlib' in sys.modules)\n"
        f"cli.main(['max', {str(rgb_png)!r}, '-q', '--overwrite', '--compare', '--device', 'cpu'], standalone_mode=False)\n"
        "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["False", "True False"]


def test_large_image_makes_a_reasonable_figure(invoke, tmp_path, rng):
    source = write_rgb(tmp_path / "big.png", rng.integers(0, 256, (1500, 2400, 3), dtype=np.uint8))
    assert invoke("compare", source, "--ops", "max,avg", "-k", "8", "--device", "cpu").exit_code == 0
    figure = tmp_path / "big.compare-k8-s8.png"
    height, width = read_figure(figure).shape[:2]
    assert height < 450 and width < 1600  # panels capped at 4.8 in: 100 dpi, 1 px per original px at most
    assert figure.stat().st_size < 4_000_000


def test_annotate_says_which_panels_have_no_numbers(invoke, tmp_path, rng):
    """Issue 9 item 30: numbers left out are said, not dropped silently."""
    source = write_rgb(tmp_path / "wide.png", rng.integers(0, 256, (17, 20), dtype=np.uint8))
    result = invoke("compare", source, "--ops", "max", "-k", "2", "--annotate", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"poolcli: warning: {source}: numbers left out of 'original': 17×20 px, more than 16×16"
    ]
    small = write_rgb(tmp_path / "small.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    quiet = invoke("compare", small, "--ops", "max", "-k", "2", "--annotate", "--device", "cpu")
    assert quiet.exit_code == 0 and quiet.stderr == ""

"""Comparison figures: written PNGs are opened and their pixels looked at."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

import poolcli
from poolcli.compare import Comparison, comparison_grid
from poolcli.figures import FigureStyle, figure_png, make_figure

from .conftest import write_rgb

RED = np.array([255, 0, 0], np.uint8)


def read_figure(path: Path) -> np.ndarray:
    figure = poolcli.read_image(path)
    assert figure.ndim == 3 and figure.shape[2] == 3, figure.shape  # opaque RGB
    return figure


def blobs(mask: np.ndarray, smallest: int = 200) -> list[int]:
    """Areas of the connected regions of ``mask``, largest first; specks of anti-aliased text are left out."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    return sorted((int(a) for a in stats[1:, cv2.CC_STAT_AREA] if a >= smallest), reverse=True)


def panels_of(fig) -> list:
    return [ax for ax in fig.axes if ax.get_gid() == "panel"]


def panel_centres(fig, png: bytes) -> list[np.ndarray]:
    """The figure pixel at the centre of each panel, in the order the panels were added."""
    image = poolcli.decode_image(png)
    height = image.shape[0]
    out = []
    for ax in panels_of(fig):
        box = ax.get_window_extent()
        out.append(image[int(height - (box.y0 + box.y1) / 2), int((box.x0 + box.x1) / 2)])
    return out


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


def test_avg_is_drawn_darker_than_max_on_a_fixed_scale(tmp_path):
    checker = (np.indices((12, 16)).sum(axis=0) % 2 * 200).astype(np.uint8)  # 1-px squares of 0 and 200
    fig = make_figure(comparison_grid(checker, Comparison.make(kernels=(2,))), FigureStyle())
    centres = panel_centres(fig, figure_png(fig))
    assert [int(c[0]) for c in centres[1:]] == [200, 100, 0, 100]  # max, avg, min, adaptive avg
    assert all(c[0] == c[1] == c[2] for c in centres)


def test_sixteen_bit_is_drawn_on_its_full_scale(run_poolcli, tmp_path):
    source = write_rgb(tmp_path / "deep.png", np.full((16, 16), 32768, np.uint16))
    proc = run_poolcli("compare", source, "--ops", "max,min", "-o", tmp_path / "fig.png")
    assert proc.returncode == 0, proc.stderr
    figure = read_figure(tmp_path / "fig.png").astype(int)
    assert len(blobs(np.all(np.abs(figure - 128) <= 1, axis=2))) == 3  # half of 65535 is mid gray


def test_float_image_uses_its_real_range():
    image = np.array([[0.0, 4.0], [2.0, 2.0]], np.float32)
    fig = make_figure([[poolcli.figures.original_panel(image)]])
    assert panels_of(fig)[0].images[0].norm.vmin == 0.0 and panels_of(fig)[0].images[0].norm.vmax == 4.0
    assert "float32 gray, values drawn on a 0..4 scale" in fig.texts[1].get_text()


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


def test_grid_of_ops_and_kernels_has_its_panels_and_titles(rgb_png):
    plan = Comparison.make(("max", "min"), ((2, 2), (4, 4)), diff=True)
    image = poolcli.read_image(rgb_png)
    fig = make_figure(comparison_grid(image, plan), FigureStyle(title="photo"))
    titles = [ax.get_title() for ax in panels_of(fig)]
    assert len(titles) == plan.panel_count == 7  # original, 2 ops x 2 kernels, |max - min| x 2 kernels
    assert titles[:3] == ["original\n37×41 px (H×W)", "max k=2 s=2\n→ 18×20 px (H×W)", "max k=4 s=4\n→ 9×10 px (H×W)"]
    assert titles[3:5] == ["min k=2 s=2\n→ 18×20 px (H×W)", "min k=4 s=4\n→ 9×10 px (H×W)"]
    assert titles[5].startswith("|min − max| (largest of R,G,B)")
    assert sum(ax.get_gid() == "colorbar" for ax in fig.axes) == 2
    assert fig.texts[0].get_text() == "photo"


def test_titles_do_not_overlap(rgb_png):
    plan = Comparison.make(kernels=((3, 3),), stride=(2, 2), padding=(1, 1), count_include_pad=False, diff=True)
    fig = make_figure(comparison_grid(poolcli.read_image(rgb_png), plan))
    figure_png(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in panels_of(fig)]
    frames = [ax.get_window_extent(renderer) for ax in panels_of(fig)]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :])
        assert not any(a.overlaps(f) for f in frames)
    assert "avg k=3 s=2 p=1 no-count-pad" in [ax.get_title().split("\n")[0] for ax in panels_of(fig)]


def test_difference_panel_shows_the_real_range():
    pattern = poolcli.read_image(Path(__file__).parent.parent / "sample_images" / "pattern8x8.png")
    fig = make_figure(comparison_grid(pattern, Comparison.make(("max", "avg"), (2,), diff=True)))
    diff_ax = panels_of(fig)[-1]
    expected = np.abs(poolcli.pool(pattern, "max").astype(int) - poolcli.pool(pattern, "avg").astype(int))
    assert diff_ax.images[0].norm.vmin == 0 and diff_ax.images[0].norm.vmax == expected.max() == 53
    np.testing.assert_array_equal(diff_ax.images[0].get_array(), expected)


def test_annotate_writes_each_value_in_its_cell():
    pattern = poolcli.read_image(Path(__file__).parent.parent / "sample_images" / "pattern8x8.png")
    grid = comparison_grid(pattern, Comparison.make(("max",), (2,)))
    original, pooled = panels_of(make_figure(grid, FigureStyle(annotate=True)))
    assert [t.get_text() for t in original.texts] == [str(v) for v in pattern.ravel()]
    assert [t.get_text() for t in pooled.texts] == [str(v) for v in poolcli.pool(pattern, "max").ravel()]
    assert not any(ax.texts for ax in panels_of(make_figure(grid, FigureStyle())))


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


FIGURE_ERRORS = [
    (["max", "{f}", "--no-output"], 2, "poolcli: error: --no-output needs --compare (it would write nothing) (see 'poolcli max --help')"),
    (["max", "{f}", "--dpi", "200"], 2, "poolcli: error: --dpi, --title, --cmap, --true-size and --annotate need --compare (see 'poolcli max --help')"),
    (["max", "{f}", "--compare-to", "{d}/fig.jpg"], 2, "poolcli: error: {d}/fig.jpg: figures are written as PNG; give a name ending in .png"),
    (["compare", "{f}", "--ops", "max,mode"], 2, "poolcli: error: Invalid value for '--ops': use names from max, avg, min, adaptive, adaptive-max, adaptive-min, median, lp, blur, maxblur, softpool, stochastic, fractional, unpool (got 'max,mode') (see 'poolcli compare --help')"),
    (["compare", "{f}", "--kernels", "2,x"], 2, "poolcli: error: Invalid value for '--kernels': expected an integer like 3 or HxW like 2x3 (got '2,x') (see 'poolcli compare --help')"),
    (["compare", "{f}", "--cmap", "nosuch"], 2, "poolcli: error: cmap nosuch: unknown colormap (try gray, viridis, magma, cividis, bone)"),
    (["compare", "{f}", "--format", "jpg"], 2, "poolcli: error: figures are written as PNG; drop --format jpg (see 'poolcli compare --help')"),
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


def test_figures_drawn_in_threads_match_serial(rgb_png):
    image = poolcli.read_image(rgb_png)
    grids = [comparison_grid(image, Comparison.make(kernels=((k, k),))) for k in (2, 3, 4, 5)]
    serial = [figure_png(make_figure(g)) for g in grids]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda g: figure_png(make_figure(g)), grids))
    assert threaded == serial


def test_readme_shows_committed_example_figures():
    root = Path(__file__).parent.parent
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", (root / "README.md").read_text())
    assert "docs/compare-coffee.png" in linked
    for name in linked:
        figure = root / name
        assert figure.stat().st_size < 410_000, name
        assert read_figure(figure).shape[1] > 1000, name

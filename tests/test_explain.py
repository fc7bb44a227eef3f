"""``poolcli explain``: the steps, the numbers in them, the page and the GIF, without a browser."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import poolcli
from poolcli import reference
from poolcli.errors import ParameterError
from poolcli.explain import PATTERN, REDUCTIONS, explain, explainable_ops, formula, parse_region, pattern
from poolcli.explain_gif import FIRST_MS, LAST_MS, STEP_MS, WINDOW, _Layout, frame_png
from poolcli.explain_gif import render as render_gif
from poolcli.explain_html import render as render_page
from poolcli.spec import PoolSpec

from . import pagecheck
from .conftest import write_rgb

ROOT = Path(__file__).resolve().parent.parent

SPECS = [
    PoolSpec.make("max", kernel=2),
    PoolSpec.make("max", kernel=3, stride=2, padding=1),
    PoolSpec.make("avg", kernel=3, stride=2, padding=1),
    PoolSpec.make("avg", kernel=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    PoolSpec.make("avg", kernel=2, divisor=3),
    PoolSpec.make("min", kernel=2, dilation=2, ceil_mode=True),
    PoolSpec.make("min", kernel=3, stride=1, padding="same"),
    PoolSpec.make("max", kernel="2x3", stride="1x2", padding="1x1", dilation="2x1", ceil_mode=True),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.tag())
def test_one_step_per_output_cell_with_the_reference_values(spec):
    e = explain(None, spec)
    rows, cols = spec.output_size(8, 8)
    assert len(e.steps) == rows * cols
    assert [s.out for s in e.steps] == [(i, j) for i in range(rows) for j in range(cols)]
    ref = reference.apply(pattern(), spec)
    assert [s.value[0] for s in e.steps] == ref.ravel().tolist()
    np.testing.assert_array_equal(e.output[:, :, 0], poolcli.pool(pattern(), spec))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.tag())
def test_every_tap_follows_the_spec_geometry(spec):
    e = explain(None, spec)
    rows, cols = spec.plan(8, 8)
    for s in e.steps:
        i, j = s.out
        want_r = [i * rows.stride - rows.before + t * rows.dilation for t in range(rows.kernel)]
        want_c = [j * cols.stride - cols.before + t * cols.dilation for t in range(cols.kernel)]
        assert s.taps == [(r, c) for r in want_r for c in want_c]


def test_the_issue_examples_are_written_as_asked():
    assert explain(None, PoolSpec.make("max", kernel=2)).steps[0].text == ["max(12, 45, 67, 23) = 67"]
    avg = explain(None, PoolSpec.make("avg", kernel=2)).steps[0]
    assert avg.text == ["avg = (12+45+67+23)/4 = 36.75 → 37 (half to even)"]
    assert avg.value == [37]


def test_padding_is_written_with_its_neutral_value():
    first = explain(None, PoolSpec.make("max", kernel=3, stride=2, padding=1)).steps[0]
    assert first.text == ["max(−∞, −∞, −∞, −∞, 12, 45, −∞, 67, 23) = 67"]
    assert "starts in the padding" in first.notes[0] and "never wins" in first.notes[0]
    lowest = explain(None, PoolSpec.make("min", kernel=3, stride=2, padding=1)).steps[0]
    assert lowest.text == ["min(+∞, +∞, +∞, +∞, 12, 45, +∞, 67, 23) = 12"]
    counted = explain(None, PoolSpec.make("avg", kernel=3, stride=2, padding=1)).steps[0]
    assert counted.text == ["avg = (0+0+0+0+12+45+0+67+23)/9 = 16.3333… → 16 (half to even)"]
    uncounted = explain(None, PoolSpec.make("avg", kernel=3, stride=2, padding=1, count_include_pad=False)).steps[0]
    assert uncounted.text == ["avg = (12+45+67+23)/4 = 36.75 → 37 (half to even)"]
    fixed = explain(None, PoolSpec.make("avg", kernel=2, divisor=3)).steps[0]
    assert fixed.text == ["avg = (12+45+67+23)/3 = 49"]


def test_winner_is_the_cell_holding_the_pooled_value():
    e = explain(None, PoolSpec.make("max", kernel=3, stride=2, padding=1))
    grid = pattern()
    for s in e.steps:
        (r, c) = s.winners[0]
        assert (r, c) in s.taps and grid[r, c] == s.value[0]
    assert all(w is None for s in explain(None, PoolSpec.make("avg")).steps for w in s.winners)


def test_dilated_windows_are_spaced_and_ceil_mode_cells_past_the_input_are_called_out():
    e = explain(None, PoolSpec.make("min", kernel=2, dilation=2, ceil_mode=True))
    assert e.steps[0].taps == [(0, 0), (0, 2), (2, 0), (2, 2)]
    last = e.steps[-1]
    assert last.taps == [(6, 6), (6, 8), (8, 6), (8, 8)]
    assert [e.kind(*t) for t in last.taps] == ["image", "beyond", "beyond", "beyond"]
    assert last.text == ["min(44) = 44"]
    assert any("past the padded input" in n for n in last.notes)
    assert e.last == (8, 8)  # the drawn area reaches the cells PyTorch ignores


def test_a_window_pytorch_drops_is_called_out():
    spec = PoolSpec.make("max", kernel=2, stride=3, padding=1, ceil_mode=True)
    e = explain(None, spec, region=(0, 0, 4, 4))
    assert e.output.shape[:2] == (2, 2)
    assert any("PyTorch drops it" in n for n in e.notes)
    assert e.formula[0] == (
        "rows: ceil((in + 2p − d(k−1) − 1) / s) + 1 = ceil((4 + 2·1 − 1·(2−1) − 1) / 3) + 1 = ceil(4/3) + 1 = 3, "
        "less the last window (it would start past the input): 2"
    )


def test_the_formula_has_the_numbers_plugged_in_and_the_spec_result():
    spec = PoolSpec.make("max", kernel=3, stride=2, padding=1)
    assert formula(spec, *spec.plan(8, 8)) == [
        "rows: floor((in + 2p − d(k−1) − 1) / s) + 1 = floor((8 + 2·1 − 1·(3−1) − 1) / 2) + 1 = floor(7/2) + 1 = 4",
        "columns: floor((in + 2p − d(k−1) − 1) / s) + 1 = floor((8 + 2·1 − 1·(3−1) − 1) / 2) + 1 = floor(7/2) + 1 = 4",
    ]
    same = PoolSpec.make("max", kernel=3, stride=2, padding="same")
    assert formula(same, *same.plan(7, 8))[0].startswith("rows: padding 'same': ceil(in / s) = ceil(7/2) = 4")


def test_colour_images_show_three_values_or_one_channel(rng):
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    spec = PoolSpec.make("max", kernel=2)
    e = explain(image, spec, region=(3, 4, 6, 6), source="photo.png")
    crop = image[3:9, 4:10]
    assert e.channels == ["R", "G", "B"] and e.grid.shape == (6, 6, 3)
    np.testing.assert_array_equal(e.output, reference.apply(crop, spec))
    assert [line[:3] for line in e.steps[0].text] == ["R: ", "G: ", "B: "]
    assert e.overview is not None and e.overview.startswith(b"\xff\xd8")  # a JPEG
    green = explain(image, spec, region=(3, 4, 6, 6), channel="g")
    assert green.channels == ["G"]
    np.testing.assert_array_equal(green.output[:, :, 0], reference.apply(crop[:, :, 1], spec))


def test_float_and_sixteen_bit_regions(rng):
    deep = rng.integers(0, 65536, (6, 6), dtype=np.uint16)
    e = explain(deep, PoolSpec.make("avg", kernel=2))
    np.testing.assert_array_equal(e.output[:, :, 0], reference.apply(deep, PoolSpec.make("avg", kernel=2)))
    floats = np.linspace(0, 1, 36, dtype=np.float32).reshape(6, 6)
    text = explain(floats, PoolSpec.make("avg", kernel=2)).steps[0].text[0]
    assert "half to even" not in text and text.startswith("avg = (0+0.02857+0.1714+0.2)/4 = ")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": (0, 0, 17, 4)}, "region 17x4 at row 0, col 0: is larger than 16x16 cells (the numbers would be unreadable); pick a smaller one"),
        ({"region": (5, 5, 4, 4)}, "region 4x4 at row 5, col 5: does not fit in the image (8x8, rows x cols)"),
        ({"channel": "R"}, "channel R: the image is gray: it has one channel"),
    ],
)  # fmt: skip
def test_limits_are_one_line_errors(kwargs, message):
    with pytest.raises(ParameterError) as info:
        explain(None, PoolSpec.make("max"), **kwargs)
    assert str(info.value) == message


def test_kernel_larger_than_the_padded_region_and_ops_without_text():
    with pytest.raises(ParameterError, match=r"^kernel 4x4 \(7x7 dilated\): larger than the padded region 5x5 "):
        explain(None, PoolSpec.make("max", kernel=4, padding=1, dilation=2), region=(0, 0, 3, 3))
    with pytest.raises(ParameterError, match="explain shows"):
        explain(None, PoolSpec.make("adaptive", size=2))
    with pytest.raises(ParameterError, match=r"is 20x20; explain shows at most 16x16 cells.*--region 6,6,8,8"):
        explain(np.zeros((20, 20), np.uint8), PoolSpec.make("max"), source="big.png")
    assert parse_region(" 1, 2,3 ,4") == (1, 2, 3, 4)
    with pytest.raises(ParameterError):
        parse_region("1,2,0,4")


def test_formatter_table_is_keyed_by_op_name():
    assert set(explainable_ops()) == {"max", "avg", "min"} == set(REDUCTIONS)
    assert [REDUCTIONS[op].pad for op in ("max", "avg", "min")] == ["−∞", "0", "+∞"]


def test_built_in_pattern_is_the_sample_image():
    sample = poolcli.read_image(ROOT / "sample_images" / "pattern8x8.png")
    np.testing.assert_array_equal(sample, np.array(PATTERN, np.uint8))


# --- the page, parsed --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS[:6], ids=lambda s: s.tag())
def test_page_is_valid_self_contained_and_carries_every_step(spec):
    e = explain(None, spec)
    page = pagecheck.parse(render_page(e))
    got = pagecheck.data(page)
    assert len(got["steps"]) == len(e.steps) == got["out"][0] * got["out"][1]
    assert [s["text"] for s in got["steps"]] == [s.text for s in e.steps]
    assert [s["taps"] for s in got["steps"]] == [[list(t) for t in s.taps] for s in e.steps]
    ids = {attrs.get("id") for _, attrs in page.tags}
    assert {"prev", "next", "play", "slider", "input", "output", "reduction", "formula"} <= ids
    slider = next(a for a in page.all("input") if a.get("id") == "slider")
    assert slider["max"] == str(len(e.steps) - 1)


def test_page_of_an_image_region_holds_the_overview_as_a_data_uri(rng):
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    text = render_page(explain(image, PoolSpec.make("avg", kernel=2), region=(10, 10, 6, 6), source="a <b>.png"))
    page = pagecheck.parse(text)
    (overview,) = [a for a in page.all("img") if a.get("id") == "overview"]
    assert overview["src"].startswith("data:image/jpeg;base64,")
    assert "a &lt;b&gt;.png" in text and "a <b>.png" not in text.split('id="data"')[0]


# --- the GIF -----------------------------------------------------------------------------------------------


def test_gif_has_a_frame_per_step_and_frames_match_their_drawing():
    e = explain(None, PoolSpec.make("max", kernel=3, stride=2, padding=1))
    gif = Image.open(io.BytesIO(render_gif(e)))
    assert gif.n_frames == len(e.steps) == 16
    durations = []
    for n in range(gif.n_frames):
        gif.seek(n)
        durations.append(gif.info["duration"])
    assert durations == [FIRST_MS] + [STEP_MS] * 14 + [LAST_MS]
    # a frame decoded from the animation equals that step drawn on its own
    gif.seek(5)
    shown = np.asarray(gif.convert("RGB")).astype(int)
    alone = np.asarray(Image.open(io.BytesIO(frame_png(e, 5))).convert("RGB")).astype(int)
    assert np.abs(shown - alone).max() <= 24  # only palette rounding


def test_gif_frame_outlines_the_window_in_orange():
    e = explain(None, PoolSpec.make("max", kernel=2))
    layout = _Layout(e)
    frame = np.asarray(Image.open(io.BytesIO(frame_png(e, 1))).convert("RGB"))
    x0, y0, _, y1 = layout.input_box(0, 2, e)  # step 2's first cell
    assert tuple(frame[(y0 + y1) // 2, x0 + 1]) == WINDOW
    x0, y0, _, y1 = layout.input_box(0, 0, e)  # step 1's: no longer lit
    assert tuple(frame[(y0 + y1) // 2, x0 + 1]) != WINDOW


# --- the command -----------------------------------------------------------------------------------------


def test_explain_writes_the_page_here_for_the_pattern(invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("explain", "-k", "3", "-s", "2", "-p", "1", "--op", "max")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "built-in 8x8 pattern -> explain.html (wrote; 16 steps, 8x8 -> 4x4, max k=3 s=2 p=1)\n"
    pagecheck.parse((tmp_path / "explain.html").read_text(encoding="utf-8"))
    again = invoke("explain")
    assert again.exit_code == 1
    assert again.stderr == "poolcli: error: explain.html: exists (use --overwrite to replace it)\n"
    assert invoke("explain", "--overwrite", "-q").exit_code == 0


def test_explain_a_region_of_an_image_beside_it_and_a_gif(invoke, tmp_path, rng):
    photo = write_rgb(tmp_path / "photo.png", rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    result = invoke("explain", photo, "--region", "4,5,12,12", "-k", "2", "--op", "avg", "--gif", tmp_path / "s.gif",
                    "-o", tmp_path / "steps.html")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "steps.html").exists() and Image.open(tmp_path / "s.gif").n_frames == 36
    beside = invoke("explain", photo, "--region", "0,0,4,4", "--channel", "B")
    assert beside.exit_code == 0, beside.stderr
    assert (tmp_path / "explain.html").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--region", "0,0,20,20"], 2, "region 20x20 at row 0, col 0: is larger than 16x16 cells (the numbers would be unreadable); pick a smaller one"),
        (["-k", "9"], 2, "kernel 9x9: larger than the padded region 8x8 (region 8x8, padding 0x0 on each side)"),
        (["--op", "avg", "-d", "2"], 2, "dilation 2: avg pooling has no dilation (PyTorch's avg_pool2d has none); use max or min"),
        (["-o", "steps.png"], 2, "steps.png: the page is HTML: give a name ending in .html"),
        (["--gif", "steps.png"], 2, "steps.png: --gif needs a name ending in .gif"),
        (["--region", "1,2"], 2, "region 1,2: expected ROW,COL,HEIGHT,WIDTH, four whole numbers"),
        (["missing.png"], 1, "missing.png: not found"),
    ],
)  # fmt: skip
def test_explain_errors_are_one_line_with_exit_codes(invoke, tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    result = invoke("explain", *args)
    assert result.exit_code == code
    assert result.stderr == f"poolcli: error: {message}\n"
    assert not (tmp_path / "explain.html").exists()


def test_explain_never_writes_over_its_input(invoke, tmp_path):
    page = tmp_path / "in.html"
    page.write_text("not an image")
    result = invoke("explain", page, "-o", page)
    assert result.exit_code == 2
    assert "refusing to overwrite an input" in result.stderr


def test_explain_help_imports_nothing_heavy():
    code = (
        "import sys\nfrom poolcli.cli import cli\n"
        "assert cli.main(['explain', '--help'], standalone_mode=False) == 0\n"
        "print(sorted(m for m in ('torch', 'cv2', 'matplotlib', 'numpy', 'PIL') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("marker", ["explain-commands", "html-commands", "shift-commands"])
def test_readme_commands_run_as_written(marker, invoke, tmp_path, monkeypatch):
    import re
    import shlex
    import shutil

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)\n```", text.split(f"<!-- {marker}", 1)[1], re.S).group(1)
    shutil.copytree(ROOT / "sample_images", tmp_path / "sample_images")
    monkeypatch.chdir(tmp_path)
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "poolcli", line
        result = invoke(*words[1:])
        assert result.exit_code == 0, (line, result.stderr)
        for word in words:
            if word.endswith((".html", ".gif", ".png")) and not word.startswith("sample_images"):
                assert (tmp_path / word).is_file(), (line, word)

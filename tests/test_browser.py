"""The pages in a real browser: headless Chromium (Debian's package) driven by Playwright.

Skipped, with the reason, where Playwright or Chromium is missing; a
Chromium that is there but fails to start is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from poolcli.explain import explain
from poolcli.explain_html import write_page
from poolcli.spec import PoolSpec

from .conftest import write_rgb

CHROMIUM = os.environ.get("POOLCLI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
WINDOW_RGB = (255, 127, 14)  # --win in the page's CSS
WINNER_RGB = (214, 39, 40)  # --won


def _why_not() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[browser]')"
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """Open a file in a fresh page; every request it makes is recorded, and none but the file is let through."""
    contexts = []

    def load(path: Path):
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        contexts.append(context)
        requests: list[str] = []
        errors: list[str] = []
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                      else route.abort())  # fmt: skip
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'")
        page.requests, page.errors = requests, errors  # type: ignore[attr-defined]
        return page

    yield load
    for context in contexts:
        context.close()


def only_itself(page, path: Path) -> None:
    """The page asked for nothing but its own file (data: URIs never reach the network)."""
    asked = [u for u in page.requests if not u.startswith("data:")]
    assert asked == [path.resolve().as_uri()], asked
    assert page.errors == []


def lit(page) -> list[tuple[int, int]]:
    return [tuple(x) for x in page.eval_on_selector_all(
        "#input .cell.win", "els => els.map(e => [+e.dataset.r, +e.dataset.c])")]  # fmt: skip


def pixel(shot: np.ndarray, x: float, y: float) -> tuple[int, int, int]:
    b, g, r = shot[round(y), round(x)][:3]
    return (int(r), int(g), int(b))


def near(got: tuple[int, int, int], want: tuple[int, int, int], tolerance: int = 12) -> bool:
    return max(abs(a - b) for a, b in zip(got, want)) <= tolerance


def test_explain_page_steps_through_every_output_cell(open_page, tmp_path):
    spec = PoolSpec.make("max", kernel=3, stride=2, padding=1)
    e = explain(None, spec)
    path = write_page(tmp_path / "steps.html", e)
    page = open_page(path)
    assert page.evaluate("window.poolcliExplain.steps") == len(e.steps) == 16
    assert page.locator("#output .cell").count() == 16 == e.output.shape[0] * e.output.shape[1]
    assert page.locator("#slider").get_attribute("max") == "15"
    assert page.locator("#counter").inner_text() == "step 1 of 16"
    assert lit(page) == e.steps[0].taps
    assert page.locator("#reduction").inner_text() == e.steps[0].text[0]
    assert page.locator("#formula").is_visible() and "floor(7/2) + 1 = 4" in page.locator("#formula").inner_text()
    assert page.locator("#output .cell.todo").count() == 15

    page.click("#next")
    assert lit(page) == e.steps[1].taps != e.steps[0].taps
    assert page.locator("#reduction").inner_text() == e.steps[1].text[0] != e.steps[0].text[0]
    assert not page.locator("#formula").is_visible()

    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.locator("#counter").inner_text() == "step 4 of 16"
    assert lit(page) == e.steps[3].taps
    page.keyboard.press("ArrowLeft")
    assert lit(page) == e.steps[2].taps

    page.locator("#slider").fill("15")
    assert lit(page) == e.steps[15].taps and page.locator("#output .cell.todo").count() == 0
    assert page.locator("#reduction").inner_text() == e.steps[15].text[0]

    page.click("#prev")
    page.click("#play")  # from step 15 of 16: plays the last step, then stops by itself
    page.wait_for_function("document.body.dataset.step === '15'", timeout=5000)
    page.wait_for_function("document.getElementById('play').textContent.indexOf('play') >= 0", timeout=5000)
    only_itself(page, path)


def test_explain_screenshot_shows_the_window_and_the_winner(open_page, tmp_path):
    e = explain(None, PoolSpec.make("max", kernel=2))
    path = write_page(tmp_path / "steps.html", e)
    page = open_page(path)
    page.click("#next")  # step 2: window over rows 0..1, columns 2..3; 80 wins at (0, 3)
    assert e.steps[1].taps == [(0, 2), (0, 3), (1, 2), (1, 3)] and e.steps[1].winners == [(0, 3)]
    shot_path = tmp_path / "shot.png"
    page.screenshot(path=str(shot_path), full_page=True)
    shot = cv2.imread(str(shot_path))

    def box(r: int, c: int):
        return page.locator(f'#input .cell[data-r="{r}"][data-c="{c}"]').bounding_box()

    for r, c in e.steps[1].taps:  # the window's cells are ringed in orange, inside their edge
        b = box(r, c)
        assert near(pixel(shot, b["x"] + 2, b["y"] + b["height"] / 2), WINDOW_RGB), (r, c)
    for r, c in [(0, 0), (1, 1), (2, 2)]:  # others are not
        b = box(r, c)
        assert not near(pixel(shot, b["x"] + 2, b["y"] + b["height"] / 2), WINDOW_RGB, 60), (r, c)
    b = box(0, 3)  # the winner's red ring, 8 px in from the cell's edge
    assert near(pixel(shot, b["x"] + b["width"] / 2, b["y"] + 9.5), WINNER_RGB, 40)
    b = box(0, 2)
    assert not near(pixel(shot, b["x"] + b["width"] / 2, b["y"] + 9.5), WINNER_RGB, 60)
    out = page.locator('#output .cell[data-i="0"][data-j="1"]').bounding_box()
    assert near(pixel(shot, out["x"] + 2, out["y"] + out["height"] / 2), WINDOW_RGB)
    only_itself(page, path)


def test_explain_page_of_a_colour_region(open_page, tmp_path, rng):
    image = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    e = explain(image, PoolSpec.make("min", kernel=2, dilation=2, ceil_mode=True), region=(2, 3, 7, 7), source="p.png")
    path = write_page(tmp_path / "colour.html", e)
    page = open_page(path)
    assert page.evaluate("window.poolcliExplain.steps") == len(e.steps) == page.locator("#output .cell").count()
    assert page.locator("#reduction").inner_text().splitlines() == e.steps[0].text
    assert page.locator("#input .cell.image").first.locator("span").count() == 3
    assert page.evaluate("document.getElementById('overview').naturalWidth") > 0
    only_itself(page, path)


def test_run_page_sorts_and_shows_why_an_input_failed(open_page, invoke, tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    for name, shape in (("b.png", (30, 40, 3)), ("a.png", (64, 64)), ("c.png", (10, 12, 3))):
        write_rgb(src / name, rng.integers(0, 256, shape, dtype=np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    html = tmp_path / "run.html"
    result = invoke("max", src, "-o", tmp_path / "out", "--compare", "--html", html, "-j", "1")
    assert result.exit_code == 1
    page = open_page(html)
    assert page.evaluate("window.poolcliRun.rows") == 4
    failed = page.locator("tr.failed")
    assert failed.count() == 1
    reason = failed.locator(".reason")
    assert reason.is_visible() and "broken.png: " in reason.inner_text()
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("tr.written img").count() == 9  # original, result and figure for three images

    def names():
        return page.eval_on_selector_all("#runs tbody tr", "rs => rs.map(r => r.dataset.name.split('/').pop())")

    page.click(".sortby button[data-key=name]")
    assert names() == ["a.png", "b.png", "broken.png", "c.png"]
    page.click(".sortby button[data-key=name]")
    assert names() == ["c.png", "broken.png", "b.png", "a.png"]
    page.click(".sortby button[data-key=status]")
    assert names()[0] == "broken.png"
    page.click(".sortby button[data-key=ms]")
    times = page.eval_on_selector_all("#runs tbody tr", "rs => rs.map(r => +r.dataset.ms)")
    assert times == sorted(times)
    assert "3 written" in page.locator("#summary").inner_text()
    only_itself(page, html)

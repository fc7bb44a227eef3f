"""Make the README's opening picture: the first step of ``poolcli explain -k 3 -s 2 -p 1 --op max``.

Usage::

    python docs/explain_screenshot.py [OUTPUT.png]

Writes the explain page to a temporary file and photographs it in headless
Chromium (Debian's ``chromium`` package, driven by Playwright, as the tests
do). The first step is the one that teaches the most: the window starts in
the padding (drawn as −∞), the winner is ringed, the reduction is written out
with the real numbers, and the output-size formula has the numbers plugged in.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from poolcli.explain import explain  # noqa: E402
from poolcli.explain_html import write_page  # noqa: E402
from poolcli.spec import PoolSpec  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "explain-max-k3-s2-p1.png"
    spec = PoolSpec.make("max", kernel=3, stride=2, padding=1)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page_path = write_page(Path(tmp) / "explain.html", explain(None, spec))
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1000}, device_scale_factor=1.25)
        page.goto(page_path.resolve().as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'")
        height = page.evaluate("document.querySelector('.legend').getBoundingClientRect().bottom + 12")
        page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1000, "height": height})
        browser.close()
    print(out)


if __name__ == "__main__":
    main()

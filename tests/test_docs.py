"""README and CI stay true to each other."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .files import read_figure

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    after = text.split("<!-- test-command", 1)[1]
    return re.search(r"```bash\n(.*?)\n```", after, re.S).group(1)


def test_readme_starts_with_a_quickstart_of_two_commands():
    text = (ROOT / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", quickstart, re.S)
    assert len(blocks) == 2
    assert blocks[0].startswith("pip install") and "poolcli" in blocks[0] and "sample_images/" in blocks[0]
    assert blocks[1] == readme_test_command()
    assert "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command():
    script = ROOT / ".ci" / "run"
    extractor = re.search(r"test_command=\$\((.*)\)\n", script.read_text()).group(1)
    got = subprocess.run(["bash", "-c", extractor], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert got.strip() == readme_test_command()
    assert 'eval "$test_command"' in script.read_text()


def test_sample_images_are_documented():
    listed = (ROOT / "sample_images" / "README.md").read_text()
    for image in (ROOT / "sample_images").iterdir():
        if image.suffix in {".png", ".jpg"}:
            assert f"`{image.name}`" in listed, image.name


def test_readme_shows_committed_example_figures():
    root = Path(__file__).parent.parent
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", (root / "README.md").read_text())
    assert "docs/compare-coffee.png" in linked
    for name in linked:
        figure = root / name
        assert figure.stat().st_size < 410_000, name
        assert read_figure(figure).shape[1] > 1000, name


def test_the_quickstart_says_how_to_install_a_cpu_only_torch():
    """Issue 9 item 35: the command, not just the advice."""
    quickstart = (ROOT / "README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "`pip install torch --index-url https://download.pytorch.org/whl/cpu`" in quickstart

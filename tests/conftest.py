"""Shared fixtures: real image files written with OpenCV, and ways to run the CLI."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from poolcli.cli import cli

HAS_CUDA = False
try:
    import torch

    HAS_CUDA = torch.cuda.is_available()
except ImportError:  # pragma: no cover - torch is a dependency
    pass

cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, cuda])]


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB(A) array with OpenCV (which wants BGR(A))."""
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = rgb
    assert cv2.imwrite(str(path), bgr), path
    return path


def encode(ext: str, rgb: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    """An RGB(A) array encoded by OpenCV in memory (``ext`` like ``".png"``)."""
    bgr = rgb[..., [2, 1, 0, 3][: rgb.shape[2]]] if rgb.ndim == 3 else rgb
    ok, buf = cv2.imencode(ext, bgr, list(params))
    assert ok
    return buf.tobytes()


def pil_bytes(image, fmt: str, **kw) -> bytes:
    """A Pillow image saved in memory (for formats and flavours OpenCV does not write)."""

    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def rgb_png(tmp_path: Path, rng: np.random.Generator) -> Path:
    return write_rgb(tmp_path / "photo.png", rng.integers(0, 256, (37, 41, 3), dtype=np.uint8))


@pytest.fixture
def gray_png(tmp_path: Path, rng: np.random.Generator) -> Path:
    return write_rgb(tmp_path / "gray.png", rng.integers(0, 256, (30, 22), dtype=np.uint8))


@pytest.fixture
def gray16_png(tmp_path: Path, rng: np.random.Generator) -> Path:
    return write_rgb(tmp_path / "deep.png", rng.integers(0, 65536, (26, 33), dtype=np.uint16))


@pytest.fixture
def rgba_png(tmp_path: Path, rng: np.random.Generator) -> Path:
    return write_rgb(tmp_path / "alpha.png", rng.integers(0, 256, (16, 20, 4), dtype=np.uint8))


@pytest.fixture
def invoke():
    """Run the CLI in-process with click's CliRunner; stderr kept apart."""

    def run(*args: str):
        try:
            runner = CliRunner(mix_stderr=False)  # click < 8.2
        except TypeError:
            runner = CliRunner()
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return run


def poolcli_executable() -> str:
    """The installed ``poolcli`` console script next to this Python."""
    candidate = Path(sys.executable).with_name("poolcli")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("poolcli")
    if not found:
        pytest.fail("the poolcli entry point is not installed (pip install -e .)")
    return found


@pytest.fixture
def run_poolcli():
    """Run the installed ``poolcli`` command in a real subprocess."""

    def run(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        return subprocess.run(
            [poolcli_executable(), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120, **kw
        )

    return run


@pytest.fixture
def tree(tmp_path: Path, rng: np.random.Generator) -> Path:
    """Good images of several formats and sizes, bad files, a nested tree, a collision and a link loop."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    write_rgb(root / "a.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    write_rgb(root / "b.jpg", rng.integers(0, 256, (30, 31, 3), dtype=np.uint8))
    write_rgb(root / "c.tif", rng.integers(0, 65536, (20, 24), dtype=np.uint16))
    write_rgb(root / "d.webp", rng.integers(0, 256, (24, 26, 3), dtype=np.uint8))
    write_rgb(root / "e.bmp", rng.integers(0, 256, (16, 18, 3), dtype=np.uint8))
    write_rgb(root / "dup.jpg", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    write_rgb(root / "dup.png", rng.integers(0, 256, (14, 10, 3), dtype=np.uint8))
    ok, png = cv2.imencode(".png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
    assert ok
    (root / "renamed.dat").write_bytes(png.tobytes())  # an image by content, not by name
    (root / "notes.txt").write_text("not an image, not named like one: ignored")
    (root / "fake.jpg").write_text("named like an image: reported")
    (root / "truncated.png").write_bytes(png.tobytes()[:40])
    write_rgb(root / "sub" / "c.png", rng.integers(0, 256, (22, 22, 4), dtype=np.uint8))
    write_rgb(root / "sub" / "deeper" / "f.png", rng.integers(0, 256, (9, 13), dtype=np.uint8))
    os.symlink("..", root / "sub" / "loop")  # a folder link back up: a loop when followed
    return root


@pytest.fixture(scope="session")
def bomb() -> bytes:
    """A real decompression bomb: about 48 KB that decodes to 20000 x 20000 (400 MB as uint8)."""
    from .files import bilevel_png

    return bilevel_png(20000, 20000)

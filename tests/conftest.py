"""Shared fixtures: real image files written with OpenCV, and ways to run the CLI."""

from __future__ import annotations

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
    import io

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

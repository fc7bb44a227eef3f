"""Shared fixtures: real image files written with OpenCV, and ways to run the CLI."""

from __future__ import annotations

import io
import logging
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


# --- real services on 127.0.0.1: an S3-compatible server and a Dask cluster -------------------------------


class S3:
    """A bucket on the local S3 server: ``url("raw/a.png")`` is ``s3://<bucket>/raw/a.png``."""

    def __init__(self, endpoint: str, bucket: str, fs) -> None:
        self.endpoint, self.bucket, self.fs = endpoint, bucket, fs

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def env(self) -> dict[str, str]:
        """What a subprocess needs to reach this server, in fsspec's and botocore's own variables."""
        return {**os.environ, **s3_environment(self.endpoint)}

    def keys(self, prefix: str = "") -> set[str]:
        self.fs.invalidate_cache()
        root = f"{self.bucket}/{prefix}".rstrip("/")
        return {p[len(self.bucket) + 1 :] for p in self.fs.find(root)}


def s3_environment(endpoint: str) -> dict[str, str]:
    """Credentials for the test server only; nothing is looked up anywhere else (no instance metadata)."""
    return {
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1",
    }


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1 (a free port), for a test module; stopped at its end."""
    pytest.importorskip("s3fs", reason="object storage tests need poolcli[s3] (s3fs)")
    server_module = pytest.importorskip("moto.server", reason="object storage tests need moto[server] (poolcli[test])")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> S3:
    """A new bucket; this process's fsspec reaches the server through FSSPEC_S3_ENDPOINT_URL and AWS_* variables."""
    import uuid

    import fsspec.config
    import s3fs

    for name, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    # fsspec reads FSSPEC_* variables when it is imported; this process imported it already
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing")
    bucket = f"poolcli-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    return S3(s3_endpoint, bucket, fs)


#: A LocalCluster on 127.0.0.1 only (TCP), without a dashboard (its health server on any free port).
LOOPBACK_CLUSTER = {
    "protocol": "tcp", "host": "127.0.0.1", "dashboard_address": None,
    "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
}  # fmt: skip


@pytest.fixture(scope="module")
def dask_scheduler():
    """A Dask cluster on 127.0.0.1 (TCP) with two in-process workers, for a test module: its address.

    Closed with the module, so that its threads are gone before other tests run
    (Hypothesis objects to threads drawing from ``random`` during its tests).
    """
    distributed = pytest.importorskip("distributed", reason="dask engine tests need poolcli[dask]")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, **LOOPBACK_CLUSTER)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()

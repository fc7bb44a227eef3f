"""The installed ``poolcli`` command and ``python -m poolcli`` in real subprocesses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import poolcli


def test_installed_command_pools_a_real_file(run_poolcli, rgb_png):
    proc = run_poolcli("max", rgb_png, "-k", "3", "-s", "2", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    out = rgb_png.with_name("photo.max-k3-s2.png")
    assert f"-> {out}" in proc.stdout
    np.testing.assert_array_equal(poolcli.read_image(out), poolcli.pool(poolcli.read_image(rgb_png), "max", 3, 2))


def test_installed_command_error_is_one_line(run_poolcli, tmp_path):
    proc = run_poolcli("avg", tmp_path / "nope.png")
    assert proc.returncode == 1
    assert proc.stderr == f"poolcli: error: {tmp_path / 'nope.png'}: not found\n"
    proc = run_poolcli("avg", tmp_path / "nope.png", "-k", "x")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("poolcli: error: ")


def test_python_dash_m(rgb_png):
    proc = subprocess.run(
        [sys.executable, "-m", "poolcli", "global", str(rgb_png), "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert '"channels": ["R", "G", "B"]' in proc.stdout


def test_help_and_version_import_nothing_heavy():
    code = (
        "import sys\n"
        "from poolcli.cli import cli\n"
        "for args in (['--help'], ['--version'], ['max', '--help'], ['compare', '--help']):\n"
        "    assert cli.main(args, standalone_mode=False) == 0, args\n"
        "heavy = sorted(m for m in ('torch', 'cv2', 'matplotlib', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_import_poolcli_is_light():
    code = "import sys, poolcli; print(sorted(m for m in ('torch', 'cv2', 'matplotlib') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]"

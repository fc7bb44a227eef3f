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
        "heavy = sorted(m for m in ('torch', 'cv2', 'matplotlib', 'numpy', 'fsspec', 'dask', 'distributed') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_import_poolcli_is_light():
    code = "import sys, poolcli; print(sorted(m for m in ('torch', 'cv2', 'matplotlib') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]"


def test_dry_run_info_and_usage_errors_import_no_torch(rgb_png):
    """Nothing is pooled, so torch (seconds to import) is never loaded (issue 14)."""
    code = (
        "import sys\n"
        "from poolcli.cli import cli\n"
        f"for args in (['max', {str(rgb_png)!r}, '--dry-run'], ['info', {str(rgb_png)!r}], ['max', {str(rgb_png)!r}, '-k', '0'],\n"
        f"             ['compare', {str(rgb_png)!r}, '--dry-run'], ['avg', {str(rgb_png)!r}, '-d', '2'], ['nosuch']):\n"
        "    cli.main(args, standalone_mode=False)\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "TORCH False", proc.stderr


def test_ctrl_c_while_starting_is_quiet(tmp_path, rgb_png):
    """Issue 9 item 10: an interrupt in the first moments is exit 130, never a traceback."""
    import signal
    import time

    from .conftest import poolcli_executable

    # Python itself starting (the interpreter, its site module and the console script's own `import re`)
    # is not poolcli's to guard: start after that, the slowest of three tries
    python_start = 0.0
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import re"], check=True)
        python_start = max(python_start, time.perf_counter() - started)
    for delay in (1.5 * python_start, 2 * python_start, 0.3, 0.6, 1.0):
        proc = subprocess.Popen([poolcli_executable(), "max", str(rgb_png), "-o", str(tmp_path / "o.png"), "--overwrite"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # it finished first
            continue
        assert proc.returncode in (130, -signal.SIGINT), (delay, proc.returncode, err)
        assert "Traceback" not in err, (delay, err)


def test_only_poolcli_s_own_process_freezes_its_imports(tmp_path, rgb_png, invoke):
    """The console script exempts torch's objects from garbage collection (0.5 s of a small run, issue 14);
    a library caller or a test runner keeps its collector as it was."""
    import gc

    code = (
        "import gc, sys\n"
        "from poolcli.cli import main\n"
        f"sys.argv = ['poolcli', 'max', {str(rgb_png)!r}, '-o', {str(tmp_path / 'a.png')!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    print('EXIT', exc.code, 'FROZEN', gc.get_freeze_count() > 100000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "EXIT 0 FROZEN True", proc.stderr
    assert (tmp_path / "a.png").is_file()
    before = gc.get_freeze_count()
    result = invoke("max", rgb_png, "-o", tmp_path / "b.png")
    assert result.exit_code == 0, result.stderr
    assert gc.get_freeze_count() == before

"""The README runs top to bottom as written: every shell example and the Python example, in a fresh copy.

Every ``$ command`` line of the README's ``console`` blocks is run in order, in a
temporary copy of the repository, by the installed ``poolcli`` and a real shell. Its
exit status must be the one the README shows (``[exit N]``, else 0) and its output the
lines the README shows, in any order (lines of a parallel run come as files finish);
timings in summary lines and reports are the only thing compared loosely. Commands
that measure this machine (``/usr/bin/time``) are not run. Afterwards the repository
copy has nothing new outside the ignored folders, so the README leaves a checkout clean.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HAS_CUDA, poolcli_executable

ROOT = Path(__file__).resolve().parent.parent


def console_examples(text: str) -> list[tuple[str, list[str], int]]:
    """``(command, expected output lines, expected exit status)`` for every ``$`` line, in order."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        current: list = []
        for line in block.splitlines():
            if line.startswith("$ "):
                current = [line[2:], [], 0]
                examples.append(current)
            elif current:
                exit_line = re.fullmatch(r"\[exit (\d+)\]", line)
                if exit_line:
                    current[2] = int(exit_line.group(1))
                elif line:
                    current[1].append(line)
    return [(command, lines, code) for command, lines, code in examples]


def normalised(line: str) -> str:
    """A line with what differs from run to run (time taken, rate, milliseconds) blanked."""
    line = re.sub(r"in \d+\.\d s, \d+(\.\d+)? img/s$", "in T s, R img/s", line)
    return re.sub(r'"ms": \d+(\.\d+)?', '"ms": MS', line)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the repository's tracked files, as a fresh clone would have them."""
    copy = tmp_path_factory.mktemp("readme") / "poolcli"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=copy, check=True)
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "clone"], cwd=copy, check=True)
    return copy


def test_every_shell_example_runs_as_the_readme_shows(checkout):
    examples = console_examples((ROOT / "README.md").read_text())
    assert len(examples) > 30
    bin_dir = str(Path(poolcli_executable()).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONWARNINGS": "ignore"}
    env.pop("OPENCV_IO_MAX_IMAGE_PIXELS", None)
    ran = 0
    for command, lines, code in examples:
        if command.startswith("/usr/bin/time") or ("--device cuda" in command and HAS_CUDA):
            continue  # a measurement of this machine; or an answer only a machine without CUDA gives
        shell = command.split("  #")[0].replace("python ", f"{sys.executable} ", 1)
        proc = subprocess.run(["bash", "-c", shell], cwd=checkout, capture_output=True, text=True, env=env, timeout=300)
        got = sorted(normalised(line) for line in (proc.stdout + proc.stderr).splitlines() if line)
        assert (proc.returncode, got) == (code, sorted(normalised(line) for line in lines)), command
        ran += 1
    assert ran == len(examples) - sum(c.startswith("/usr/bin/time") for c, _, _ in examples) - (1 if HAS_CUDA else 0)
    # everything the examples wrote is in folders git ignores (out/, examples/): the checkout stays clean
    status = subprocess.run(["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True, check=True)
    assert status.stdout == ""
    assert (checkout / "out").is_dir() and (checkout / "examples" / "photos").is_dir()


def test_the_python_example_runs(checkout):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    (checkout / "out").mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (checkout / "out" / "coffee-small.png").exists()

"""Output names, the checks an output path must pass, and temporary files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolcli.errors import OutputPathError
from poolcli.paths import (
    TEMP_SUFFIX,
    check_not_input,
    default_extension,
    figure_path,
    name_too_long,
    output_name,
    remove_stale_temporaries,
    temp_prefix,
)


def test_output_names():
    assert output_name(Path("a/photo.jpg"), "max-k2-s2") == "photo.max-k2-s2.jpg"
    assert output_name(Path("photo.jpg"), "max-k2-s2", "PNG") == "photo.max-k2-s2.png"
    assert output_name(Path("sunset"), "min-k3-s3") == "sunset.min-k3-s3.png"  # no extension: PNG
    assert default_extension(Path("x.gif"), None) == ".png"  # a format poolcli cannot write
    with pytest.raises(OutputPathError, match=r"unknown output format 'heic'"):
        default_extension(Path("x.png"), "heic")


def test_figure_paths(tmp_path):
    target = Path("out/photo.max-k2-s2.png")
    assert figure_path(target, None) == Path("out/photo.max-k2-s2.compare.png")
    assert figure_path(target, f"{tmp_path}/figs/") == tmp_path / "figs" / "photo.max-k2-s2.compare.png"
    assert figure_path(target, "one.png") == Path("one.png")


def test_an_output_is_never_its_input(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"x")
    os.link(source, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(source)
    for same in (source, tmp_path / "." / "a.png", tmp_path / "hard.png", tmp_path / "soft.png"):
        with pytest.raises(OutputPathError, match="output is the input file itself"):
            check_not_input(source, same)
    check_not_input(source, tmp_path / "b.png")


def test_names_too_long_for_the_file_system(tmp_path):
    assert name_too_long(tmp_path / ("a" * 255)) is None
    assert name_too_long(tmp_path / ("é" * 128)) == "file name too long (256 bytes, the limit is 255)"


def test_temporary_names_are_short_and_ours():
    prefix = temp_prefix()
    assert prefix.startswith(".pc") and len(prefix) + 8 + len(TEMP_SUFFIX) < 40


def test_stale_temporaries_are_removed_and_a_live_runs_are_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = temp_prefix().split("-")[0]  # ".pc<host>"
    stale = tmp_path / f"{host}-{dead.stdout.strip()}-abc123{TEMP_SUFFIX}"
    live = tmp_path / f"{temp_prefix()}xyz{TEMP_SUFFIX}"  # this process: running
    foreign_young = tmp_path / f".other.name{TEMP_SUFFIX}"
    foreign_old = tmp_path / f".older.name{TEMP_SUFFIX}"
    unrelated = tmp_path / "keep.png"
    for path in (stale, live, foreign_young, foreign_old, unrelated):
        path.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(foreign_old, (old, old))
    assert remove_stale_temporaries(tmp_path, before=time.time() + 1) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, foreign_young, unrelated))

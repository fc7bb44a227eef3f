"""Which files to read and where each result goes.

Pure path logic: no image is opened here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputPathError

#: Extensions treated as images when a folder is listed.
IMAGE_EXTENSIONS = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".tif",
        ".tiff",
        ".webp",
        ".bmp",
        ".dib",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".gif",
        ".jp2",
        ".exr",
        ".hdr",
        ".pic",
        ".sr",
        ".ras",
    ]
)

#: The suffix every temporary file poolcli writes ends with.
TEMP_SUFFIX = ".poolcli-tmp"

#: ``-`` as an input is standard input; as a job's target, standard output.
STDIO = Path("-")


@dataclass(frozen=True)
class Job:
    """One input file and the output it becomes."""

    source: Path
    target: Path
    figure: Path | None = None


def default_extension(source: Path, fmt: str | None) -> str:
    """The output extension: ``fmt`` if given, else the source's, else ``.png``."""
    from .image_io import FORMATS

    if fmt:
        ext = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
        if ext not in FORMATS:
            raise OutputPathError(f"unknown output format {fmt!r} (use one of {', '.join(sorted(FORMATS))})")
        return ext
    ext = source.suffix.lower()
    return ext if ext in FORMATS else ".png"


def output_name(source: Path, tag: str, fmt: str | None = None) -> str:
    """``<stem>.<tag><ext>``, e.g. ``photo.max-k2-s2.jpg``."""
    return f"{source.stem}.{tag}{default_extension(source, fmt)}"


def plan_single(source: Path, tag: str, output: str | None, fmt: str | None = None) -> Job:
    """Where one input's result goes.

    ``output`` is None (beside the input), a folder (an existing one, or a
    path ending in ``/``), or a file path.

    Raises
    ------
    OutputPathError
        The output would be the input itself, or a needed folder is a file.
    """
    if output is None:
        target = source.parent / output_name(source, tag, fmt)
    elif output.endswith(("/", os.sep)) or os.path.isdir(output):
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise OutputPathError("is a file, but a folder is needed here", path=output)
        target = folder / output_name(source, tag, fmt)
    else:
        target = Path(output)
        if fmt:
            target = target.with_suffix(default_extension(source, fmt))
        from .image_io import output_format

        output_format(target)
    check_not_input(source, target)
    check_folder_usable(target)
    return Job(source, target)


def check_not_input(source: Path, target: Path) -> None:
    """Refuse an output that is the input file (same path, link or inode)."""
    same = os.path.abspath(source) == os.path.abspath(target)
    # os.path.exists, not Path.exists: a name too long to exist is not an error here (the write reports it)
    if not same and os.path.exists(target) and os.path.exists(source):
        try:
            same = os.path.samefile(source, target)
        except OSError:
            same = False
    if not same:
        try:
            same = source.resolve() == target.resolve()
        except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a symlink loop
            same = False
    if same:
        raise OutputPathError("output is the input file itself; refusing to overwrite an input", path=target)


def check_folder_usable(target: Path) -> None:
    """Refuse a target whose parent path runs through a regular file."""
    for parent in [target.parent, *target.parent.parents]:
        if os.path.exists(parent):
            if not os.path.isdir(parent):
                raise OutputPathError("is a file, but a folder is needed here", path=parent)
            return


#: What a comparison figure's file name ends with, after the output's stem.
FIGURE_SUFFIX = ".compare.png"


def check_figure_path(path: str | Path) -> None:
    """Refuse a figure path that is not a ``.png`` (figures are always PNG)."""
    if Path(path).suffix.lower() != ".png":
        raise OutputPathError("figures are written as PNG; give a name ending in .png", path=path)


def plan_figure(job: Job, where: str) -> Job:
    """Add where ``job``'s comparison figure goes.

    ``where`` is ``""`` (beside the output, as ``<output stem>.compare.png``),
    a folder (existing, or ending in ``/``) or a ``.png`` file.

    Raises
    ------
    OutputPathError
        Not a PNG, the input itself, the image output itself, or a folder
        path that runs through a file.
    """
    name = job.target.stem + FIGURE_SUFFIX
    if not where:
        figure = job.target.parent / name
    elif where.endswith(("/", os.sep)) or os.path.isdir(where):
        figure = Path(where) / name
    else:
        figure = Path(where)
    check_figure_path(figure)
    check_not_input(job.source, figure)
    if os.path.abspath(figure) == os.path.abspath(job.target):
        raise OutputPathError("the figure and the pooled image would be the same file", path=figure)
    check_folder_usable(figure)
    return Job(job.source, job.target, figure)


def plan_comparison(source: Path, output: str | None) -> Job:
    """Where ``poolcli compare`` puts ``source``'s figure: ``<stem>.compare.png``
    beside it or in a folder, or the ``.png`` file ``output``."""
    if output is not None and not (output.endswith(("/", os.sep)) or os.path.isdir(output)):
        check_figure_path(output)
        return plan_single(source, "compare", output)
    return plan_single(source, "compare", output, "png")

"""The ``poolcli`` command line: click wiring over the library, nothing else.

Heavy modules (numpy, torch, OpenCV, matplotlib) are imported inside the
commands, so ``poolcli --help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ParameterError, PoolcliError, UsageProblem
from .params import COMPARE_OPS, DEFAULT_COMPARE_OPS, OPS, PoolSpec, parse_pair, parse_size
from .sniff import DEFAULT_MAX_PIXELS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code_for(error: BaseException) -> int:
    """The one place errors become exit statuses."""
    if isinstance(error, (UsageProblem, click.UsageError)):
        return EXIT_USAGE
    if isinstance(error, (KeyboardInterrupt, click.Abort)):
        return EXIT_INTERRUPTED
    if isinstance(error, click.ClickException):
        return error.exit_code
    return EXIT_FAILED


def report_error(message: str) -> None:
    click.echo(f"poolcli: error: {message}", err=True)


class PoolcliGroup(click.Group):
    """A group whose errors are one line, ``poolcli: error: ...``, with poolcli's exit codes."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        debug = "--debug" in (sys.argv[1:] if args is None else list(args))
        try:
            code = super().main(args, prog_name or "poolcli", complete_var, standalone_mode=False, **extra)
            code = EXIT_OK if code is None else code
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            report_error(exc.format_message() if not isinstance(exc, click.UsageError) else _usage_text(exc))
            code = exit_code_for(exc)
        except (click.Abort, KeyboardInterrupt) as exc:
            click.echo("poolcli: interrupted", err=True)
            code = exit_code_for(exc)
        except PoolcliError as exc:
            if debug:
                raise
            report_error(str(exc))
            code = exit_code_for(exc)
        except Exception as exc:  # a bug: still one line, the traceback with --debug
            if debug:
                raise
            report_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
            code = exit_code_for(exc)
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_text(exc: click.UsageError) -> str:
    text = exc.format_message()
    if exc.ctx is not None and "--help" not in text:
        text += f" (see '{exc.ctx.command_path} --help')"
    return text


# --- parameter types: validation at the boundary -----------------------------------------


class PairType(click.ParamType):
    """``N`` or ``HxW`` (rows x cols)."""

    name = "N|HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_pair(str(value), param.name if param and param.name else "value")
        except ParameterError as exc:
            self.fail(exc.reason + f" (got {value!r})", param, ctx)


class PaddingType(PairType):
    """``N``, ``HxW`` or ``same``."""

    name = "N|HxW|same"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == "same":
            return "same"
        return super().convert(value, param, ctx)


class SizeType(click.ParamType):
    """Adaptive output size: ``N``, ``HxW``, with ``-`` for a side kept as is."""

    name = "N|HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return parse_size(str(value))
        except ParameterError as exc:
            self.fail(exc.reason + f" (got {value!r})", param, ctx)


class PairListType(click.ParamType):
    """Comma-separated ``N`` or ``HxW`` values, e.g. ``2,4,8`` or ``2x3,4``."""

    name = "N,N,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return tuple(parse_pair(item, "kernel") for item in str(value).split(","))
        except ParameterError as exc:
            self.fail(exc.reason + f" (got {value!r})", param, ctx)


class NameListType(click.ParamType):
    """Comma-separated names, each one of ``choices``."""

    name = "NAME,..."

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        names = tuple(item.strip().lower() for item in str(value).split(",") if item.strip())
        unknown = [n for n in names if n not in self.choices]
        if unknown or not names:
            self.fail(f"use names from {', '.join(self.choices)} (got {value!r})", param, ctx)
        if len(set(names)) != len(names):
            self.fail(f"names an op twice (got {value!r})", param, ctx)
        return names


class ColorType(click.ParamType):
    """A colour: ``white``, ``black``, ``gray``, ``#RRGGBB`` or ``R,G,B``."""

    name = "COLOR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        from .image_io import parse_color

        try:
            return parse_color(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


PAIR, PADDING, SIZE, COLOR = PairType(), PaddingType(), SizeType(), ColorType()

# --- shared option groups ----------------------------------------------------------------------


def _apply_options(options: list[Callable[[Callable], Callable]]) -> Callable[[Callable], Callable]:
    def decorate(f: Callable) -> Callable:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def pooling_options(op: str) -> Callable[[Callable], Callable]:
    """The kernel/stride/padding/... knobs, defined once for every pooling command."""
    options = [
        click.option("-k", "--kernel", type=PAIR, default="2", metavar="N|HxW", show_default=True, help="Window size, N or HxW (rows x cols)."),
        click.option("-s", "--stride", type=PAIR, default=None, metavar="N|HxW", help="Step between windows, N or HxW.  [default: the kernel]"),
        click.option("-p", "--padding", type=PADDING, default="0", metavar="N|HxW|same", show_default=True,
                     help="Padding on each side, N or HxW (at most half the kernel), or 'same' for an output of ceil(in/stride)."),
        click.option("-d", "--dilation", type=PAIR, default="1", metavar="N|HxW", show_default=True,
                     help="Spacing between the cells of a window (max and min only)."),
        click.option("--ceil/--floor", "ceil_mode", default=False, show_default=True,
                     help="Round the output size up (PyTorch's ceil_mode) or down."),
    ]  # fmt: skip
    if op == "avg":
        options += [
            click.option("--count-include-pad/--no-count-include-pad", default=True, show_default=True,
                         help="Whether padded cells count in the divisor of an average."),
            click.option("--divisor", type=click.IntRange(min=1), default=None,
                         help="Divide every window's sum by this instead (PyTorch's divisor_override)."),
        ]  # fmt: skip
    return _apply_options(options)


def _opencv_pixel_limit(ctx: click.Context, param: click.Parameter, value: int) -> int:
    # OpenCV reads its own cap once, at import: set it before the first image is read
    from .image_io import set_opencv_pixel_limit

    set_opencv_pixel_limit(value)
    return value


def read_options(f: Callable) -> Callable:
    """How much damage and size an input may have."""
    return _apply_options([
        click.option("--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, show_default=True,
                     callback=_opencv_pixel_limit,
                     help="Refuse an image whose header declares more pixels, before decoding it (0 = no limit)."),
        click.option("--strict", is_flag=True,
                     help="Make every warning about an input an error (recovered corrupt data, extra frames, truncation)."),
        click.option("--allow-truncated", is_flag=True,
                     help="Decode a JPEG that ends early, with a warning; the missing part is grey."),
    ])(f)  # fmt: skip


def input_options(f: Callable) -> Callable:
    """How images are read, and on which device they are pooled."""
    return _apply_options([
        click.option("--color", type=click.Choice(["auto", "gray", "rgb", "unchanged"]), default="auto", show_default=True,
                     help="auto/unchanged keep what the file has (gray, colour, alpha, 16-bit, float); gray or rgb convert."),
        click.option("--gray", "gray", is_flag=True, help="Shorthand for --color gray."),
        click.option("--ignore-orientation", is_flag=True, help="Keep the stored pixel layout; do not apply the EXIF orientation."),
        read_options,
        click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|cuda:N",
                     help="Where to pool; auto uses CUDA when available. Asking for CUDA without it is an error."),
    ])(f)  # fmt: skip


def output_options(f: Callable) -> Callable:
    """Where results go and what happens to existing files."""
    return _apply_options([
        click.option("-o", "--output", default=None, metavar="FILE|DIR/|-",
                     help="Output file, folder (existing, or ending in '/'; it mirrors input folders' trees), or '-' for "
                          "standard output. [default: beside the input, as <stem>.<op>-k<K>-s<S>.<ext>]"),
        click.option("--format", "fmt", default=None, metavar="EXT",
                     help="Output format (png, jpg, tif, webp, ...). [default: the input's; PNG on standard output]"),
        click.option("--overwrite", is_flag=True, help="Replace existing outputs (otherwise they are skipped, and a single named output is an error)."),
        click.option("--depth", type=click.Choice(["8", "16"]), default=None, callback=lambda c, p, v: v and int(v),
                     help="Convert samples to 8 or 16 bits for the output (uint16 -> 8: round(x/257); float 0..1 -> round(x*255))."),
        click.option("--flatten", is_flag=True, help="Composite alpha over white (or --background) and drop it."),
        click.option("--background", type=COLOR, default=None,
                     help="Colour under transparent pixels: white, black, gray, #RRGGBB or R,G,B. Implies --flatten."),
        click.option("--dry-run", is_flag=True, help="Print what would be written and the output sizes; write nothing."),
        click.option("-q", "--quiet", is_flag=True, help="Print errors only."),
    ])(f)  # fmt: skip


def figure_options(with_compare: bool) -> Callable[[Callable], Callable]:
    """How comparison figures look; ``with_compare`` adds ``--compare``/``--no-output`` (pooling commands)."""
    options = []
    if with_compare:
        options += [
            click.option("--compare", is_flag=False, flag_value="", default=None, metavar="[FILE.png|DIR/]",
                         help="Also write a figure, original | result, as <output stem>.compare.png beside the output "
                              "(or to FILE.png, or into DIR/). Put it after the inputs, or write --compare=FILE.png."),
            click.option("--no-output", is_flag=True, help="With --compare: write only the figure, not the pooled image."),
        ]  # fmt: skip
    options += [
        click.option("--dpi", type=click.IntRange(50, 300), default=100, show_default=True,
                     help="Figure resolution; panels are sized in inches, so more dpi means more pixels."),
        click.option("--title", default=None, help="Figure heading.  [default: the input's file name]"),
        click.option("--cmap", default="gray", show_default=True,
                     help="Colormap for grayscale images (any matplotlib name: gray, viridis, magma, ...)."),
        click.option("--true-size", is_flag=True,
                     help="Draw results at their real size next to the original, instead of enlarged to its size."),
        click.option("--annotate", is_flag=True, help="Write each pixel's value in its cell (images up to 16x16)."),
    ]  # fmt: skip
    return _apply_options(options)


def _figure_style(kw: dict[str, Any]) -> Any:
    """Take the figure options out of ``kw`` as a FigureStyle (the colormap checked)."""
    from .figures import FigureStyle, check_cmap

    cmap = kw.pop("cmap")
    style = FigureStyle(kw.pop("dpi"), kw.pop("title"), cmap, kw.pop("true_size"), kw.pop("annotate"))
    if cmap != FigureStyle.cmap:
        check_cmap(cmap)
    return style


def _figure_request(kw: dict[str, Any]) -> Any:
    """The ``--compare`` request of a pooling command, or None; figure options need ``--compare``."""
    from .figures import FigureStyle
    from .pipeline import FigureRequest

    where, no_output = kw.pop("compare"), kw.pop("no_output")
    style = _figure_style(kw)
    if where is None:
        if no_output:
            raise click.UsageError("--no-output needs --compare (it would write nothing)")
        if style != FigureStyle():
            raise click.UsageError("--dpi, --title, --cmap, --true-size and --annotate need --compare")
        return None
    return FigureRequest(where, style, not no_output)


def batch_options(f: Callable) -> Callable:
    """Many inputs: finding them, running them in parallel, and the record of a run."""
    return _apply_options([
        click.option("-r", "--recursive", is_flag=True, help="Descend into subfolders of input folders."),
        click.option("--follow-links", is_flag=True,
                     help="Descend into symbolic links to folders (each folder once, so loops end)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Images processed at once (worker threads).  [default: the number of CPU cores]"),
        click.option("--batch-size", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Images of one size pooled as one (N, C, H, W) tensor.  [default: 4 on CUDA, 1 on the CPU]"),
        click.option("--on-collision", type=click.Choice(["rename", "refuse"]), default="rename", show_default=True,
                     help="When two inputs would write one output (a.jpg, a.png -> a.<op>.png): keep each "
                          "source's extension in the name (a.jpg.<op>.png), or stop before any work."),
        click.option("--report", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="Write one JSON line per input: input, output, status, error, shapes, milliseconds."),
    ])(f)  # fmt: skip


# --- the commands ---------------------------------------------------------------------------------


@click.group("poolcli", cls=PoolcliGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="poolcli")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """2-D image pooling (max, avg, min, adaptive, global) with PyTorch's exact semantics.

    Reads images with OpenCV, pools them on the CPU or a CUDA GPU, and writes
    images of the same sample format.

    \b
    Example:
      poolcli max photo.jpg -k 2 -s 2
    """


INPUTS_HELP = "Inputs are files, folders (-r descends) and glob patterns; '-' reads standard input."


def _pool_command(op: str, summary: str, example: str) -> click.Command:
    @click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
    @pooling_options(op)
    @input_options
    @output_options
    @figure_options(with_compare=True)
    @batch_options
    def command(inputs: tuple[str, ...], **kw: Any) -> int:
        spec = PoolSpec.make(
            op, kw.pop("kernel"), kw.pop("stride"), kw.pop("padding"), kw.pop("dilation"), kw.pop("ceil_mode"),
            kw.pop("count_include_pad", True), kw.pop("divisor", None),
        )  # fmt: skip
        from .pipeline import pooling_operation

        figure = _figure_request(kw)
        return _run(inputs, lambda device: pooling_operation(spec, device), figure=figure, **kw)

    command.__doc__ = f"{summary}\n\n{INPUTS_HELP}\n\n\b\nExample:\n  {example}"
    return cli.command(op, context_settings=CONTEXT)(command)


_pool_command(
    "max",
    "Max pooling: each output pixel is the brightest in its window.",
    "poolcli max photos/ -r -k 2 -o small/",
)
_pool_command(
    "avg",
    "Average pooling: each output pixel is its window's mean (integers rounded half to even).",
    "poolcli avg photo.png -k 3 -s 2 -p 1 --no-count-include-pad -o small.png",
)
_pool_command(
    "min",
    "Min pooling: each output pixel is the darkest in its window (PyTorch's -max_pool(-x)).",
    "poolcli min photo.png -k 2x3 --ceil --gray",
)


@cli.command("adaptive", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--size",
    type=SIZE,
    required=True,
    metavar="N|HxW",
    help="Output size N or HxW (rows x cols); '-' keeps a side, e.g. 64x-.",
)
@click.option("--reduce", type=click.Choice(["avg", "max", "min"]), default="avg", show_default=True)
@input_options
@output_options
@figure_options(with_compare=True)
@batch_options
def adaptive_cmd(inputs: tuple[str, ...], size: tuple[int | None, int | None], reduce: str, **kw: Any) -> int:
    """Adaptive pooling to any output size (PyTorch's adaptive_*_pool2d).

    Inputs are files, folders (-r descends) and glob patterns; '-' reads standard input.

    \b
    Example:
      poolcli adaptive photo.png --size 64x48 --reduce max
    """
    from .pipeline import adaptive_operation

    figure = _figure_request(kw)
    return _run(inputs, lambda device: adaptive_operation(size, reduce, device), figure=figure, **kw)


@cli.command("compare", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--ops", type=NameListType(COMPARE_OPS), default=",".join(DEFAULT_COMPARE_OPS), show_default=True,
              help=f"Operations to show, comma-separated, from {', '.join(COMPARE_OPS)}. Adaptive panels have the "
                   "size of the k/s ones.")  # fmt: skip
@click.option("--kernels", type=PairListType(), default=None, metavar="N,N,...",
              help="Several kernels, one column each (replaces -k): rows are ops, columns kernels. "
                   "The stride is each kernel unless -s is given.")  # fmt: skip
@click.option(
    "--diff", is_flag=True, help="Add |a − b| panels for neighbouring ops, with a colour bar in pixel values."
)
@pooling_options("avg")
@input_options
@output_options
@figure_options(with_compare=False)
@batch_options
def compare_cmd(inputs: tuple[str, ...], ops: tuple[str, ...], kernels: tuple | None, diff: bool, **kw: Any) -> int:
    """One figure per image: the original next to each pooling, on the same scale.

    Written as <stem>.compare.png beside the input unless -o names a .png
    or a folder. --count-include-pad and --divisor apply to avg only.

    \b
    Example:
      poolcli compare photo.jpg -k 2 -s 2
      poolcli compare photo.jpg --ops max,avg,min --kernels 2,4,8 -o grid.png
      poolcli compare sample_images/pattern8x8.png --annotate --diff
    """
    from . import batch
    from .errors import OutputPathError
    from .paths import check_figure_path
    from .pipeline import FileOptions, compare_file, comparison
    from .report import Reporter
    from .tensor import resolve_device

    style = _figure_style(kw)
    plan = comparison(
        ops, kernels or (kw.pop("kernel"),), kw.pop("stride"), kw.pop("padding"), kw.pop("dilation"),
        kw.pop("ceil_mode"), kw.pop("count_include_pad"), kw.pop("divisor"), diff, str(resolve_device(kw["device"])),
    )  # fmt: skip
    output, fmt = kw["output"], kw["fmt"]
    if fmt is not None and fmt.lower().lstrip(".") != "png":
        raise OutputPathError(f"figures are written as PNG; drop --format {fmt}")
    unused = [name for name in ("depth", "flatten", "background", "batch_size") if kw.get(name)]
    if unused:
        flags = ", ".join("--" + name.replace("_", "-") for name in unused)
        raise click.UsageError(f"{flags}: for pooled images and batches of tensors, not for figures")
    to_file = output is not None and not (output.endswith("/") or Path(output).is_dir())
    if to_file:
        check_figure_path(output)
    work = batch.plan(inputs, "compare", output=output, fmt=None if to_file else "png", recursive=kw["recursive"],
                      follow_links=kw["follow_links"], on_collision=kw["on_collision"])  # fmt: skip
    opts = FileOptions(
        "gray" if kw["gray"] else kw["color"], kw["ignore_orientation"], kw["overwrite"], kw["dry_run"],
        max_pixels=kw["max_pixels"], strict=kw["strict"], allow_truncated=kw["allow_truncated"],
    )  # fmt: skip
    label = f"{plan.panel_count} panels: original, {', '.join(ops)}{', differences' if diff else ''}"
    reporter = Reporter(
        sys.stdout, sys.stderr, quiet=kw["quiet"], single=work.single, label=label, report=kw["report"], debug=_debug()
    )
    summary = batch.run(
        work, None, opts, reporter, jobs=kw["jobs"], step=lambda job: compare_file(job, plan, style, opts)
    )
    return EXIT_FAILED if summary.failed else EXIT_OK


@cli.command("global", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--reduce", type=click.Choice(["avg", "max", "min"]), default="avg", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@input_options
def global_cmd(inputs: tuple[str, ...], reduce: str, as_json: bool, color: str, gray: bool,
               ignore_orientation: bool, device: str, **read: Any) -> int:  # fmt: skip
    """Global pooling: one value per channel, in R, G, B(, A) order (GAP for avg).

    \b
    Example:
      poolcli global photo.png --reduce avg --json
    """
    from .image_io import load_image
    from .pooling import global_pool
    from .tensor import resolve_device

    dev = resolve_device(device)
    failed = 0
    for source in _expand(inputs):
        if isinstance(source, str):
            report_error(source)
            failed += 1
            continue
        try:
            loaded = load_image(source, "gray" if gray else color, ignore_orientation=ignore_orientation, **read)  # type: ignore[arg-type]
            _report_warnings(source, loaded.warnings)
            image = loaded.image
            values = global_pool(image, reduce, device=dev)
        except PoolcliError as exc:
            if exc.path is None:
                exc.path = str(source)
            report_error(str(exc))
            failed += 1
            continue
        names = _channel_names(image)
        numbers = [float(v) if reduce == "avg" else int(v) if image.dtype.kind in "iu" else float(v) for v in values]
        if as_json:
            click.echo(json.dumps({"input": str(source), "reduce": reduce, "dtype": image.dtype.name,
                                   "channels": names, "values": numbers}))  # fmt: skip
        else:
            shown = "  ".join(f"{n}={v:.4f}" if isinstance(v, float) else f"{n}={v}" for n, v in zip(names, numbers))
            click.echo(f"{source}: global {reduce}: {shown}")
    return EXIT_FAILED if failed else EXIT_OK


@cli.command("info", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@pooling_options("max")
@click.option("--color", type=click.Choice(["auto", "gray", "rgb", "unchanged"]), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@read_options
def info_cmd(inputs: tuple[str, ...], kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
             color: str, as_json: bool, **read: Any) -> int:  # fmt: skip
    """Describe images and the output size each operation would give; nothing is pooled.

    Sizes come from the formula floor((in + 2p - d(k-1) - 1) / s) + 1 per axis.

    \b
    Example:
      poolcli info photo.png -k 3 -s 2 -p 1
    """
    from .errors import ImageShapeError
    from .image_io import load_image

    specs = {}
    for op in OPS:
        try:
            specs[op] = PoolSpec.make(op, kernel, stride, padding, dilation if op != "avg" else 1, ceil_mode)
        except ParameterError as exc:
            specs[op] = exc
    failed = 0
    for source in _expand(inputs):
        if isinstance(source, str):
            report_error(source)
            failed += 1
            continue
        try:
            loaded = load_image(source, color, **read)  # type: ignore[arg-type]
            _report_warnings(source, loaded.warnings)
            image = loaded.image
        except PoolcliError as exc:
            report_error(str(exc))
            failed += 1
            continue
        h, w = image.shape[:2]
        sizes: dict[str, Any] = {}
        for op, spec in specs.items():
            if isinstance(spec, PoolcliError):
                sizes[op] = {"error": str(spec)}
                continue
            try:
                sizes[op] = {"knobs": spec.describe(), "size": list(spec.output_size(h, w))}
            except ImageShapeError as exc:
                sizes[op] = {"knobs": spec.describe(), "error": exc.message}
        record = {"input": str(source), "height": h, "width": w, "channels": 1 if image.ndim == 2 else image.shape[2],
                  "channel_names": _channel_names(image), "dtype": image.dtype.name,
                  "range": [_num(image.min()), _num(image.max())], "ops": sizes}  # fmt: skip
        if as_json:
            click.echo(json.dumps(record))
            continue
        click.echo(f"{source}")
        click.echo(
            f"  size      {h}x{w} (rows x cols), {record['channels']} channel(s) {''.join(record['channel_names'])}"
        )
        click.echo(f"  dtype     {image.dtype.name}, values {record['range'][0]}..{record['range'][1]}")
        for op, entry in sizes.items():
            knobs = entry.get("knobs", op)
            if "size" in entry:
                click.echo(f"  {op:<4}      {knobs:<28} -> {entry['size'][0]}x{entry['size'][1]}")
            else:
                click.echo(f"  {op:<4}      {knobs:<28} -> n/a: {entry['error']}")
    return EXIT_FAILED if failed else EXIT_OK


# --- shared running and reporting -------------------------------------------------------------------


def _run(inputs: tuple[str, ...], make_op: Callable[[str], Any], *, output: str | None, fmt: str | None,
         overwrite: bool, dry_run: bool, quiet: bool, color: str, gray: bool, ignore_orientation: bool,
         device: str, recursive: bool, follow_links: bool, jobs: int | None, batch_size: int | None,
         on_collision: str, report: str | None, figure: Any = None, **file_options: Any) -> int:  # fmt: skip
    """Plan every job (usage errors before any work), then run them."""
    from . import batch
    from .pipeline import FileOptions
    from .report import Reporter
    from .tensor import resolve_device

    dev = str(resolve_device(device))
    op = make_op(dev)
    work = batch.plan(inputs, op.tag, output=output, fmt=fmt, recursive=recursive, follow_links=follow_links,
                      on_collision=on_collision, figure=None if figure is None else figure.where)  # type: ignore[arg-type]  # fmt: skip
    opts = FileOptions("gray" if gray else color, ignore_orientation, overwrite, dry_run, figure,  # type: ignore[arg-type]
                       stdin=sys.stdin.buffer, stdout=sys.stdout.buffer,
                       stdout_format=work.stdout_format, **file_options)  # fmt: skip
    reporter = Reporter(sys.stderr if work.to_stdout else sys.stdout, sys.stderr, quiet=quiet,
                        single=work.single, label=op.label, report=report,
                        output_lines=figure is None or figure.write_output, debug=_debug())  # fmt: skip
    size = batch_size or (4 if dev.startswith("cuda") else 1)
    summary = batch.run(work, op, opts, reporter, jobs=jobs, batch_size=size)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _expand(inputs: tuple[str, ...]) -> list[Path | str]:
    """The files to read, or for an input that failed before reading, its error message."""
    from .batch import discover

    return [s.path if s.error is None else f"{s.path}: {s.error}" for s in discover(inputs)]


def _debug() -> bool:
    """Whether ``poolcli --debug`` was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def _report_warnings(source: Path | None, warnings: Any) -> None:
    for warning in warnings:
        click.echo(f"poolcli: warning: {warning if source is None else f'{source}: {warning}'}", err=True)


def _channel_names(image: Any) -> list[str]:
    channels = 1 if image.ndim == 2 else image.shape[2]
    return {1: ["Y"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}.get(channels, [f"c{i}" for i in range(channels)])


def _num(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="poolcli")

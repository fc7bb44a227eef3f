"""The ``poolcli`` command line: click wiring over the library, nothing else.

Each option group turns its options into one library value (a
:class:`~poolcli.spec.PoolSpec`, read or write options, ...); each command
body hands those to :func:`poolcli.batch.execute` and turns the summary
into an exit status. The pooling commands are made from the op registry
(:mod:`poolcli.ops`). Errors become one line and an exit status here, in one
place (:func:`exit_code_for`, :data:`HINTS`). Heavy modules (NumPy, torch,
OpenCV, matplotlib) are imported only by the commands that use them, so
``poolcli --help`` answers at once.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

import click

from . import __version__, ops
from .engines import ENGINES
from .errors import ParameterError, PoolcliError, UsageProblem
from .sniff import DEFAULT_MAX_PIXELS
from .spec import KNOB_LIMIT, PoolSpec, parse_pair, parse_ratio, parse_size

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

#: What the command line adds to an error of each kind: the flag that helps.
HINTS: dict[str, str] = {
    "OutputExistsError": " (use --overwrite to replace it)",
    "NotAReportError": " (use --overwrite to replace it)",
    "ImageTooLargeError": " (raise it with --max-pixels; 0 = no limit)",
    "WindowTooLargeError": " (use --padding or --ceil)",
    "TruncatedImageError": " (--allow-truncated decodes the part that is there)",
    "StrictError": " (an error with --strict)",
    "CudaUnavailableError": "; use --device cpu",
    "CollisionError": " (or use --on-collision rename)",
    "NoImagesAtTopError": " (-r looks in subfolders)",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so a run stops the same way (exit status 143)."""


def hint(kind: str | None, text: str) -> str:
    """``text`` (an error of class ``kind``) with the flag that helps."""
    return text + HINTS.get(kind or "", "")


def describe(error: BaseException) -> str:
    """An error as its one line."""
    return hint(type(error).__name__, str(error))


def exit_code_for(error: BaseException) -> int:
    """The one place errors become exit statuses."""
    if isinstance(error, (UsageProblem, click.UsageError)):
        return EXIT_USAGE
    if isinstance(error, Terminated):
        return EXIT_TERMINATED
    if isinstance(error, (KeyboardInterrupt, click.Abort)):
        return EXIT_INTERRUPTED
    if isinstance(error, click.ClickException):
        return error.exit_code
    return EXIT_FAILED


def report_error(message: str) -> None:
    _echo_err(f"poolcli: error: {message}")


def _echo_err(text: str) -> None:
    from .report import _write

    _write(sys.stderr, text + "\n")


class PoolcliGroup(click.Group):
    """A group whose errors are one line, ``poolcli: error: ...``, with poolcli's exit codes.

    The ops' commands are built when first asked for (``lazy``): a run builds
    its own command's options, not the ~600 of every op (25 ms of start-up).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, Callable[[], None]] = {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        build = self.lazy.pop(cmd_name, None)
        if build is not None:
            build()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def all_commands(self) -> dict[str, click.Command]:
        """Every command, built (for tests and documentation)."""
        for name in list(self.lazy):
            self.lazy.pop(name)()
        return dict(self.commands)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        argv = sys.argv[1:] if args is None else list(args)
        self.argv = argv  # as typed, for a run's page
        debug = "--debug" in argv
        try:
            if not argv:  # poolcli alone: the help, as an answer, not an error
                with click.Context(self, info_name=prog_name or "poolcli", **CONTEXT) as ctx:  # type: ignore[arg-type]
                    click.echo(self.get_help(ctx))
                code = EXIT_OK
            else:
                code = super().main(argv, prog_name or "poolcli", complete_var, standalone_mode=False, **extra)
                code = EXIT_OK if code is None else code
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            report_error(exc.format_message() if not isinstance(exc, click.UsageError) else _usage_text(exc))
            code = exit_code_for(exc)
        except (click.Abort, KeyboardInterrupt) as exc:
            cause = exc.__cause__ if isinstance(exc, click.Abort) and exc.__cause__ is not None else exc
            _echo_err("poolcli: terminated" if isinstance(cause, Terminated) else "poolcli: interrupted")
            code = exit_code_for(cause)
        except PoolcliError as exc:
            if debug:
                _echo_err(traceback.format_exc().rstrip())
            report_error(describe(exc))
            code = exit_code_for(exc)
        except Exception as exc:  # a bug: still one line, the traceback with --debug
            if debug:
                _echo_err(traceback.format_exc().rstrip())
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
    """``N`` or ``HxW`` (rows x cols), each at most :data:`~poolcli.spec.KNOB_LIMIT`."""

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
    """An output size: ``N``, ``HxW``, with ``-`` for a side kept as is."""

    name = "N|HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_size(str(value))
        except ParameterError as exc:
            self.fail(exc.reason + f" (got {value!r})", param, ctx)


class RatioType(click.ParamType):
    """An output ratio: ``R`` or ``RxR``, each strictly between 0 and 1."""

    name = "R|RxR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_ratio(str(value))
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
        except ParameterError as exc:
            self.fail(exc.reason + f" (got {value!r})", param, ctx)


PAIR, PADDING, SIZE, RATIO, COLOR = PairType(), PaddingType(), SizeType(), RatioType(), ColorType()


# --- option groups: each gives the command one library value ----------------------------------


def _group(target: str, params: list[click.Parameter], build: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """Add ``params`` to a command and give its callback ``target=build(**their values)`` instead."""
    names = [p.name for p in params]

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def callback(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return f(*args, **{target: build(**values)}, **kwargs)

        callback.__click_params__ = list(getattr(f, "__click_params__", [])) + list(reversed(params))  # type: ignore[attr-defined]
        return callback

    return decorate


def _knob_params(knobs: frozenset[str] | tuple[str, ...], info: ops.OpInfo | None = None) -> list[click.Parameter]:
    """The shared pooling knobs, defined once, in the order help lists them (with ``info``'s own defaults)."""
    kernel = str(info.default("kernel", 2)) if info else "2"
    stride = info.default("stride") if info else None
    largest = f" (at most {info.kernel_max})" if info and info.kernel_max else ""
    made: dict[str, Callable[[], click.Parameter]] = {
        "kernel": lambda: click.Option(["-k", "--kernel"], type=PAIR, default=kernel, metavar="N|HxW", show_default=True,
                                       help=f"Window size, N or HxW (rows x cols){largest}."),
        "stride": lambda: click.Option(["-s", "--stride"], type=PAIR, default=None, metavar="N|HxW",
                                       help="Step between windows, N or HxW.  "
                                       f"[default: {stride if stride is not None else 'the kernel'}]"),
        "padding": lambda: click.Option(["-p", "--padding"], type=PADDING, default="0", metavar="N|HxW|same",
                                        show_default=True, help="Padding on each side, N or HxW (at most half the "
                                        "kernel), or 'same' for an output of ceil(in/stride)."),
        "dilation": lambda: click.Option(["-d", "--dilation"], type=PAIR, default="1", metavar="N|HxW",
                                         show_default=True, help="Spacing between the cells of a window."),
        "ceil_mode": lambda: click.Option(["--ceil/--floor", "ceil_mode"], default=False, show_default=True,
                                          help="Round the output size up (PyTorch's ceil_mode) or down."),
        "count_include_pad": lambda: click.Option(["--count-include-pad/--no-count-include-pad"], default=True,
                                                  show_default=True, help="Whether padded cells count in the "
                                                  "divisor of an average."),
        "divisor": lambda: click.Option(["--divisor"], type=click.IntRange(1, KNOB_LIMIT), default=None,
                                        help="Divide every window's sum by this instead (PyTorch's divisor_override)."),
        "size": lambda: click.Option(["--size"], type=SIZE, required="ratio" not in knobs, default=None,
                                     metavar="N|HxW", help="Output size N or HxW (rows x cols); '-' keeps a side, "
                                     "e.g. 64x-." + (" Or give --ratio." if "ratio" in knobs else "")),
        "ratio": lambda: click.Option(["--ratio"], type=RATIO, default=None, metavar="R|RxR",
                                      help="Output size as a share of the input's, each side between 0 and 1 "
                                      "(int(in * R) cells)."),
    }  # fmt: skip
    return [make() for name, make in made.items() if name in knobs]


def _param_option(param: ops.Param) -> click.Option:
    """The option for an op's own parameter, from its declaration."""
    kind: Any
    if param.choices is not None:
        kind = click.Choice(param.choices)
    elif isinstance(param.default, bool):
        return click.Option([f"{param.flag}/--no-{param.flag[2:]}", param.name], default=param.default, help=param.help)
    elif isinstance(param.default, int):
        kind = click.IntRange(param.low, param.high)  # type: ignore[arg-type]
    else:
        kind = click.FloatRange(param.low, None if param.inf else param.high, min_open=param.low_open)
    return click.Option([param.flag, param.name], type=kind, default=param.default, show_default=True, help=param.help)


def spec_options(info: ops.OpInfo) -> Callable[[Callable], Callable]:
    """The knobs and parameters ``info`` takes, built into ``spec``.

    A windowed op also accepts, unlisted, the window knobs it does not take,
    and every op the other ops' own parameters, so that ``avg -d 2`` is told
    why avg has no dilation, and ``max --even mean`` that only median takes
    it, rather than that there is no such option.
    """
    shown = info.knobs | (frozenset(ops.GEOMETRY) if info.kind == "window" else frozenset())
    params = _knob_params(shown, info) + [_param_option(p) for p in info.params]
    for param in params:
        if isinstance(param, click.Option) and param.name not in info.knobs and param.name in ops.GEOMETRY:
            param.hidden = True
            param.default = None
    own = {p.name for p in info.params}
    others = {p.name: p for op in ops.OPS.values() for p in op.params if p.name not in own}
    for other in others.values():
        if isinstance(other.default, bool):
            flags = [f"{other.flag}/--no-{other.flag[2:]}", other.name]
            params.append(click.Option(flags, default=None, hidden=True))
        else:
            params.append(click.Option([other.flag, other.name], default=None, hidden=True))
    return _group("spec", params, lambda **values: PoolSpec.make(info.name, **_given(values)))


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None or k in ("stride", "divisor")}


def knob_options(knobs: tuple[str, ...]) -> Callable[[Callable], Callable]:
    """Window knobs for commands that make several specs (``compare``, ``info``), as a dict ``knobs``."""
    return _group("knobs", _knob_params(knobs), lambda **values: values)


def _read_options(color: str, gray: bool, ignore_orientation: bool, max_pixels: int, strict: bool,
                  allow_truncated: bool) -> Any:  # fmt: skip
    from .image_io import set_opencv_pixel_limit
    from .pipeline import ReadOptions

    set_opencv_pixel_limit(max_pixels)  # OpenCV reads its own cap once, when it is first imported
    return ReadOptions("gray" if gray else color, ignore_orientation, max_pixels, strict, allow_truncated)  # type: ignore[arg-type]


def read_options(f: Callable) -> Callable:
    """How inputs are read: colour, orientation, and how much size and damage an input may have."""
    return _group("read", [
        click.Option(["--color"], type=click.Choice(["auto", "gray", "rgb", "unchanged"]), default="auto",
                     show_default=True, help="auto/unchanged keep what the file has (gray, colour, alpha, 16-bit, "
                     "float); gray or rgb convert."),
        click.Option(["--gray"], is_flag=True, help="Shorthand for --color gray."),
        click.Option(["--ignore-orientation"], is_flag=True,
                     help="Keep the stored pixel layout; do not apply the EXIF orientation."),
        click.Option(["--max-pixels"], type=click.IntRange(0, 2**62), default=DEFAULT_MAX_PIXELS, show_default=True,
                     help="Refuse an image (input or output) of more pixels, from its header, before decoding it "
                     "(0 = no limit)."),
        click.Option(["--strict"], is_flag=True, help="Make every warning about an input an error (recovered "
                     "corrupt data, extra frames, truncation)."),
        click.Option(["--allow-truncated"], is_flag=True,
                     help="Decode a JPEG that ends early, with a warning; the missing part is grey."),
    ], _read_options)(f)  # fmt: skip


def device_option(f: Callable) -> Callable:
    return click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|cuda:N",
                        help="Where to pool; auto uses CUDA when available. Asking for CUDA without it is an "
                        "error.")(f)  # fmt: skip


class Output(NamedTuple):
    """The output options, as library values."""

    outputs: Any  # batch.Outputs
    write: Any  # pipeline.WriteOptions
    dry_run: bool
    quiet: bool


def _output(output: str | None, fmt: str | None, overwrite: bool, depth: str | None, flatten: bool,
            background: tuple[int, int, int] | None, quality: int | None, dry_run: bool, quiet: bool) -> Output:  # fmt: skip
    from .batch import Outputs
    from .pipeline import WriteOptions

    if output == "-" and _isatty(sys.stdout):
        raise click.UsageError(
            "-o - would write binary image data to the terminal; redirect it (> FILE) or use -o FILE"
        )
    write = WriteOptions(overwrite, None if depth is None else int(depth), flatten, background, quality)
    return Output(Outputs(output, fmt), write, dry_run, quiet)


def output_options(f: Callable) -> Callable:
    """Where results go, what happens to existing files, and conversions for the output format."""
    return _group("output", [
        click.Option(["-o", "--output"], default=None, metavar="FILE|DIR|-",
                     help="Output file, or folder (with several inputs, a folder or a pattern, or ending in '/'; it "
                     "mirrors input folders' trees and is created), or '-' for standard output. [default: beside "
                     "the input, as <stem>.<op>-k<K>-s<S>.<ext>]"),
        click.Option(["--format", "fmt"], default=None, metavar="EXT",
                     help="Output format (png, jpg, tif, webp, ...). [default: the input's; PNG on standard output]"),
        click.Option(["--overwrite"], is_flag=True,
                     help="Replace existing outputs (otherwise they are skipped, and a single named output is an error)."),
        click.Option(["--depth"], type=click.Choice(["8", "16"]), default=None,
                     help="Convert samples to 8 or 16 bits for the output (uint16 -> 8: round(x/257); float 0..1 -> "
                     "round(x*255))."),
        click.Option(["--flatten"], is_flag=True, help="Composite alpha over white (or --background) and drop it."),
        click.Option(["--background"], type=COLOR, default=None,
                     help="Colour under transparent pixels: white, black, gray, #RRGGBB or R,G,B. Implies --flatten."),
        click.Option(["--quality"], type=click.IntRange(1, 100), default=None, metavar="1..100",
                     help="JPEG and WebP quality.  [default: JPEG 95, WebP lossless; PNG and TIFF keep the exact result]"),
        click.Option(["--dry-run"], is_flag=True,
                     help="Say what would be written (or skipped) and the output sizes; write nothing."),
        click.Option(["-q", "--quiet"], is_flag=True, help="Print errors only."),
    ], _output)(f)  # fmt: skip


def _figure_output(output: str | None, overwrite: bool, dry_run: bool, quiet: bool) -> Output:
    from .batch import Outputs
    from .pipeline import WriteOptions

    return Output(Outputs(output), WriteOptions(overwrite), dry_run, quiet)


def figure_output_options(f: Callable) -> Callable:
    """Where ``compare`` figures go (always PNG files)."""
    return _group("output", [
        click.Option(["-o", "--output"], default=None, metavar="FILE.png|DIR",
                     help="The figure's file (one input), or a folder (with several inputs, a folder or a pattern, "
                     "or ending in '/'; it mirrors input folders' trees and is created).  [default: beside the "
                     "input, as <stem>.compare-k<K>-s<S>.png]"),
        click.Option(["--overwrite"], is_flag=True,
                     help="Replace existing figures (otherwise they are skipped, and a single named one is an error)."),
        click.Option(["--dry-run"], is_flag=True, help="Say which figures would be written (or skipped); write nothing."),
        click.Option(["-q", "--quiet"], is_flag=True, help="Print errors only."),
    ], _figure_output)(f)  # fmt: skip


def _style(dpi: int, title: str | None, cmap: str, true_size: bool, annotate: bool) -> Any:
    from .figures import FigureStyle, check_cmap

    if cmap != FigureStyle.cmap:
        check_cmap(cmap)
    return FigureStyle(dpi, title, cmap, true_size, annotate)


def _style_params() -> list[click.Parameter]:
    return [
        click.Option(["--dpi"], type=click.IntRange(50, 300), default=100, show_default=True,
                     help="Figure resolution; panels are sized in inches, so more dpi means more pixels."),
        click.Option(["--title"], default=None, help="Figure heading.  [default: the input's file name]"),
        click.Option(["--cmap"], default="gray", show_default=True,
                     help="Colormap for grayscale images (any matplotlib name: gray, viridis, magma, ...)."),
        click.Option(["--true-size"], is_flag=True,
                     help="Draw results at their real size next to the original, instead of enlarged to its size."),
        click.Option(["--annotate"], is_flag=True, help="Write each pixel's value in its cell (images up to 16x16)."),
    ]  # fmt: skip


class Figure(NamedTuple):
    request: Any  # pipeline.FigureRequest or None
    where: str | None


def _figure(compare: bool, compare_to: str | None, no_output: bool, winners: str | None = None,
            winners_allowed: bool = True, **style: Any) -> Figure:  # fmt: skip
    from .figures import FigureStyle
    from .pipeline import FigureRequest

    drawn = _style(**style)
    if winners is not None and not winners_allowed:
        takers = " and ".join(name for name, info in ops.OPS.items() if info.indices)
        raise ParameterError("winners", winners, f"only applies to {takers} pooling (where a window's value came from)")
    if winners is not None:
        if compare_to is not None:
            raise click.UsageError("--winners names the figure, as --compare-to does; give one of them")
        return Figure(FigureRequest(drawn, not no_output, winners=True), winners)
    if not (compare or compare_to):
        if no_output:
            raise click.UsageError("--no-output needs --compare (it would write nothing)")
        if drawn != FigureStyle():
            raise click.UsageError("--dpi, --title, --cmap, --true-size and --annotate need --compare")
        return Figure(None, None)
    return Figure(FigureRequest(drawn, not no_output), compare_to)


def figure_options(winners: bool = False) -> Callable[[Callable], Callable]:
    """``--compare`` on the pooling commands (and ``--winners`` where it applies), and how the figure looks."""
    # other ops take it unlisted, to say which ops do
    extra = [
        click.Option(
            ["--winners"],
            default=None,
            metavar="FILE.png|DIR",
            hidden=not winners,
            help="Write a figure there: the original, the original with each window's winning pixel "
            "marked (per channel: red, green, blue), and the result (a folder with several inputs).",
        )
    ]
    return _group("figure", [
        click.Option(["--compare"], is_flag=True,
                     help="Also write a figure, original | result, as <output stem>.compare.png beside the output."),
        click.Option(["--compare-to"], default=None, metavar="FILE.png|DIR",
                     help="Write the --compare figure there instead (a folder with several inputs). Implies --compare."),
        click.Option(["--no-output"], is_flag=True, help="With --compare: write only the figure, not the pooled image."),
        *extra,
        *_style_params(),
    ], functools.partial(_figure, winners_allowed=winners))  # fmt: skip


def style_options(f: Callable) -> Callable:
    """How a ``compare`` figure looks, as ``style``."""
    return _group("style", _style_params(), _style)(f)


def _run_options(recursive: bool, follow_links: bool, jobs: int | None, batch_size: int | None, engine: str,
                 scheduler: str | None, retries: int, on_collision: Any, report: str | None) -> Any:  # fmt: skip
    from .batch import RunOptions

    return RunOptions(
        recursive=recursive,
        follow_links=follow_links,
        jobs=jobs,
        batch_size=batch_size,
        engine=engine,
        on_collision=on_collision,
        report=report,
        scheduler=scheduler,
        retries=retries,
    )


def run_options(f: Callable) -> Callable:
    """Many inputs: finding them, running them in parallel, and the record of a run."""
    return _group("run", [
        click.Option(["-r", "--recursive"], is_flag=True, help="Descend into subfolders of input folders."),
        click.Option(["--follow-links"], is_flag=True,
                     help="Descend into symbolic links to folders (each folder once, so loops end)."),
        click.Option(["-j", "--jobs"], type=click.IntRange(1, 1 << 20), default=None, metavar="N",
                     help="Images processed at once, each holding its decoded image in memory (at most 4 per CPU "
                     "core).  [default: the number of CPU cores]"),
        click.Option(["--batch-size"], type=click.IntRange(1, 1024), default=None, metavar="N",
                     help="Images of one size pooled as one (N, C, H, W) tensor; with --engine dask, files a task.  "
                     "[default: 4 on CUDA or with --engine dask, else 1]"),
        click.Option(["--engine"], type=click.Choice(ENGINES), default="threads", show_default=True,
                     help="Worker threads in this process, worker processes, or a Dask cluster (needs "
                     "poolcli[dask]; a local one of -j worker processes unless --scheduler names one)."),
        click.Option(["--scheduler"], default=None, metavar="ADDRESS",
                     help="With --engine dask: the cluster's scheduler, e.g. tcp://127.0.0.1:8786.  [default: "
                     "DASK_SCHEDULER_ADDRESS, else a local cluster]"),
        click.Option(["--retries"], type=click.IntRange(0, 100), default=2, show_default=True, metavar="N",
                     help="Try a file that failed for a reason that may pass (an I/O or network error, a lost "
                     "worker) up to N more times, after the others."),
        click.Option(["--on-collision"], type=click.Choice(["rename", "refuse"]), default="rename", show_default=True,
                     help="When two inputs would write one output (a.jpg, a.png -> a.<op>.png): keep each source's "
                     "extension in the name (a.jpg.<op>.png), or stop before any work."),
        click.Option(["--report"], default=None, metavar="FILE",
                     help="Write one JSON line per input: input, output, status, error, shapes, milliseconds."),
    ], _run_options)(f)  # fmt: skip


def html_option(f: Callable) -> Callable:
    """``--html FILE.html``: a page for the run, as ``html``."""
    return click.option("--html", default=None, metavar="FILE.html",
                        help="Also write one self-contained page for the run: each input's thumbnails (original, "
                        "result, figure), knobs, shapes, dtype, time and failure reason, sortable; written when the "
                        "run ends or is interrupted.")(f)  # fmt: skip


# --- the commands ---------------------------------------------------------------------------------


@click.group("poolcli", cls=PoolcliGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="poolcli")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """2-D image pooling with PyTorch's exact semantics: max, avg, min, adaptive, global, and median, Lp, blur,
    maxblur, SoftPool, stochastic, fractional and unpooling.

    Reads images with OpenCV, pools them on the CPU or a CUDA GPU, and writes
    images of the same sample format.

    \b
    Example:
      poolcli max photo.jpg -k 2 -s 2
    """


INPUTS_HELP = "Inputs are files, folders (-r descends) and glob patterns; '-' reads standard input."


def _help(summary: str, example: str, more: str = "") -> str:
    return f"{summary}\n\n{INPUTS_HELP}{more}\n\n\b\nExample:\n  {example}"


def _pool_command(info: ops.OpInfo) -> None:
    @click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
    @spec_options(info)
    @read_options
    @device_option
    @output_options
    @figure_options(winners=info.indices)
    @run_options
    @html_option
    def command(inputs: tuple[str, ...], spec: PoolSpec, read: Any, device: str, output: Output, figure: Figure,
                run: Any, html: str | None) -> int:  # fmt: skip
        from dataclasses import replace

        from .pipeline import Pooling

        outputs = replace(output.outputs, figure=figure.where)
        return _execute(inputs, Pooling(spec, figure.request), read, device, output._replace(outputs=outputs), run,
                        output_lines=figure.request is None or figure.request.write_output, html=html)  # fmt: skip

    command.__doc__ = _help(info.summary, info.example)
    cli.command(info.name, context_settings=CONTEXT)(command)


def _global_command(info: ops.OpInfo) -> None:
    @click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
    @spec_options(info)
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
    @read_options
    @device_option
    @run_options
    def command(inputs: tuple[str, ...], spec: PoolSpec, as_json: bool, read: Any, device: str, run: Any) -> int:
        from .pipeline import GlobalValues

        return _execute(inputs, GlobalValues(spec, as_json), read, device, _no_output(), run)

    command.__doc__ = _help(info.summary, info.example)
    cli.command(info.name, context_settings=CONTEXT)(command)


for _info in ops.OPS.values():
    cli.lazy[_info.name] = functools.partial(_global_command if _info.kind == "global" else _pool_command, _info)


@cli.command("compare", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--ops", "panels", type=NameListType(ops.panel_names()), default="max,avg,min,adaptive",
              show_default=True, help=f"Operations to show, comma-separated, from {', '.join(ops.panel_names())}. "
              "Adaptive panels have the size of the windowed ones.")  # fmt: skip
@click.option("--kernels", type=PairListType(), default=None, metavar="N,N,...",
              help="Several kernels, one column each (replaces -k): rows are ops, columns kernels. "
                   "The stride is each kernel unless -s is given.")  # fmt: skip
@click.option("--diff", is_flag=True, help="Add |first op − op| panels, all on one colour scale, in pixel values.")
@click.option("--shift", type=click.IntRange(1, 32), default=None, metavar="N",
              help="Move the image left by 0..N pixels and pool each: how much each op's output changes under a "
              "small shift, measured (mean |Δ| in pixel values) and written on the figure.")  # fmt: skip
@knob_options(("kernel", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor"))
@read_options
@device_option
@figure_output_options
@style_options
@run_options
@html_option
def compare_cmd(inputs: tuple[str, ...], panels: tuple[str, ...], kernels: tuple | None, diff: bool,
                shift: int | None, knobs: dict[str, Any], read: Any, device: str, output: Output, style: Any,
                run: Any, html: str | None) -> int:  # fmt: skip
    """One figure per image: the original next to each pooling, on the same scale.

    Written as <stem>.compare-k<K>-s<S>.png beside the input (the knobs in
    the name), or to -o FILE.png, or into -o DIR. --count-include-pad and
    --divisor apply to the ops that take them (avg). The kernel is 8 unless
    -k or --kernels says otherwise: on a typical photo, 2x2 panels look alike
    (7 with blur or maxblur, whose filters stop there).

    \b
    Example:
      poolcli compare photo.jpg
      poolcli compare photo.jpg --ops max,avg,min --kernels 2,4,8 -o grid.png
      poolcli compare sample_images/pattern8x8.png -k 2 --annotate --diff
      poolcli compare photo.jpg --ops max,avg -k 2 --shift 2
    """
    from .compare import Comparison, default_kernel
    from .pipeline import Comparing

    kernel = knobs.pop("kernel")
    if kernels is None:
        source = click.get_current_context().get_parameter_source("kernel")
        kernels = (default_kernel(panels) if source == click.core.ParameterSource.DEFAULT else kernel,)
    comparison = Comparison.make(panels, kernels, diff=diff, **knobs)
    operation: Any = Comparing(comparison, style)
    if shift is not None:
        from .shift import Shifting

        if len(kernels) > 1:
            raise click.UsageError("--shift takes one kernel (-k), not --kernels")
        operation = Shifting(comparison, style, shift)
    return _execute(inputs, operation, read, device, output, run, html=html)


@cli.command("info", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@knob_options(ops.GEOMETRY)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@read_options
@run_options
def info_cmd(inputs: tuple[str, ...], knobs: dict[str, Any], as_json: bool, read: Any, run: Any) -> int:
    """Describe images and the output size each windowed operation would give; nothing is pooled.

    Sizes come from the formula floor((in + 2p - d(k-1) - 1) / s) + 1 per
    axis. A knob an operation does not take (avg has no dilation) is left
    out for it.

    \b
    Example:
      poolcli info photo.png -k 3 -s 2 -p 1
    """
    from .pipeline import Describing

    specs: list[tuple[str, PoolSpec | str]] = []
    for name in ops.window_ops():
        info = ops.OPS[name]
        given = {k: v for k, v in knobs.items() if k in info.knobs}
        try:
            specs.append((name, PoolSpec.make(name, **given)))
        except ParameterError as exc:
            specs.append((name, str(exc)))
    return _execute(inputs, Describing(tuple(specs), as_json), read, "cpu", _no_output(), run)


@cli.command("explain", context_settings=CONTEXT)
@click.argument("image", required=False, metavar="[IMAGE]")
@click.option("--op", type=click.Choice(ops.window_ops()), default="max", show_default=True,
              help="The pooling to explain (max, avg and min have step-by-step text so far).")  # fmt: skip
@knob_options(("kernel", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor"))
@click.option("--region", metavar="ROW,COL,H,W", default=None,
              help="The cells of IMAGE to explain: first row, first column, height, width (at most 16x16). "
              "[default: the whole image, when it is that small]")  # fmt: skip
@click.option(
    "--channel",
    type=click.Choice(["R", "G", "B"], case_sensitive=False),
    default=None,
    help="Explain one channel of a colour image.  [default: R, G and B in every cell]",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE.html",
    default=None,
    help="Write the page here.  [default: explain.html beside IMAGE, or here for the pattern]",
)
@click.option("--gif", metavar="FILE.gif", default=None, help="Write the steps as an animated GIF (also or instead).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def explain_cmd(image: str | None, op: str, knobs: dict[str, Any], region: str | None, channel: str | None,
                output: str | None, gif: str | None, overwrite: bool, quiet: bool) -> int:  # fmt: skip
    """See the window move: one step per output cell, with the numbers.

    Draws the input (a built-in 8x8 pattern of small numbers, or a region of
    IMAGE) with its padding, highlights each window's cells, writes the
    reduction with the real values (max(12, 45, 67, 23) = 67), marks the
    winning cell and fills the output in. The first step gives the output
    size formula with the numbers plugged in. Writes a self-contained HTML
    page (buttons, slider, arrow keys) and/or an animated GIF.

    \b
    Example:
      poolcli explain -k 3 -s 2 -p 1 --op max
      poolcli explain photo.jpg --region 120,200,12,12 -k 2 --op avg
      poolcli explain -k 2 -d 2 --ceil --op min -o steps.html --gif steps.gif
    """
    from .explain import explain, parse_region, targets, write_outputs

    spec = PoolSpec.make(op, **knobs)
    cells = parse_region(region) if region is not None else None
    chosen = targets(image, output, gif)
    picture = None
    if image is not None:
        from .image_io import load_image

        picture = load_image(image).image
    explanation = explain(picture, spec, region=cells, channel=channel, source=image)
    for path in write_outputs(explanation, chosen, overwrite=overwrite):
        if not quiet:
            out = explanation.output.shape
            click.echo(f"{explanation.source} -> {path} (wrote; {len(explanation.steps)} steps, "
                       f"{explanation.grid.shape[0]}x{explanation.grid.shape[1]} -> {out[0]}x{out[1]}, {spec.describe()})")  # fmt: skip
    return EXIT_OK


# --- running a command ---------------------------------------------------------------------------------


def _no_output() -> Output:
    from .batch import Outputs
    from .pipeline import WriteOptions

    return Output(Outputs(), WriteOptions(), False, False)


def _execute(inputs: tuple[str, ...], operation: Any, read: Any, device: str, output: Output, run: Any,
             output_lines: bool = True, html: str | None = None) -> int:  # fmt: skip
    """Run ``operation`` over the inputs, told by a :class:`~poolcli.report.Reporter` (and a page); the exit status."""
    from dataclasses import replace

    from .batch import execute, will_pool
    from .report import Reporter

    run = replace(run, html=html)

    writes_stdout = output.outputs.output == "-"
    reporter = Reporter(
        sys.stderr if writes_stdout else sys.stdout, sys.stderr, quiet=output.quiet, label=operation.label,
        report=run.report, render=getattr(operation, "render", None), hint=hint, output_lines=output_lines,
        summary=_many(inputs) and operation.writes is not None, debug=_debug(), started=_STARTED,
    )  # fmt: skip
    listener: Any = reporter
    page = None
    if html is not None and not output.dry_run:  # a dry run writes nothing, the page neither
        import shlex

        from .runpage import RunPage, Tee

        command = shlex.join(["poolcli", *getattr(cli, "argv", [])])
        page = RunPage(html, label=operation.label, command=command, overwrite=output.write.overwrite,
                       warn=_echo_err, started=_STARTED)  # fmt: skip
        listener = Tee(reporter, page)
    if _OWN_PROCESS and run.engine == "threads" and will_pool(operation, output.dry_run):
        _freeze_imports()
    summary = execute(
        inputs, operation, listener, read=read, write=output.write, outputs=output.outputs, options=run,
        device=device, dry_run=output.dry_run, stdin=_binary(sys.stdin), stdout=_binary(sys.stdout),
    )  # fmt: skip
    return EXIT_FAILED if summary.failed or reporter.failed or (page is not None and page.failed) else EXIT_OK


def _freeze_imports() -> None:
    """Import torch before a run that pools in this process, and exempt what is loaded by then from garbage collection.

    Every full collection after ``import torch`` walks its ~170,000 objects
    (0.12 s here): one comes during a small run, more at the process's exit,
    together 0.5 s (benchmarks/startup.py). Frozen, they are never walked. Only
    a process the console script started does this (``_OWN_PROCESS``): a
    library caller's objects, or a test runner's, are theirs to collect.
    """
    import gc

    import torch  # noqa: F401  (the import is the point)

    gc.freeze()


def _many(inputs: tuple[str, ...]) -> bool:
    """Whether a run is more than one file named on its own (then it ends with a summary)."""

    from .discover import is_pattern
    from .storage import as_path, is_url

    return len(inputs) > 1 or any(
        is_pattern(i) or (as_path(i).is_dir() if is_url(i) else os.path.isdir(i)) for i in inputs
    )


def _binary(stream: Any) -> Any:
    return getattr(stream, "buffer", None) if stream is not None else None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def _debug() -> bool:
    """Whether ``poolcli --debug`` was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def _process_start() -> float:
    """When this process started, on ``time.perf_counter``'s clock: the summary counts the wait a user had.

    Linux says how long ago the process started (``/proc``); elsewhere, the
    time this module was imported stands in (Python's own start-up left out).
    """
    now = time.perf_counter()
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - age if 0 <= age < 3600 else now


_STARTED = _process_start()
#: Whether this process is poolcli's own (started by :func:`main`), not a library caller's.
_OWN_PROCESS = False


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main() -> None:
    """Console-script entry point: SIGTERM stops a run as Ctrl-C does (exit status 143)."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    signal.signal(signal.SIGTERM, _terminate)
    cli.main(prog_name="poolcli")

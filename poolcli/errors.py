"""The one exception hierarchy of poolcli.

Every error the library raises on purpose is a :class:`PoolcliError`. The
subclasses say *what kind* of problem it is; the CLI turns that kind into an
exit code in one place (``poolcli.cli.exit_code_for``). Each error carries the
facts (the path, the parameter, the value) so a message can name them.
"""

from __future__ import annotations

from pathlib import Path


class PoolcliError(Exception):
    """Root of all poolcli errors.

    Parameters
    ----------
    message : str
        What went wrong, without the path.
    path : path-like, optional
        The file the problem is about; it is put in front of the message.
    """

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


# --- usage problems: found before any work, exit status 2 -----------------------


class UsageProblem(PoolcliError):
    """The request itself is wrong; nothing was read or written."""


class ParameterError(UsageProblem, ValueError):
    """A pooling parameter is out of range or malformed.

    Attributes
    ----------
    name : str
        The parameter (``"kernel"``, ``"stride"``, ...).
    value : object
        The value that was given.
    """

    def __init__(self, name: str, value: object, reason: str) -> None:
        super().__init__(f"{name} {value}: {reason}" if value is not None else f"{name}: {reason}")
        self.name = name
        self.value = value
        self.reason = reason


class DeviceError(UsageProblem, ValueError):
    """The requested device does not exist or is not available."""


class OutputPathError(UsageProblem, ValueError):
    """The output path cannot be used (bad extension, is the input, ...)."""


# --- failures of one input: exit status 1, a batch goes on --------------------------


class InputError(PoolcliError):
    """One input could not be used."""


class ImageReadError(InputError):
    """The file could not be read or decoded as an image."""


class ImageTooLargeError(ImageReadError):
    """The image declares more pixels than allowed."""

    def __init__(self, width: int, height: int, limit: int, *, path: str | Path | None = None):
        super().__init__(
            f"image too large: {width}x{height} ({width * height:,} pixels, limit {limit:,}; "
            "raise it with --max-pixels, 0 = no limit)",
            path=path,
        )
        self.width = width
        self.height = height
        self.limit = limit


class ImageShapeError(InputError, ValueError):
    """The image cannot be pooled as asked (too small, unsupported dtype, ...)."""


class OutOfMemoryError(InputError, MemoryError):
    """Pooling this input needed more memory than could be allocated.

    Raised by :mod:`poolcli.pooling` in place of a raw ``MemoryError`` or
    torch's allocator ``RuntimeError``; still a ``MemoryError``, so code that
    catches that keeps working.
    """


class OutputError(PoolcliError):
    """An output could not be written."""


class OutputExistsError(OutputError):
    """The output exists and ``overwrite`` was not given."""


class WriteError(OutputError):
    """Encoding or writing the output failed; the previous file is untouched."""


class FormatError(OutputError, ValueError):
    """The output format cannot hold this image's data (depth, alpha, channels)."""

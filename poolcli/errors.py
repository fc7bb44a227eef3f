"""The one exception hierarchy of poolcli.

Every error the library raises on purpose is a :class:`PoolcliError`. The
subclasses say *what kind* of problem it is and carry the facts (the path,
the parameter and its value, the shape, the limit), so a message reads well
to a Python caller. The command line turns the kind into an exit code and
adds the flag that helps (``--overwrite``, ``--max-pixels``), in one place:
:mod:`poolcli.cli` (``exit_code_for`` and ``HINTS``).
"""

from __future__ import annotations

from os import PathLike


class PoolcliError(Exception):
    """Root of all poolcli errors.

    Parameters
    ----------
    message : str
        What went wrong, without the path.
    path : path-like, optional
        The file the problem is about; it is put in front of the message.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # errors cross process boundaries (the processes engine): rebuild them as they are
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[PoolcliError], state: dict) -> PoolcliError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


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
    reason : str
        What is wrong with it.
    """

    def __init__(self, name: str, value: object, reason: str) -> None:
        super().__init__(f"{name} {value}: {reason}" if value is not None else f"{name}: {reason}")
        self.name = name
        self.value = value
        self.reason = reason


class DeviceError(UsageProblem, ValueError):
    """The requested device does not exist or is not available."""


class CudaUnavailableError(DeviceError):
    """CUDA was asked for where torch has none."""


class OutputPathError(UsageProblem, ValueError):
    """The output path cannot be used (bad extension, is the input, ...)."""


class NotAReportError(OutputPathError):
    """The report's path holds a file that is not a poolcli report, and ``overwrite`` was not given."""


class CollisionError(OutputPathError):
    """Several inputs would write one output, and renaming was not allowed."""


class EngineError(UsageProblem):
    """The engine asked for cannot run here (its package is not installed, ...)."""


class StorageError(UsageProblem):
    """A URL's storage cannot be used: fsspec does not know its protocol, or its package is missing."""


# --- failures of one input: exit status 1, a batch goes on --------------------------


class InputError(PoolcliError):
    """One input could not be used."""


class NoImagesError(InputError):
    """A folder or a pattern that gives no image."""


class NoImagesAtTopError(NoImagesError):
    """A folder with no images at its top level (its subfolders were not searched)."""


class ImageReadError(InputError):
    """The file could not be read or decoded as an image."""


class TruncatedImageError(ImageReadError):
    """The file stops early; the part that is there could be decoded (``allow_truncated``)."""


class StrictError(ImageReadError):
    """Something that is a warning by default, made an error by ``strict``."""


class ImageTooLargeError(ImageReadError):
    """The image (or the file holding it) is larger than allowed.

    Attributes
    ----------
    width, height : int
        The declared size (0 when only the file's size is known).
    limit : int
        The pixel limit (``max_pixels``).
    """

    def __init__(
        self, width: int, height: int, limit: int, *, path: str | PathLike[str] | None = None, what: str | None = None
    ) -> None:
        text = what or f"{width}x{height} = {width * height:,} pixels"
        super().__init__(f"image too large: {text}, over the limit of {limit:,} pixels", path=path)
        self.width = width
        self.height = height
        self.limit = limit


class FileTooLargeError(ImageReadError):
    """The file (or stream) holds more bytes than any image of the allowed pixel count can take.

    Attributes
    ----------
    size : int or None
        The file's size in bytes; None for a stream, whose reading stopped at the limit.
    limit : int
        The most bytes accepted (see :func:`poolcli.image_io.max_file_bytes`).
    max_pixels : int
        The pixel cap the limit follows from.
    """

    def __init__(self, size: int | None, limit: int, max_pixels: int, *, path: str | PathLike[str] | None = None):
        what = (
            f"file too large: {size:,} bytes, over {limit:,}"
            if size is not None
            else f"input too large: over {limit:,} bytes"
        )
        super().__init__(f"{what}, the most an image of at most {max_pixels:,} pixels can take", path=path)
        self.size = size
        self.limit = limit
        self.max_pixels = max_pixels


class ImageShapeError(InputError, ValueError):
    """The image cannot be pooled as asked (unsupported dtype or layout, ...).

    Attributes
    ----------
    shape : tuple of int or None
        The shape of the image or tensor, where one is known.
    """

    def __init__(
        self, message: str, *, shape: tuple[int, ...] | None = None, path: str | PathLike[str] | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.shape = shape


class WindowTooLargeError(ImageShapeError):
    """The (padded) image is smaller than the window.

    Attributes
    ----------
    shape : (rows, cols)
        The image's size.
    window : (rows, cols)
        The effective window, dilation included.
    """

    def __init__(self, shape: tuple[int, int], window: tuple[int, int], *, dilated: bool = False) -> None:
        super().__init__(
            f"image {shape[0]}x{shape[1]} is smaller than the kernel {window[0]}x{window[1]}"
            + (" (dilated)" if dilated else ""),
            shape=shape,
        )
        self.window = window


class OutOfMemoryError(InputError, MemoryError):
    """Pooling this input needed more memory than could be allocated.

    Raised by :mod:`poolcli.pooling` in place of a raw ``MemoryError`` or
    torch's allocator ``RuntimeError``; still a ``MemoryError``, so code that
    catches that keeps working.
    """


class WorkerLostError(PoolcliError):
    """The cluster gave up on a file: the workers running it died more often than it allows."""


class OutputError(PoolcliError):
    """An output could not be written."""


class OutputExistsError(OutputError):
    """The output exists and ``overwrite`` was not given."""

    def __init__(self, path: str | PathLike[str]) -> None:
        super().__init__("exists", path=path)


class WriteError(OutputError):
    """Encoding or writing the output failed; the previous file is untouched."""


class FormatError(OutputError, ValueError):
    """The output format cannot hold this image's data (depth, alpha, channels)."""

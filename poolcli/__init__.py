"""poolcli: 2-D image pooling with PyTorch's exact semantics, as a CLI and a library.

The public API is imported lazily, so ``import poolcli`` (and ``poolcli
--help``) does not import torch, OpenCV or matplotlib until they are needed.

>>> import numpy as np, poolcli
>>> poolcli.pool(np.arange(16, dtype=np.uint8).reshape(4, 4), "max", kernel=2)
array([[ 5,  7],
       [13, 15]], dtype=uint8)
"""

from __future__ import annotations

# typing costs milliseconds at start-up, where a Ctrl-C must already be poolcli's to handle
TYPE_CHECKING = False

__version__ = "0.1.0"

_ERRORS = (
    "DeviceError",
    "FileTooLargeError",
    "FormatError",
    "ImageReadError",
    "ImageShapeError",
    "ImageTooLargeError",
    "InputError",
    "OutOfMemoryError",
    "OutputError",
    "OutputExistsError",
    "OutputPathError",
    "ParameterError",
    "PoolcliError",
    "UsageProblem",
    "WindowTooLargeError",
    "WriteError",
)
# Everything is imported on first use, so importing poolcli (and starting the
# command line) costs next to nothing until a name is needed.
_LAZY = {
    **{name: "errors" for name in _ERRORS},
    "PoolSpec": "spec",
    "output_size": "spec",
    "read_image": "image_io",
    "write_image": "image_io",
    "decode_image": "image_io",
    "pool": "pooling",
    "adaptive_pool": "pooling",
    "global_pool": "pooling",
    "unpool": "pooling",
}

__all__ = [
    "DeviceError",
    "FileTooLargeError",
    "FormatError",
    "ImageReadError",
    "ImageShapeError",
    "ImageTooLargeError",
    "InputError",
    "OutOfMemoryError",
    "OutputError",
    "OutputExistsError",
    "OutputPathError",
    "ParameterError",
    "PoolSpec",
    "PoolcliError",
    "UsageProblem",
    "WindowTooLargeError",
    "WriteError",
    "__version__",
    "adaptive_pool",
    "decode_image",
    "global_pool",
    "output_size",
    "pool",
    "read_image",
    "unpool",
    "write_image",
]

if TYPE_CHECKING:
    from typing import Any

    from .errors import (
        DeviceError,
        FileTooLargeError,
        FormatError,
        ImageReadError,
        ImageShapeError,
        ImageTooLargeError,
        InputError,
        OutOfMemoryError,
        OutputError,
        OutputExistsError,
        OutputPathError,
        ParameterError,
        PoolcliError,
        UsageProblem,
        WindowTooLargeError,
        WriteError,
    )
    from .image_io import decode_image, read_image, write_image
    from .pooling import adaptive_pool, global_pool, pool, unpool
    from .spec import PoolSpec, output_size


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'poolcli' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

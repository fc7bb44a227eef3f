"""Between images and tensors, and where tensors live.

An image is a NumPy array of shape (H, W) or (H, W, C). A tensor is
(N, C, H, W). On the CPU the conversion is a view, not a copy: an (H, W, C)
array becomes a channels-last (1, C, H, W) tensor over the same memory
(``unsqueeze(0).permute(0, 3, 1, 2)`` keeps the strides torch recognises as
channels-last; ``permute`` first would not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .errors import CudaUnavailableError, DeviceError, ImageShapeError

if TYPE_CHECKING:
    import torch

#: Sample formats poolcli pools. ``uint16`` is carried in torch as uint16,
#: which has few CPU kernels; the pooling module maps it to an order-keeping
#: int16 where it needs comparisons.
SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "int32", "float32", "float64")
)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    ``auto`` (or ``None``) is the first CUDA device when there is one, else the
    CPU. Asking for CUDA where there is none raises :class:`DeviceError`; it is
    never silently replaced by the CPU.
    """
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name[5:] if name.startswith("cuda:") else "0"
        if not index_text.isdigit():
            raise DeviceError(f"device {name!r}: expected cuda or cuda:N")
        if not torch.cuda.is_available():
            raise CudaUnavailableError(f"device {name!r}: CUDA is not available (no GPU or a CPU-only PyTorch)")
        count = torch.cuda.device_count()
        if int(index_text) >= count:
            raise DeviceError(f"device {name!r}: only {count} CUDA device(s) present (cuda:0..cuda:{count - 1})")
        return torch.device(name)
    raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def native_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` in the machine's byte order (``>u2`` is ``uint16`` on a little-endian machine)."""
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def check_image(image: np.ndarray) -> np.ndarray:
    """Check an image array's layout and sample format; return it unchanged.

    Samples in either byte order are accepted (``np.dtype(">u2")`` is
    uint16); what poolcli returns is always in the machine's order.

    Raises
    ------
    ImageShapeError
        Not (H, W) or (H, W, C), empty, or a dtype outside ``SUPPORTED_DTYPES``.
    """
    if not isinstance(image, np.ndarray):
        raise ImageShapeError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageShapeError(f"expected an image of shape (H, W) or (H, W, C), got {image.shape}")
    if native_dtype(image.dtype) not in SUPPORTED_DTYPES:
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise ImageShapeError(f"unsupported sample format {image.dtype} (supported: {names})")
    return image


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """An (H, W) or (H, W, C) image as a (1, C, H, W) tensor on ``device``.

    On the CPU this shares memory with ``image`` (channels-last view); on CUDA
    it is one host-to-device copy.
    """
    import torch

    check_image(image)
    hwc = image[:, :, None] if image.ndim == 2 else image
    if not hwc.flags.writeable or hwc.dtype.byteorder not in ("=", "|") or min(hwc.strides) < 0:
        # torch cannot view these (read-only, byte-swapped, negative strides): copy once
        hwc = np.array(hwc, dtype=hwc.dtype.newbyteorder("="), order="C")
    t = torch.from_numpy(hwc).unsqueeze(0).permute(0, 3, 1, 2)
    if device.type != "cpu":
        t = t.to(device, non_blocking=False)
    return t


def to_image(tensor: torch.Tensor, ndim: int) -> np.ndarray:
    """A (1, C, H, W) tensor back as an (H, W, C) image, or (H, W) if ``ndim == 2``.

    The result is a C-contiguous NumPy array on the host.
    """
    t = tensor[0].permute(1, 2, 0)
    if t.device.type != "cpu":
        t = t.cpu()
    out = np.ascontiguousarray(t.numpy())
    return out[:, :, 0] if ndim == 2 else out


def stack_images(images: list[np.ndarray], device: torch.device | str) -> torch.Tensor:
    """Images of one shape and dtype as one (N, C, H, W) tensor on ``device``.

    Stacked on the host first, so a GPU gets one copy per batch rather than
    one per image.
    """
    import torch

    for image in images:
        check_image(image)
    if len({(im.shape, native_dtype(im.dtype)) for im in images}) != 1:
        raise ImageShapeError(f"images to stack differ in shape or dtype: {sorted({str(im.shape) for im in images})}")
    hwc = np.stack([im[:, :, None] if im.ndim == 2 else im for im in images])
    hwc = hwc.astype(native_dtype(hwc.dtype), copy=False)
    t = torch.from_numpy(hwc).permute(0, 3, 1, 2)
    dev = torch.device(device)
    return t if dev.type == "cpu" else t.to(dev)


def unstack_images(tensor: torch.Tensor, ndim: int) -> list[np.ndarray]:
    """An (N, C, H, W) tensor back as N host images, each as :func:`to_image` gives."""
    host = tensor.cpu() if tensor.device.type != "cpu" else tensor
    return [to_image(host[i : i + 1], ndim) for i in range(host.shape[0])]

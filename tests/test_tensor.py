"""Between images and tensors: views not copies on the CPU, layouts, stacking, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poolcli.errors import CudaUnavailableError, DeviceError, ImageShapeError
from poolcli.tensor import check_image, resolve_device, stack_images, to_image, to_tensor, unstack_images


def test_an_image_is_a_channels_last_view_on_the_cpu():
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    t = to_tensor(image, torch.device("cpu"))
    assert t.shape == (1, 3, 2, 4) and t.is_contiguous(memory_format=torch.channels_last)
    image[0, 0, 0] = 99
    assert t[0, 0, 0, 0] == 99  # the same memory
    np.testing.assert_array_equal(to_image(t, 3), image)


def test_gray_images_round_trip():
    image = np.arange(12, dtype=np.int16).reshape(3, 4)
    back = to_image(to_tensor(image, torch.device("cpu")), 2)
    assert back.shape == (3, 4) and back.dtype == np.int16 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, image)


def test_arrays_torch_cannot_view_are_copied_once():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)[::-1]  # negative strides
    np.testing.assert_array_equal(to_image(to_tensor(image, torch.device("cpu")), 2), image)


def test_stacking_and_unstacking():
    images = [np.full((2, 3, 3), i, np.uint8) for i in range(4)]
    t = stack_images(images, "cpu")
    assert t.shape == (4, 3, 2, 3)
    for image, back in zip(images, unstack_images(t, 3)):
        np.testing.assert_array_equal(back, image)
    with pytest.raises(ImageShapeError, match="differ in shape or dtype"):
        stack_images([images[0], np.zeros((2, 4, 3), np.uint8)], "cpu")


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.complex64), np.zeros(4), np.zeros((0, 3)), [[1, 2]]])
def test_what_is_not_an_image(bad):
    with pytest.raises(ImageShapeError):
        check_image(bad)


def test_devices(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(
        CudaUnavailableError, match=r"^device 'cuda': CUDA is not available \(no GPU or a CPU-only PyTorch\)$"
    ):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="expected cuda or cuda:N"):
        resolve_device("cuda:x")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")

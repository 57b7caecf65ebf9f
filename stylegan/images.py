"""Images in and out: network output ([-1, 1] floats) to uint8 arrays and PIL images, grids, PNG files written whole,
and images read from disk as network input."""

from pathlib import Path
from typing import Callable, Union

import numpy as np
import torch
from PIL import Image

PathLike = Union[str, Path]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images [N, C, H, W] (or one [C, H, W]) in [-1, 1] as uint8 NHWC (HWC) arrays: (x + 1) * 127.5, rounded,
    clipped, as NVIDIA's tools write them."""
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        raise ValueError(f"images must be a tensor [N, C, H, W] or [C, H, W], got {getattr(images, 'shape', images)}")
    x = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def to_pil(image: Union[torch.Tensor, np.ndarray]) -> Image.Image:
    """One image, a [C, H, W] tensor in [-1, 1] or a uint8 HWC array with 1, 3 or 4 channels, as a PIL image."""
    array = to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim != 3 or array.dtype != np.uint8 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be [C, H, W] floats or HWC uint8 with 1, 3 or 4 channels, got {array.shape}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[array.shape[2]]
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array, mode)


def grid_image(images: torch.Tensor, columns: int, min_cell: int = 64) -> np.ndarray:
    """Images [N, C, H, W] in [-1, 1] as one uint8 HWC grid, `columns` wide, each cell enlarged (nearest neighbour)
    to at least `min_cell` pixels."""
    n, c, h, w = images.shape
    rows = -(-n // columns)
    x = torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2)
    if n < rows * columns:
        x = torch.cat([x, torch.zeros([rows * columns - n, c, h, w], dtype=torch.uint8)])
    scale = max(1, -(-min_cell // h))
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    x = x.reshape(rows, columns, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, columns * w, c)
    return x.numpy()


def write_whole(path: PathLike, write: Callable[[Path], None]) -> None:
    """write(tmp) to a temporary name next to `path`, which the file then takes: `path` never holds part of a file,
    and the temporary file is removed when write fails (such as on a full disk)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno and e.filename is None:  # say which file could not be written
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def save_png(image: Union[np.ndarray, torch.Tensor, Image.Image], path: PathLike) -> None:
    """An HWC uint8 array (1, 3 or 4 channels), a [C, H, W] tensor in [-1, 1] or a PIL image as a PNG, written whole
    (write_whole)."""
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    write_whole(path, lambda tmp: pil.save(tmp, format="PNG"))


def load_image(path: PathLike, resolution: int, channels: int) -> torch.Tensor:
    """An image file as a [1, channels, resolution, resolution] float tensor in [-1, 1]: center-cropped to a square
    and resized (Lanczos), converted to grayscale or RGB to match `channels` (1 or 3)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image: {path}")
    try:
        with Image.open(path) as f:
            image = f.convert("L" if channels == 1 else "RGB")
    except OSError as e:
        raise ValueError(f"cannot read the image {path}: {e}") from e
    w, h = image.size
    s = min(w, h)
    image = image.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if s != resolution:
        image = image.resize((resolution, resolution), Image.LANCZOS)
    array = np.asarray(image, dtype=np.float32).reshape(resolution, resolution, channels)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1

"""Videos of image sequences: MP4 (H.264) through the ffmpeg binary that the pip package imageio-ffmpeg ships, or an
animated GIF (Pillow) when that package is missing."""

import subprocess
import warnings
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
from PIL import Image

PathLike = Union[str, Path]


def ffmpeg_binary() -> Optional[str]:
    """Path of imageio-ffmpeg's ffmpeg, or None when the package is not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def write_video(frames: Iterable[np.ndarray], path: PathLike, fps: float = 30) -> Path:
    """Writes HWC uint8 frames (all of one size, 1 or 3 channels) as `path` (.mp4 or .gif) and returns the path
    written: an .mp4 request becomes a .gif next to it, with a warning, when ffmpeg is unavailable. The file appears
    under its name only once complete."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    ffmpeg = ffmpeg_binary() if path.suffix.lower() == ".mp4" else None
    if path.suffix.lower() == ".mp4" and ffmpeg is None:
        path = path.with_suffix(".gif")
        warnings.warn(f"imageio-ffmpeg is not installed (pip install imageio-ffmpeg): writing {path.name} instead of "
                      "an MP4", stacklevel=2)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    if ffmpeg is not None:
        _write_mp4(frames, tmp, fps, ffmpeg)
    else:
        _write_gif(frames, tmp, fps)
    tmp.replace(path)
    return path


def _check_frame(frame: np.ndarray, shape) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (1, 3):
        raise ValueError(f"video frames must be HWC uint8 with 1 or 3 channels, got {frame.dtype} {frame.shape}")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"video frames must all have one size: {frame.shape} after {shape}")
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


def _write_mp4(frames: Iterable[np.ndarray], path: Path, fps: float, ffmpeg: str) -> None:
    process = shape = None
    try:
        for frame in frames:
            rgb = _check_frame(frame, shape)
            if process is None:
                shape = np.asarray(frame).shape
                h, w = rgb.shape[:2]
                # yuv420p (what players expect) needs even sizes: pad by one pixel where odd.
                pad = "pad=ceil(iw/2)*2:ceil(ih/2)*2"
                process = subprocess.Popen(
                    [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                     "-r", f"{fps}", "-i", "-", "-vf", pad, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
                     "-f", "mp4", str(path)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            process.stdin.write(np.ascontiguousarray(rgb).tobytes())
        if process is None:
            raise ValueError("a video needs at least one frame")
        process.stdin.close()
        error = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {error.strip()}")
    finally:
        if process is not None:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
            if not process.stdin.closed:
                process.stdin.close()


def _write_gif(frames: Iterable[np.ndarray], path: Path, fps: float) -> None:
    images, shape = [], None
    for frame in frames:
        rgb = _check_frame(frame, shape)
        shape = np.asarray(frame).shape
        images.append(Image.fromarray(rgb, "RGB"))
    if not images:
        raise ValueError("a video needs at least one frame")
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=max(int(1000 / fps), 20),
                   loop=0)

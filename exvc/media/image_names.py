"""Image file names as FFmpeg's image2 muxer reads them: which names are images, which are
numbered sequences (``out_%03d.png``), and the encoder an extension implies.

No PyAV here: the CLI asks these questions while it lists inputs and checks outputs.
"""

from __future__ import annotations

import os
import re

# The encoder ffmpeg's image2 muxer picks from an image file's extension (FFmpeg's own
# default for image2 is mjpeg whatever the name says).
IMAGE_CODECS = {
    "png": "png", "jpg": "mjpeg", "jpeg": "mjpeg", "jpe": "mjpeg", "jfif": "mjpeg",
    "bmp": "bmp", "tif": "tiff", "tiff": "tiff", "ppm": "ppm", "pnm": "ppm", "pgm": "pgm",
    "pbm": "pbm", "webp": "libwebp", "gif": "gif", "tga": "targa", "qoi": "qoi",
    "jp2": "jpeg2000", "j2k": "jpeg2000", "exr": "exr", "dpx": "dpx", "sgi": "sgi",
}
_PATTERN = re.compile(r"%0?\d*d")


def is_image_name(url: str) -> bool:
    """Whether a file name has an image extension (FFmpeg's image2 muxer writes it)."""
    return os.path.splitext(url)[1].lstrip(".").lower() in IMAGE_CODECS


def is_image_pattern(url: str) -> bool:
    """Whether a file name is an image-sequence pattern such as ``out_%03d.png`` (a ``%d`` in
    any other name, ``out%d.mkv``, is just a character of the name, as in ffmpeg)."""
    return is_image_name(url) and bool(_PATTERN.search(os.path.basename(url)))


def pattern_regex(url: str) -> re.Pattern:
    """The names an image-sequence pattern can produce (``out_%03d.png``: ``out_`` digits
    ``.png``)."""
    parts = _PATTERN.split(os.path.basename(url))
    return re.compile(r"\d+".join(re.escape(p) for p in parts))


def single_image_error(url: str) -> str:
    """ffmpeg's message for several frames sent to one image file."""
    return (f"Could not get frame filename number 2 from pattern '{url}'. Use '-frames:v 1' "
            "for a single image, or use a pattern such as %03d within the filename.")

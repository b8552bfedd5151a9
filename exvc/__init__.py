"""exvc: an FFmpeg-compatible transcoder for extreme low-bitrate video.

The video is held by a small per-clip implicit neural representation (INR) whose
quantised weights are range-coded into a ``.dinr`` container.
"""

__version__ = "0.1.0"

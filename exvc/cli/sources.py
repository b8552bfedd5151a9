"""The input side: tell a .dinr from a video by its first bytes, and open it.

Both kinds expose the same small surface (``video``, ``describe()``, ``close()``) so that
``run`` can plan the output without caring which it has. Heavy modules (PyAV, the decoder,
torch) are imported here, inside functions, only when an input is actually opened.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, BinaryIO

from exvc.media.types import VideoInfo

from .errors import CliError
from .frames import Window, apply_window
from .info import dinr_info_lines, format_name, video_info_lines
from .options import InputSpec


def _threads(n: int | None) -> int | None:
    return n or None


class DinrSource:
    """A .dinr read whole into memory; ``video`` is what its decode delivers after the
    input options (a forced ``-r``, ``-ss/-t/-to``)."""

    kind = "dinr"

    def __init__(self, spec: InputSpec, label: str, data: bytes, threads: int | None,
                 hwaccel: str = "auto") -> None:
        from exvc.decode.decoder import probe

        for name in spec.given:
            if name.split(":")[0] in ("s", "pix_fmt"):
                raise CliError(f"Option {name} cannot be applied to a .dinr input "
                               "(its frame size and pixel format are in the file)")
        self.label = label
        self.data = data
        self.threads, self.hwaccel = threads, hwaccel
        self.prior = spec.prior
        self._decoded: Any = None
        try:
            self.dinr = probe(data)
        except ValueError as exc:  # DinrError
            raise CliError(f"{label}: {exc}") from None
        video: VideoInfo = self.dinr.video
        self.fps = Fraction(spec.rate or video.fps)
        self.window = Window.of(spec.start, spec.duration, spec.end)
        self.video = video.with_(fps=self.fps, frames=self.window.count(video.frames, self.fps))

    @property
    def changed_by_input_options(self) -> bool:
        return not self.window.is_everything or self.fps != self.dinr.video.fps

    def describe(self, index: int = 0) -> list[str]:
        return dinr_info_lines(self.dinr, self.label, index)

    def prepare(self) -> None:
        """Parse every segment (limits, CRCs, entropy streams) so that a damaged or hostile
        file is refused before an output is opened. Idempotent; imports torch."""
        if self._decoded is not None:
            return
        from exvc.decode.decoder import decode_video

        try:
            _, self._decoded = decode_video(self.data, threads=self.threads, prior=self.prior,
                                          hwaccel=self.hwaccel)
        except ValueError as exc:  # DinrError
            raise CliError(f"{self.label}: {exc}") from None

    def frames(self) -> Any:
        self.prepare()
        frames, self._decoded = self._decoded, None
        return apply_window(frames, self.window, self.fps)

    def close(self) -> None:
        pass

    def __enter__(self) -> DinrSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MediaSource:
    """A video opened by the media layer; it applies the input options itself."""

    kind = "video"

    def __init__(self, spec: InputSpec, label: str, handle: str | BinaryIO,
                 threads: int | None) -> None:
        from exvc.media.reader import InputOptions, open_input

        if spec.prior is not None:
            raise CliError(f"{label}: -prior applies to .dinr inputs only")

        opts = InputOptions(fmt=spec.fmt, video_size=spec.size, pix_fmt=spec.pix_fmt,
                            framerate=spec.rate, start=spec.start, duration=spec.duration,
                            end=spec.end, threads=threads)
        self.label = label
        self.fmt = format_name(spec.url, spec.fmt)
        self.size_bytes = _file_size(spec)
        self.source = open_input(handle, opts)
        self.video: VideoInfo = self.source.info

    def describe(self, index: int = 0) -> list[str]:
        from exvc.media.audio import describe_stream

        return video_info_lines(self.video, self.label, self.fmt, self.size_bytes, index,
                                describe_stream(self.source.audio_stream))

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _file_size(spec: InputSpec) -> int | None:
    try:
        return os.path.getsize(spec.url) if os.path.isfile(spec.url) else None
    except OSError:
        return None


def _read_all(handle: str | BinaryIO, label: str) -> bytes:
    if not isinstance(handle, str):
        return handle.read()
    try:
        with open(handle, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CliError(f"{label}: {exc.strerror or exc}") from None


def open_source(spec: InputSpec, threads: int | None,
                hwaccel: str = "auto") -> DinrSource | MediaSource:
    """Open the input: a .dinr with ``-f dinr`` or when it starts with the magic ``DINR``
    (sniffed without losing the bytes, stdin included), otherwise through the media layer.
    ``hwaccel``: where a .dinr's prior samples."""
    from exvc.media.probe import is_dinr_bytes, peek_input

    label = "pipe:0" if spec.is_stdin else spec.url
    threads = _threads(threads)
    handle: str | BinaryIO
    if spec.fmt == "dinr":
        handle = spec.url
        if spec.is_stdin:
            import sys

            handle = sys.stdin.buffer
        return DinrSource(spec, label, _read_all(handle, label), threads, hwaccel)
    if spec.fmt is not None:
        return MediaSource(spec, label, spec.url, threads)
    prefix, handle = peek_input(spec.url)
    if is_dinr_bytes(prefix):
        return DinrSource(spec, label, _read_all(handle, label), threads, hwaccel)
    return MediaSource(spec, label, handle, threads)

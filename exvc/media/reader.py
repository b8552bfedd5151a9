"""Video input on PyAV: any file or pipe FFmpeg can demux, delivered as float32 RGB frames.

Frames leave this module as ``(3, H, W)`` float32 in [0, 1]. Sources deeper than 8 bits are
converted through ``rgb48le`` so 10-bit material keeps its precision. The YUV->RGB matrix and
range come from each decoded frame's own tags (swscale reads them), as in ffmpeg.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np
from av.video.reformatter import Interpolation

from .audio import AudioCapture
from .errors import MediaError, from_av_error
from .filter_graph import VideoFilter
from .filter_syntax import changes_timing
from .probe import as_prefixed, is_stdin, stdin_reader
from .types import ColourInfo, VideoInfo

log = logging.getLogger(__name__)

# Containers that need seeking to be read (index at the end): spooled to disk from a pipe.
_SEEK_ONLY_FORMATS = {"mp4", "mov", "m4a", "3gp", "3g2", "mj2", "mov,mp4,m4a,3gp,3g2,mj2", "ipod"}
_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}


@dataclass
class InputOptions:
    """ffmpeg input options (those given before ``-i``); every field is optional."""

    fmt: str | None = None
    video_size: tuple[int, int] | None = None
    pix_fmt: str | None = None
    framerate: Fraction | None = None
    start: float | None = None
    duration: float | None = None
    end: float | None = None
    threads: int | None = None


def pix_fmt_depth(name: str) -> int:
    """Bits per component of an FFmpeg pixel format (the deepest component)."""
    try:
        return max(c.bits for c in av.VideoFormat(name).components)
    except (ValueError, TypeError):
        return 8


def pix_fmt_components(name: str) -> int:
    """Number of components of an FFmpeg pixel format (4 for yuva420p or rgba);
    ValueError for an unknown name."""
    return len(av.VideoFormat(name).components)


def _probe_colour(ctx) -> ColourInfo:
    return ColourInfo(
        matrix=int(ctx.colorspace),
        primaries=int(ctx.color_primaries),
        transfer=int(ctx.color_trc),
        full_range=int(ctx.color_range) == 2,  # AVCOL_RANGE_JPEG
    )


def frame_to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None = None) -> np.ndarray:
    """One decoded frame -> float32 (3, H, W) in [0, 1], optionally scaled to ``size``.

    Area filtering when shrinking (no aliasing), bicubic otherwise (ffmpeg's default).
    """
    w, h = size or (frame.width, frame.height)
    deep = pix_fmt_depth(frame.format.name) > 8
    shrink = w < frame.width or h < frame.height
    interp = (Interpolation.AREA if shrink else Interpolation.BICUBIC) | Interpolation.ACCURATE_RND
    if (w, h) == (frame.width, frame.height):
        interp |= Interpolation.FULL_CHR_H_INT
    rgb = frame.reformat(
        width=w, height=h, format="rgb48le" if deep else "rgb24", interpolation=interp
    ).to_ndarray()
    out = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
    out *= np.float32(1.0 / (65535.0 if deep else 255.0))
    return out


@dataclass(frozen=True)
class Filtered:
    """What a filter graph made of a frame sequence: the first output frame's size, pixel
    format and rate, whether the count is kept, and the float RGB frames."""

    width: int
    height: int
    pix_fmt: str
    fps: Fraction
    keeps_count: bool
    frames: Iterator[np.ndarray]


def filter_arrays(frames: Iterable[np.ndarray], text: str, fps: Fraction) -> Filtered | None:
    """Run ``-vf text`` on float RGB frames (3, H, W) of rate ``fps`` (a decoded .dinr);
    None when the graph lets no frame through. The first frame is filtered now."""
    vf = VideoFilter(text, fps)

    def as_frames() -> Iterator[tuple[Fraction, av.VideoFrame]]:
        for i, rgb in enumerate(frames):
            words = np.clip(np.rint(rgb.transpose(1, 2, 0) * 65535.0), 0, 65535)
            yield Fraction(i) / fps, av.VideoFrame.from_ndarray(
                np.ascontiguousarray(words, dtype=np.uint16), format="rgb48le")

    stream = vf.run(as_frames())
    first = next(stream, None)
    if first is None:
        return None
    frame = first[1]
    rate = vf.rate_of(frame, fps)
    out = (frame_to_rgb(f) for _, f in itertools.chain([first], stream))
    return Filtered(frame.width, frame.height, frame.format.name, rate,
                    not changes_timing(vf.chains), out)


class VideoSource:
    """An opened input: ``info`` now, frames on demand. Use as a context manager."""

    def __init__(self, container, stream, info: VideoInfo, label: str, opts: InputOptions,
                 seekable: bool, spool: str | None = None) -> None:
        self.info = info
        self._container = container
        self._stream = stream
        self._label = label
        self._opts = opts
        self._seekable = seekable
        self._spool = spool
        self._used = False
        self._start, self._stop = _window(opts)
        self._eps = _tolerance(info.fps)
        # True when the frame times are irregular (see _is_variable_rate); the CLI then asks
        # frames() for a constant rate, which places frames by their timestamps.
        self.variable_rate = False
        self._filtered: Iterator[tuple[Fraction, av.VideoFrame]] | None = None
        self._audio: AudioCapture | None = None

    @property
    def start(self) -> Fraction:
        """The input's -ss: the source time of the first frame delivered."""
        return self._start

    @property
    def audio_stream(self):
        """The input's first audio stream, or None."""
        streams = self._container.streams.audio if self._container is not None else ()
        return streams[0] if streams else None

    def capture_audio(self, channels: int | None = None,
                      copy: bool = False) -> AudioCapture | None:
        """Collect the first audio stream while the video is read (one pass: pipes too),
        decoded, or as coded packets with ``copy``; None when there is none. Call before
        ``frames()``."""
        stream = self.audio_stream
        if stream is None:
            return None
        self._audio = AudioCapture(stream, channels, copy)
        return self._audio

    def apply_filter(self, text: str) -> VideoInfo:
        """Pass the frames through the libavfilter graph ``text`` (ffmpeg's ``-vf``), after
        the input's -ss/-t. The first frame is filtered now, so that ``info`` tells the
        output's size, pixel format and rate (the count stays known only when no filter of
        the graph adds, drops or re-times frames). Call before ``frames()``."""
        vf = VideoFilter(text, self.info.fps)
        stream = vf.run(self._selected())
        first = next(stream, None)
        if first is None:
            self._filtered = iter(())
            self.info = self.info.with_(frames=0)
            return self.info
        self._filtered = itertools.chain([first], stream)
        frame = first[1]
        rate = vf.rate_of(frame, self.info.fps)
        retimed = changes_timing(vf.chains)
        self.info = self.info.with_(
            width=frame.width, height=frame.height, pix_fmt=frame.format.name,
            bit_depth=pix_fmt_depth(frame.format.name), fps=rate,
            frames=None if retimed else self.info.frames)
        # a graph that re-times frames is resampled by the times it gives them
        self.variable_rate = self.variable_rate or retimed
        return self.info

    # -- public ---------------------------------------------------------------------------

    def expected_frames(self, max_frames: int | None = None,
                        rate: Fraction | None = None) -> int | None:
        """How many frames ``frames(max_frames, rate=rate)`` will yield, if known."""
        n = self.info.frames
        if n is not None and rate is not None:
            n = math.ceil(Fraction(n) * Fraction(rate) / self.info.fps)
        if max_frames is not None:
            n = max_frames if n is None else min(n, max_frames)
        return n

    def info_for(self, max_frames: int | None = None, size: tuple[int, int] | None = None,
                 rate: Fraction | None = None) -> VideoInfo:
        """The VideoInfo describing what ``frames(max_frames, size, rate)`` delivers."""
        w, h = size or (self.info.width, self.info.height)
        return self.info.with_(width=w, height=h, fps=Fraction(rate or self.info.fps),
                               frames=self.expected_frames(max_frames, rate))

    def frames(self, max_frames: int | None = None, size: tuple[int, int] | None = None,
               rate: Fraction | None = None) -> Iterator[np.ndarray]:
        """Yield float32 RGB frames (3, H, W) in [0, 1]. Single pass: call once.

        ``size`` = (W, H) scales; ``rate`` resamples like ffmpeg's output ``-r``: output
        frame i is the source frame whose time is nearest to i/rate (ties to the earlier).
        """
        if self._used:
            raise RuntimeError("VideoSource.frames() can only be iterated once")
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise MediaError(f"invalid output size {size!r}")
        if rate is not None and Fraction(rate) <= 0:
            raise MediaError(f"invalid frame rate {rate}")
        self._used = True
        return self._generate(max_frames, size, rate)

    def _generate(self, max_frames: int | None, size: tuple[int, int] | None,
                  rate: Fraction | None) -> Iterator[np.ndarray]:
        if max_frames is not None and max_frames <= 0:
            return
        selected = self._selected() if self._filtered is None else self._filtered
        if rate is None:
            chosen = (frame for _, frame in selected)
        else:
            chosen = _resample(selected, Fraction(rate), 1 / self.info.fps, self._span())
        for n, frame in enumerate(chosen, 1):
            # Converted per output frame: duplicates (rate up) must not share one array.
            yield frame_to_rgb(frame, size)
            if max_frames is not None and n >= max_frames:
                break

    def close(self) -> None:
        """Close the demuxer and delete the stdin spool file, if any. Idempotent."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - closing a broken input must not mask errors
                pass
            self._container = None
        if self._spool:
            try:
                os.unlink(self._spool)
            except OSError:
                pass
            self._spool = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------

    def _span(self) -> Fraction | None:
        return None if self._stop is None else self._stop - self._start

    def _origin(self) -> Fraction:
        """Presentation time that -ss 0 refers to (ffmpeg subtracts the input start time)."""
        s = self._stream
        if s.start_time is not None and s.time_base:
            return Fraction(s.start_time) * s.time_base
        if self._container.start_time is not None:
            return Fraction(self._container.start_time, 1_000_000)
        return Fraction(0)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """Decoded frames in presentation order; undecodable packets are skipped like ffmpeg."""
        errors, delivered = 0, 0
        audio = self._audio
        streams = (self._stream,) if audio is None else (self._stream, audio.stream)
        origin = self._origin()
        try:
            for packet in self._container.demux(*streams):
                if audio is not None and packet.stream is audio.stream:
                    audio.add(packet, origin)
                    continue
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError as exc:
                    errors += 1
                    log.warning("%s: skipping undecodable packet (%s)", self._label, exc)
                    continue
                for frame in frames:
                    delivered += 1
                    yield frame
        except (av.error.FFmpegError, OSError) as exc:
            benign = isinstance(exc, (av.error.InvalidDataError, av.error.EOFError))
            if delivered == 0 or not benign:
                raise from_av_error(exc, self._label) from None
            log.warning("%s: stream ends early (%s)", self._label, exc)
        if delivered == 0 and errors:
            raise MediaError(f"'{self._label}' is corrupt or truncated: no frame could be decoded")

    def _timed(self) -> Iterator[tuple[Fraction, av.VideoFrame]]:
        """(seconds since -ss origin, frame). A forced input rate re-times frames by index."""
        forced = self._opts.framerate is not None and self._opts.fmt != "rawvideo"
        step = 1 / self.info.fps
        origin = self._origin()
        if self._start > 0 and self._seekable and not forced:
            target = origin + self._start
            try:
                self._container.seek(int(target / self._stream.time_base), stream=self._stream)
            except (av.error.FFmpegError, OSError) as exc:
                log.info("%s: seek failed (%s), decoding from the start", self._label, exc)
        prev = None
        for index, frame in enumerate(self._decoded()):
            if forced or frame.pts is None or frame.time_base is None:
                t = index * step if forced or prev is None else prev + step
            else:
                t = Fraction(frame.pts) * frame.time_base - origin
            prev = t
            yield t, frame

    def _selected(self) -> Iterator[tuple[Fraction, av.VideoFrame]]:
        """Frames inside [-ss, -ss+-t) or [-ss, -to), times made relative to -ss."""
        for t, frame in self._timed():
            if t < self._start - self._eps:
                continue
            if self._stop is not None and t >= self._stop - self._eps:
                break
            yield t - self._start, frame


def _resample(timed: Iterable[tuple[Fraction, av.VideoFrame]], rate: Fraction, step: Fraction,
              span: Fraction | None) -> Iterator[av.VideoFrame]:
    """Constant-rate output: output i shows the source frame nearest to time i/rate."""
    i, prev_t, prev = 0, None, None
    for t, frame in timed:
        if prev is not None:
            mid = (prev_t + t) / 2
            while Fraction(i) / rate <= mid:
                yield prev
                i += 1
        prev_t, prev = t, frame
    if prev is None:
        return
    end = prev_t + step
    if span is not None:
        end = min(end, span)
    while Fraction(i) / rate < end:
        yield prev
        i += 1


def _count_frames(stream, path: str | None, fmt: str | None, options: dict) -> int | None:
    """Total frames in the stream: from the container's index, else by counting packets.

    Matroska and NUT do not store a frame count and their durations are off by a frame, so
    a local file is demuxed once (no decoding; cheap next to encoding) to count exactly.
    """
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base and stream.average_rate:
        return round(Fraction(stream.duration) * stream.time_base * Fraction(stream.average_rate))
    if path is None:
        return None
    try:
        with av.open(path, "r", format=fmt, options=options) as probe:
            counted = next(s for s in probe.streams if s.index == stream.index)
            return sum(1 for p in probe.demux(counted) if p.size)
    except (av.error.FFmpegError, OSError, StopIteration):
        return None


def _packet_times(stream, path: str, fmt: str | None, options: dict) -> list[Fraction] | None:
    """Presentation times (seconds, sorted) of every packet of a local file, without decoding;
    None when they cannot be read. Used to tell a variable-frame-rate source."""
    try:
        with av.open(path, "r", format=fmt, options=options) as probe:
            s = next(x for x in probe.streams if x.index == stream.index)
            times = [Fraction(p.pts) * s.time_base for p in probe.demux(s)
                     if p.size and p.pts is not None]
    except (av.error.FFmpegError, OSError, StopIteration):
        return None
    return sorted(times) if times else None


def _is_variable_rate(times: list[Fraction] | None, fps: Fraction) -> bool:
    """Whether frame times stray from the constant grid ``k / fps`` by half a frame or more
    (frame gaps, mixed rates): such a source is resampled to ``fps`` like ffmpeg's cfr mode."""
    if not times or len(times) < 2:
        return False
    step = 1 / fps
    t0 = times[0]
    return any(abs(t - t0 - k * step) >= step / 2 for k, t in enumerate(times))


def _window(opts: InputOptions) -> tuple[Fraction, Fraction | None]:
    """[start, stop) in seconds from -ss and -t or -to (-t wins, as in ffmpeg)."""
    start = Fraction(opts.start or 0)
    if opts.duration is not None:
        return start, start + Fraction(opts.duration)
    if opts.end is not None:
        return start, Fraction(opts.end)
    return start, None


def _tolerance(fps: Fraction) -> Fraction:
    """Timestamp slack: containers round times (Matroska to 1 ms), floats are inexact."""
    return min(Fraction(1, 1000), 1 / (4 * fps))


def _select_count(total: int | None, fps: Fraction, opts: InputOptions) -> int | None:
    """Frames k with k/fps in [start, stop), assuming a constant rate."""
    if total is None:
        return None
    start, stop = _window(opts)
    eps = _tolerance(fps)
    first = max(0, math.ceil((start - eps) * fps))
    last = total if stop is None else min(total, math.ceil((stop - eps) * fps))
    return max(0, last - first)


def _rawvideo_options(opts: InputOptions) -> dict[str, str]:
    if not opts.video_size:
        raise MediaError("rawvideo input needs a frame size (-s WxH before -i)")
    try:
        w, h = (int(v) for v in opts.video_size)
    except (TypeError, ValueError):
        raise MediaError(f"invalid rawvideo frame size {opts.video_size!r}") from None
    if w <= 0 or h <= 0:
        raise MediaError(f"invalid rawvideo frame size {w}x{h}")
    pix_fmt = opts.pix_fmt or "yuv420p"
    try:
        av.VideoFormat(pix_fmt)
    except (ValueError, TypeError):
        raise MediaError(f"unknown pixel format '{pix_fmt}'") from None
    rate = Fraction(opts.framerate or 25)
    if rate <= 0:
        raise MediaError(f"invalid rawvideo frame rate {rate}")
    return {"video_size": f"{w}x{h}", "pixel_format": pix_fmt,
            "framerate": f"{rate.numerator}/{rate.denominator}"}


def _check_format(fmt: str | None) -> None:
    if fmt is None:
        return
    try:
        av.ContainerFormat(fmt, "r")
    except ValueError:
        raise MediaError(f"unknown input format '{fmt}'") from None


def _spool(reader: BinaryIO, label: str) -> str:
    fd, path = tempfile.mkstemp(prefix="exvc-stdin-", suffix=".mp4")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(reader, out, 1 << 20)
    except BaseException as exc:
        os.unlink(path)
        if isinstance(exc, OSError):
            raise from_av_error(exc, label) from None
        raise
    return path


def open_input(url: str | BinaryIO, opts: InputOptions | None = None) -> VideoSource:
    """Open a video input: a path or URL, ``-``/``pipe:0`` for stdin, or a binary stream.

    A peeked stdin should be passed as the ``PrefixedReader`` from ``probe.peek_input``.
    MP4/MOV from a pipe are spooled to a temporary file because their index needs seeking.
    """
    opts = opts or InputOptions()
    _check_format(opts.fmt)
    options = _rawvideo_options(opts) if opts.fmt == "rawvideo" else {}
    label = url if isinstance(url, str) and not is_stdin(url) else "pipe:0"
    spool = None
    seekable = True
    if isinstance(url, str) and not is_stdin(url):
        target: str | BinaryIO = url
        if "://" not in url:
            if not os.path.exists(url):
                raise MediaError(f"'{url}': no such file or directory")
            if os.path.isdir(url):
                raise MediaError(f"'{url}' is a directory")
            if os.path.isfile(url) and os.path.getsize(url) == 0:
                raise MediaError(f"'{url}' is empty")
            seekable = os.path.isfile(url)
    else:
        reader = stdin_reader() if isinstance(url, str) else as_prefixed(url)
        head = reader.peek(12)
        if not head:
            raise MediaError(f"'{label}' is empty (no input data)")
        if opts.fmt in _SEEK_ONLY_FORMATS or (opts.fmt is None and head[4:8] in _MP4_BOXES):
            spool = _spool(reader, label)
            target = spool
        else:
            target = reader
            seekable = False
    try:
        container = av.open(target, "r", format=opts.fmt, options=options)
    except Exception as exc:
        if spool:
            os.unlink(spool)
        raise from_av_error(exc, label) from None
    try:
        local = target if isinstance(target, str) and seekable and "://" not in target else None
        return _make_source(container, label, opts, seekable, spool, local, options)
    except BaseException:
        container.close()
        if spool:
            os.unlink(spool)
        raise


def _make_source(container, label: str, opts: InputOptions, seekable: bool,
                 spool: str | None, local: str | None, options: dict) -> VideoSource:
    if container.format.name == "tty" and opts.fmt is None:
        raise MediaError(f"'{label}' looks like a text file, not a video")
    if not container.streams.video:
        raise MediaError(f"no video stream in '{label}'")
    stream = container.streams.best("video") or container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = opts.threads or 0
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise MediaError(f"'{label}': video stream has no frame size (corrupt?)")
    fps = opts.framerate or stream.guessed_rate or stream.average_rate or stream.base_rate
    fps = Fraction(fps) if fps else Fraction(25)
    pix_fmt = ctx.format.name if ctx.format is not None else "yuv420p"
    total = _count_frames(stream, local, opts.fmt, options)
    variable = False
    if local is not None and opts.framerate is None and opts.fmt != "rawvideo":
        times = _packet_times(stream, local, opts.fmt, options)
        variable = _is_variable_rate(times, fps)
        if variable and times is not None:
            log.warning("%s: variable frame rate; resampled to a constant %s fps (frames are "
                        "repeated or dropped by their timestamps)", label, _rate_text(fps))
            span = times[-1] - times[0] + 1 / fps
            total = math.ceil(span * fps - _tolerance(fps))
    info = VideoInfo(
        width=int(ctx.width),
        height=int(ctx.height),
        fps=fps,
        pix_fmt=pix_fmt,
        bit_depth=pix_fmt_depth(pix_fmt),
        colour=_probe_colour(ctx),
        frames=_select_count(total, fps, opts),
    )
    source = VideoSource(container, stream, info, label, opts, seekable, spool)
    source.variable_rate = variable
    return source


def _rate_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.4g}"


__all__ = ["Filtered", "InputOptions", "MediaError", "VideoSource", "filter_arrays",
           "frame_to_rgb", "open_input",
           "pix_fmt_components", "pix_fmt_depth"]

"""Video output on PyAV: float32 RGB frames in, any muxer/encoder FFmpeg has out.

File outputs are atomic: frames go to a hidden temporary file beside the target, which
``close()`` renames over it only after the encoder and muxer finished, so a failed or
interrupted run never leaves a half-written or clobbered file. An image sequence
(``out_%03d.png``) is written into a hidden folder beside its files and moved into place the
same way; a single image (``frame.png``) takes one frame, as in ffmpeg.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np
from av.video.reformatter import Interpolation

from .errors import MediaError, OutputClosed, from_av_error
from .image_names import IMAGE_CODECS, is_image_pattern, single_image_error
from .reader import pix_fmt_depth
from .scheduling import kept_scheduling
from .types import VideoInfo

STDOUT_NAMES = ("-", "pipe:1", "pipe:")

# Default encoder per muxer (FFmpeg's own default for anything not listed).
_DEFAULT_CODEC = {
    "mp4": "libx264", "mov": "libx264", "ipod": "libx264", "mpegts": "libx264",
    "h264": "libx264", "flv": "libx264", "hevc": "libx265",
    "matroska": "ffv1", "avi": "ffv1",
    "webm": "libvpx-vp9", "ivf": "libvpx-vp9",
    "yuv4mpegpipe": "rawvideo", "nut": "rawvideo", "rawvideo": "rawvideo",
}
# Near-transparent settings for lossy encoders (overridable with codec_options).
_CODEC_DEFAULTS = {
    "libx264": {"crf": "12"}, "libx264rgb": {"crf": "12"}, "libx265": {"crf": "12"},
    "libvpx-vp9": {"crf": "15", "b": "0", "cpu-used": "4", "row-mt": "1"},
    "libsvtav1": {"crf": "20"},
}
_PRESET_CODECS = {"libx264", "libx264rgb", "libx265", "libsvtav1"}
_LOSSLESS_ODD_OK = {"ffv1", "rawvideo"}  # encoders that take subsampled chroma at odd sizes
# Pixel formats the yuv4mpegpipe muxer accepts (it has no list FFmpeg exposes to us).
_Y4M_FORMATS = {
    "gray", "gray9le", "gray10le", "gray12le", "gray16le", "yuv411p", "yuv420p", "yuv422p",
    "yuv444p", "yuva444p", "yuv420p9le", "yuv422p9le", "yuv444p9le", "yuv420p10le",
    "yuv422p10le", "yuv444p10le", "yuv420p12le", "yuv422p12le", "yuv444p12le",
    "yuv420p14le", "yuv422p14le", "yuv444p14le", "yuv420p16le", "yuv422p16le", "yuv444p16le",
}
_FULL_RANGE_CODECS = {"mjpeg"}  # JPEG is full-range YUV
_FRAGMENTED_MP4 = "frag_keyframe+empty_moov+default_base_moof"
# H.273 matrix -> swscale colourspace constant (the YUV matrices swscale implements).
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


@dataclass
class OutputOptions:
    """ffmpeg output options. ``codec_options`` are extra encoder AVOptions ({"crf": "18"})."""

    fmt: str | None = None
    codec: str | None = None
    pix_fmt: str | None = None
    preset: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    codec_options: dict[str, str] = field(default_factory=dict)
    audio_channels: int | None = None  # an audio stream of 1 or 2 channels at 48 kHz
    audio_codec: str | None = None  # -c:a; default: the muxer's
    audio_bitrate: int | None = None  # -b:a
    audio_template: object | None = None  # the input's audio stream, for -c:a copy


def _chroma_shift(pix_fmt: str) -> tuple[int, int]:
    """(log2 horizontal, log2 vertical) chroma subsampling; (0, 0) for RGB/gray/4:4:4."""
    fmt = av.VideoFormat(pix_fmt, 16, 16)
    if fmt.is_rgb or len(fmt.components) < 3:
        return 0, 0
    c = fmt.components[1]
    return (16 // max(c.width, 1)).bit_length() - 1, (16 // max(c.height, 1)).bit_length() - 1


def _depth_suffix(depth: int) -> str:
    return "" if depth <= 8 else f"{min(max(depth, 9), 16)}le"


def _preferences(info: VideoInfo, codec: str, odd: bool) -> list[str]:
    """Pixel formats to try, best first, for a source described by ``info``."""
    depth = info.bit_depth if info.bit_depth > 8 else 8
    sfx = _depth_suffix(depth)
    if codec in ("libx264", "libx265"):
        # The documented default: widely playable 4:2:0, but never lose the bit depth,
        # and 4:4:4 when the size is odd (x264/x265 need even sizes for 4:2:0).
        base = "yuv444p" if odd else "yuv420p"
        return [base + ("10le" if depth > 8 else ""), base, "yuv444p"]
    try:
        src = av.VideoFormat(info.pix_fmt)
        is_rgb, is_gray = src.is_rgb, len(src.components) < 3
    except ValueError:
        is_rgb = is_gray = False
    if is_rgb:
        if depth > 8:
            return [f"gbrp{sfx}", "gbrp16le", "rgb48le", f"yuv444p{sfx}", "yuv444p16le",
                    "yuv444p10le", "yuv444p"]
        return ["rgb24", "bgr0", "gbrp", "bgr24", "yuv444p"]
    if is_gray:
        return [f"gray{sfx}", "gray16le", f"yuv420p{sfx}", "gray", "yuv420p"]
    try:
        sx, sy = _chroma_shift(info.pix_fmt)
    except ValueError:
        sx, sy = 1, 1
    layout = {(0, 0): "444", (1, 0): "422", (1, 1): "420"}.get((sx, sy), "420")
    return [f"yuv{layout}p{sfx}", f"yuv444p{sfx}", "yuv444p16le", f"yuv{layout}p", "yuv420p",
            "yuv444p"]


def choose_pix_fmt(info: VideoInfo, codec_name: str, muxer: str,
                   requested: str | None = None) -> str:
    """The pixel format to encode ``info`` with: requested, else source-like and supported."""
    codec = av.codec.Codec(codec_name, "w")
    supported = [f.name for f in (codec.video_formats or [])]
    if muxer == "yuv4mpegpipe":
        supported = [f for f in supported if f in _Y4M_FORMATS] or sorted(_Y4M_FORMATS)
    odd = info.width % 2 == 1 or info.height % 2 == 1

    def fits(name: str) -> bool:
        if supported and name not in supported:
            return False
        if odd and codec.name not in _LOSSLESS_ODD_OK:
            sx, sy = _chroma_shift(name)
            if (sx and info.width % 2) or (sy and info.height % 2):
                return False
        return True

    if requested:
        try:
            av.VideoFormat(requested)
        except ValueError:
            raise MediaError(f"unknown pixel format '{requested}'") from None
        if supported and requested not in supported:
            raise MediaError(f"{codec.name} cannot encode {requested} "
                             f"(it takes: {', '.join(supported[:12])})")
        if not fits(requested):
            raise MediaError(f"{codec.name} cannot encode {requested} at the odd size "
                             f"{info.width}x{info.height}; try -pix_fmt yuv444p")
        return requested
    for name in _preferences(info, codec.name, odd):
        if fits(name):
            return name
    for name in supported:
        if fits(name):
            return name
    raise MediaError(f"{codec.name} has no pixel format for {info.width}x{info.height} video")


class _Staged:
    """Where a file output is written until ``commit``: a hidden file beside the target, or
    for an image sequence a hidden folder whose files are moved beside it."""

    def __init__(self, tmp: str, target: str, folder: bool = False) -> None:
        self.tmp, self.target, self.folder = tmp, target, folder

    def commit(self) -> None:
        if not self.folder:
            os.replace(self.tmp, self.target)
            return
        dest = os.path.dirname(os.path.abspath(self.target))
        for name in sorted(os.listdir(self.tmp)):
            os.replace(os.path.join(self.tmp, name), os.path.join(dest, name))
        os.rmdir(self.tmp)

    def discard(self) -> None:
        if self.folder:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass


class VideoSink:
    """An output being written. ``close()`` commits it, ``abort()`` throws it away."""

    def __init__(self, container, stream, pix_fmt: str, info: VideoInfo, label: str,
                 staged: _Staged | None, pipe: BinaryIO | None,
                 max_frames: int | None = None) -> None:
        self.info = info
        self.pix_fmt = pix_fmt
        self._container = container
        self._stream = stream
        self._label = label
        self._staged = staged
        self._pipe = pipe
        self._max_frames = max_frames  # 1 for a single image file
        self._index = 0
        self.audio_stream = None  # set by open_output when the output carries audio
        self._time_base = 1 / Fraction(info.fps)
        self._deep = pix_fmt_depth(pix_fmt) > 8
        fmt = av.VideoFormat(pix_fmt)
        self._yuv = not fmt.is_rgb and len(fmt.components) >= 3
        self._sws_matrix = _SWS_MATRIX.get(info.colour.matrix) if self._yuv else None
        full = info.colour.full_range or stream.codec_context.name in _FULL_RANGE_CODECS
        self._range = (2 if full else 1) if self._yuv else None

    @property
    def frames_written(self) -> int:
        return self._index

    def write(self, frame: np.ndarray) -> None:
        """Encode one float32 RGB frame (3, H, W) in [0, 1] (values outside are clipped)."""
        if self._container is None:
            raise MediaError(f"'{self._label}' is already closed")
        frame = np.asarray(frame)
        want = (3, self.info.height, self.info.width)
        if frame.shape != want:
            raise MediaError(f"frame of shape {frame.shape} written to a {want} output")
        if self._max_frames is not None and self._index >= self._max_frames:
            raise MediaError(single_image_error(self._label))
        vf = self._to_video_frame(frame)
        vf.pts, vf.time_base = self._index, self._time_base
        self._index += 1
        try:
            with kept_scheduling():  # libsvtav1 as root would leave the thread real-time
                self._container.mux(self._stream.encode(vf))
        except Exception as exc:
            raise from_av_error(exc, self._label, reading=False) from None

    def write_audio(self, samples: np.ndarray, rate: int = 48000) -> None:
        """Encode 16-bit PCM ``samples`` (n, channels) into the audio stream, if there is
        one; call once, after the video frames."""
        stream = self.audio_stream
        if stream is None or self._container is None or len(samples) == 0:
            return
        layout = "mono" if samples.shape[1] == 1 else "stereo"
        ctx = stream.codec_context
        resampler = av.AudioResampler(format=ctx.format.name, layout=ctx.layout.name,
                                      rate=ctx.sample_rate)
        step = 1024
        try:
            with kept_scheduling():
                for start in range(0, len(samples), step):
                    block = np.ascontiguousarray(samples[start:start + step])
                    frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16",
                                                       layout=layout)
                    frame.sample_rate, frame.pts = rate, start
                    frame.time_base = Fraction(1, rate)
                    for out in resampler.resample(frame):
                        self._container.mux(stream.encode(out))
                for out in resampler.resample(None):
                    self._container.mux(stream.encode(out))
                self._container.mux(stream.encode(None))
        except Exception as exc:
            raise from_av_error(exc, self._label, reading=False) from None

    def copy_audio(self, packets: list, start: float, duration: float) -> None:
        """Mux coded audio packets [(seconds, packet)] whose time lies in [start, start +
        duration), re-timed so that ``start`` is 0 (-c:a copy: whole packets, as ffmpeg)."""
        stream = self.audio_stream
        if stream is None or self._container is None:
            return
        try:
            for seconds, packet in packets:
                if not start - 1e-6 <= seconds < start + duration - 1e-6:
                    continue
                shift = round(Fraction(start) / packet.time_base)
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                packet.stream = stream
                self._container.mux(packet)
        except Exception as exc:
            raise from_av_error(exc, self._label, reading=False) from None

    def close(self) -> None:
        """Flush the encoder, finish the container, and move the file into place."""
        if self._container is None:
            return
        try:
            with kept_scheduling():
                self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None
            if self._pipe is not None:
                self._pipe.flush()
        except Exception as exc:
            err = from_av_error(exc, self._label, reading=False)
            self.abort()
            raise err from None
        if self._staged is not None:
            try:
                self._staged.commit()
            except OSError as exc:
                self.abort()
                raise MediaError(f"cannot write '{self._label}': {exc.strerror}") from None
            self._staged = None

    def abort(self) -> None:
        """Stop writing; the temporary file is removed and an existing target is untouched."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the output is being discarded anyway
                pass
            self._container = None
        if self._staged is not None:
            self._staged.discard()
            self._staged = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _to_video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        x = np.clip(np.nan_to_num(frame.astype(np.float32, copy=False), nan=0.0), 0.0, 1.0)
        if self._deep:
            data = np.rint(x * 65535.0).astype("<u2").transpose(1, 2, 0)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(data), format="rgb48le")
        else:
            data = np.rint(x * 255.0).astype(np.uint8).transpose(1, 2, 0)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(data), format="rgb24")
        if vf.format.name == self.pix_fmt:
            return vf
        return vf.reformat(
            format=self.pix_fmt,
            dst_colorspace=self._sws_matrix,
            dst_color_range=self._range,
            interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND,
        )


def _resolve_muxer(url: str, fmt: str | None, pipe: bool) -> str | None:
    if fmt:
        try:
            av.ContainerFormat(fmt, "w")
        except ValueError:
            raise MediaError(f"unknown output format '{fmt}'") from None
        return fmt
    if pipe:
        raise MediaError("use -f to choose the output format on a pipe")
    return None  # FFmpeg guesses from the file name


def _temp_path(target: str) -> str:
    """A fresh hidden file beside ``target``, same extension (so format guessing works)."""
    folder, name = os.path.split(os.path.abspath(target))
    stem, ext = os.path.splitext(name)
    for _ in range(100):
        path = os.path.join(folder, f".{stem}.exvc-tmp-{secrets.token_hex(4)}{ext}")
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # umask applies
        except FileExistsError:
            continue
        except OSError as exc:
            raise MediaError(f"cannot write '{target}': {exc.strerror}") from None
        os.close(fd)
        return path
    raise MediaError(f"cannot create a temporary file beside '{target}'")


def open_output(url: str | BinaryIO, info: VideoInfo,
                opts: OutputOptions | None = None) -> VideoSink:
    """Open an output for frames described by ``info`` (size, fps, source pix_fmt, colour).

    ``url``: a path (written atomically), ``-``/``pipe:1`` for stdout, or a binary stream.
    Pipes need a streamable muxer named in ``opts.fmt``; MP4/MOV on a pipe are fragmented.
    """
    opts = opts or OutputOptions()
    pipe: BinaryIO | None = None
    staged: _Staged | None = None
    if isinstance(url, str) and url in STDOUT_NAMES:
        pipe, label = sys.stdout.buffer, "pipe:1"
    elif not isinstance(url, str):
        pipe, label = url, "pipe:1"
    else:
        label = url
    muxer = _resolve_muxer(label, opts.fmt, pipe is not None)
    if pipe is not None:
        dest: str | BinaryIO = pipe
    elif "://" in url or (os.path.exists(url) and not os.path.isfile(url)):
        dest = url  # a device (/dev/null), FIFO or network URL: written in place
    elif is_image_pattern(url):
        folder, name = os.path.split(os.path.abspath(url))
        try:
            tmp_dir = tempfile.mkdtemp(dir=folder, prefix=".exvc-tmp-")
        except OSError as exc:
            raise MediaError(f"cannot write '{url}': {exc.strerror}") from None
        staged = _Staged(tmp_dir, url, folder=True)
        dest = os.path.join(tmp_dir, name)
    else:
        staged = _Staged(_temp_path(url), url)
        dest = staged.tmp
    try:
        container = av.open(dest, "w", format=muxer)
    except Exception as exc:
        if staged:
            staged.discard()
        if isinstance(exc, ValueError) and "determine output format" in str(exc):
            raise MediaError(f"cannot tell the output format from '{label}'; use -f") from None
        raise from_av_error(exc, label, reading=False) from None
    try:
        stream, pix_fmt = _setup_stream(container, info, opts, pipe)
    except BaseException as exc:
        try:
            container.close()
        except Exception:  # noqa: BLE001
            pass
        if staged:
            staged.discard()
        if isinstance(exc, MediaError) or not isinstance(exc, Exception):
            raise
        raise from_av_error(exc, label, reading=False) from None
    single = (container.format.name == "image2" and isinstance(url, str)
              and not is_image_pattern(url))
    sink = VideoSink(container, stream, pix_fmt, info, label, staged, pipe,
                     max_frames=1 if single else None)
    if opts.audio_channels:
        try:
            sink.audio_stream = _setup_audio(container, opts)
        except BaseException:
            sink.abort()
            raise
    return sink


def _setup_audio(container, opts: OutputOptions):
    """The output's audio stream (the muxer's default encoder unless -c:a), or None for a
    muxer that carries no audio (y4m, images)."""
    if opts.audio_codec == "copy":
        if opts.audio_template is None:
            raise MediaError("-c:a copy needs the input's coded audio")
        try:
            return container.add_stream_from_template(opts.audio_template)
        except Exception as exc:  # noqa: BLE001 - a codec the muxer cannot hold
            raise MediaError(f"cannot copy {opts.audio_template.codec_context.name} audio into "
                             f"'{container.name}': {exc}") from None
    name = opts.audio_codec or container.default_audio_codec
    if name in (None, "none"):
        return None
    name = {"opus": "libopus", "vorbis": "libvorbis"}.get(name, name)
    if name not in av.codecs_available:
        name = "aac"  # e.g. mp3 for nut and avi, when PyAV has no libmp3lame
    try:
        stream = container.add_stream(name, rate=48000)
    except Exception as exc:  # noqa: BLE001 - unknown or unsuited encoder
        raise MediaError(f"cannot add {name} audio to '{container.name}': {exc}") from None
    stream.codec_context.layout = "mono" if opts.audio_channels == 1 else "stereo"
    if opts.audio_bitrate:
        stream.codec_context.bit_rate = int(opts.audio_bitrate)
    return stream


def _setup_stream(container, info: VideoInfo, opts: OutputOptions,
                  pipe: BinaryIO | None):
    muxer = container.format.name
    ext = os.path.splitext(str(container.name))[1].lstrip(".").lower()
    image = IMAGE_CODECS.get(ext) if muxer in ("image2", "image2pipe") else None
    codec = opts.codec or image or _DEFAULT_CODEC.get(muxer) or container.default_video_codec
    try:
        codec = av.codec.Codec(codec, "w").name
    except Exception:  # noqa: BLE001 - UnknownCodecError or ValueError, by version
        raise MediaError(f"unknown encoder '{codec}'") from None
    pix_fmt = choose_pix_fmt(info, codec, muxer, opts.pix_fmt)
    options = dict(_CODEC_DEFAULTS.get(codec, {}))
    if "b" in opts.codec_options and "crf" not in opts.codec_options:
        options.pop("crf", None)  # -b asks for a bitrate: the quality default would override it
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # errors only: it logs its whole set-up otherwise
    if codec in _PRESET_CODECS:
        options["preset"] = opts.preset or ("medium" if codec != "libsvtav1" else "8")
    elif opts.preset:
        options["preset"] = opts.preset
    if _chroma_shift(pix_fmt) != (0, 0):
        # swscale sites unspecified chroma at the centre; say so, or H.264/HEVC decoders
        # assume "left" and every reader would see chroma shifted by half a sample.
        options["chroma_sample_location"] = "center"
    options.update({k: str(v) for k, v in opts.codec_options.items()})
    fps = Fraction(info.fps)
    stream = container.add_stream(codec, rate=fps, options=options)
    ctx = stream.codec_context
    ctx.width, ctx.height = info.width, info.height
    ctx.pix_fmt = pix_fmt
    ctx.time_base = 1 / fps
    stream.time_base = 1 / fps
    ctx.thread_count = opts.threads or 0
    fmt = av.VideoFormat(pix_fmt)
    if not fmt.is_rgb and len(fmt.components) >= 3:
        colour = info.colour
        if colour.matrix in _SWS_MATRIX:
            ctx.colorspace = colour.matrix
        ctx.color_range = 2 if colour.full_range or codec in _FULL_RANGE_CODECS else 1
    ctx.color_primaries = info.colour.primaries
    ctx.color_trc = info.colour.transfer
    movflags = []
    if muxer in ("mp4", "mov", "ipod"):
        if pipe is not None and not _seekable(pipe):
            movflags.append(_FRAGMENTED_MP4)
        if opts.metadata:
            movflags.append("use_metadata_tags")
    if movflags:
        container.options["movflags"] = "+".join(movflags)
    if muxer == "yuv4mpegpipe" and pix_fmt_depth(pix_fmt) > 8:
        container.options["strict"] = "-1"  # y4m's >8-bit tags are "unofficial" in FFmpeg
    for key, value in opts.metadata.items():
        container.metadata[key] = str(value)
    return stream, pix_fmt


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


__all__ = ["MediaError", "OutputClosed", "OutputOptions", "VideoSink", "choose_pix_fmt",
           "open_output"]

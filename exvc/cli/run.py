"""Dispatch: what to do with one input and one output, and the calls into the codec layers.

=================  =================  ==================================================
input              output             action
=================  =================  ==================================================
video              .dinr              encode: media frames -> ``encode_video`` -> bytes
.dinr              video              decode: ``decode_video`` frames -> media sink
video              video              transcode: media frames -> media sink
.dinr              .dinr              byte copy (re-encoded if options change the video)
any                ``-f null``        frames are produced and dropped (timing a decode)
=================  =================  ==================================================

An output is a .dinr with ``-f dinr`` or a ``.dinr`` name; an input is one with ``-f dinr``
before ``-i`` or when its first four bytes are ``DINR``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from exvc.bitstream.anchors import UNIFORM_STEPS
from exvc.media.image_names import single_image_error
from exvc.media.types import VideoInfo

from .audio import AudioPlan, check_audio_options, first_output_frame, plan_audio
from .bitrate import to_bits_per_second, to_bpp
from .errors import CliError
from .frames import Window, apply_window, resize, retime, retime_count
from .info import CODEC_LONG_NAMES, format_kbps, format_name, output_info_lines
from .log import INFO, VERBOSE, WARNING, Log
from .options import CommandLine, OutputSpec
from .outputs import check_output_target, is_single_image, write_output_bytes
from .progress import Reporter, make_reporter
from .scale import resolve_scale
from .sources import DinrSource, MediaSource, open_source

# Target when a .dinr output has no -b (the encoder needs one).
DEFAULT_BPP = 0.02
DINR_CODECS = ("dinr", "inr")  # encoders that write a .dinr; the first is the default
RESERVED_DINR_CODECS: tuple[str, ...] = ()
# Output options that change the pictures: a .dinr -> .dinr with any of them is re-encoded.
REENCODE_OPTIONS = ("b", "s", "filter", "vf", "r", "ss", "t", "to", "frames", "vframes",
                    "preset", "seed", "pix_fmt", "sc_threshold", "rc_lookahead", "g", "base",
                    "base_scale", "base_framestep", "base_motion", "refresh_threshold")
BASE_OPTIONS = ("base", "base_scale", "base_framestep", "base_motion", "refresh_threshold")


@dataclass
class Plan:
    """What the output receives: ``video`` describes it; ``frames()`` yields it (once)."""

    video: VideoInfo
    frames: Callable[[], Iterator[np.ndarray]]


def _base(name: str) -> str:
    return name.split(":")[0]


def _is_audio(name: str) -> bool:
    """Whether an option's stream specifier names audio (``-b:a``, ``-c:a``)."""
    return name.split(":")[1:2] == ["a"]


def _size_and_rate(src: VideoInfo, out: OutputSpec) -> tuple[tuple[int, int], Fraction]:
    size = (src.width, src.height)
    if out.scale is not None:
        size = resolve_scale(out.scale, src.width, src.height)
    if out.size is not None:
        size = out.size
    return size, Fraction(out.rate or src.fps)


def plan_output(source: DinrSource | MediaSource, out: OutputSpec) -> Plan:
    """Apply the output's -vf, -s, -r, -ss/-t/-to and -frames:v to the source's frames.
    A libavfilter graph filters its first frame here: the output's size comes from it."""
    if out.filter_graph is not None and isinstance(source, DinrSource):
        return _plan_filtered_dinr(source, out)
    if out.filter_graph is not None:
        from exvc.media.errors import MediaError

        try:
            source.video = source.source.apply_filter(out.filter_graph)
        except MediaError as exc:
            raise CliError(str(exc)) from None
    src = source.video
    size, fps = _size_and_rate(src, out)
    window = Window.of(out.start, out.duration, out.end, out.max_frames)
    first, stop = window.index_range(fps)
    if isinstance(source, MediaSource):
        # A variable-rate source is always resampled, so that the output is constant-rate.
        rate = fps if fps != src.fps or source.source.variable_rate else None
        sized = size if size != (src.width, src.height) else None
        total = source.source.expected_frames(stop, rate)

        def frames() -> Iterator[np.ndarray]:
            if stop == 0:
                return iter(())
            raw = source.source.frames(max_frames=stop, size=sized, rate=rate)
            return apply_window(raw, window, fps)
    else:
        total = retime_count(src.frames, src.fps, fps)

        def frames() -> Iterator[np.ndarray]:
            out_frames = apply_window(retime(source.frames(), src.fps, fps), window, fps)
            return resize(out_frames, size) if size != (src.width, src.height) else out_frames
    return _plan(src, size, fps, total, first, stop, out, frames)


def _plan(src: VideoInfo, size: tuple[int, int], fps: Fraction, total: int | None,
          first: int, stop: int | None, out: OutputSpec,
          frames: Callable[[], Iterator[np.ndarray]]) -> Plan:
    count = None if total is None else max(0, (total if stop is None else min(total, stop))
                                            - first)
    video = src.with_(width=size[0], height=size[1], fps=fps, frames=count)
    if out.pix_fmt:
        from exvc.media.reader import pix_fmt_depth

        video = video.with_(pix_fmt=out.pix_fmt, bit_depth=pix_fmt_depth(out.pix_fmt))
    return Plan(video, frames)


def _plan_filtered_dinr(source: DinrSource, out: OutputSpec) -> Plan:
    """A decoded .dinr through a libavfilter graph: its frames are decoded and the first
    one filtered now."""
    from exvc.media.errors import MediaError
    from exvc.media.reader import filter_arrays, pix_fmt_depth

    src = source.video
    try:
        filtered = filter_arrays(source.frames(), out.filter_graph, src.fps)
    except MediaError as exc:
        raise CliError(str(exc)) from None
    if filtered is None:
        return Plan(src.with_(frames=0), lambda: iter(()))
    pix_fmt = src.pix_fmt if filtered.pix_fmt == "rgb48le" else filtered.pix_fmt
    src = src.with_(width=filtered.width, height=filtered.height, pix_fmt=pix_fmt,
                    bit_depth=pix_fmt_depth(pix_fmt), fps=filtered.fps,
                    frames=src.frames if filtered.keeps_count else None)
    size, fps = _size_and_rate(src, out)
    window = Window.of(out.start, out.duration, out.end, out.max_frames)
    first, stop = window.index_range(fps)
    total = retime_count(src.frames, src.fps, fps) if src.frames is not None else None

    def frames() -> Iterator[np.ndarray]:
        out_frames = apply_window(retime(filtered.frames, src.fps, fps), window, fps)
        return resize(out_frames, size) if size != (src.width, src.height) else out_frames
    return _plan(src, size, fps, total, first, stop, out, frames)


def check_output_options(cmd: CommandLine) -> None:
    """Checks that need no I/O, so that mistakes fail before any file is opened."""
    out = cmd.outputs[0]
    progress_to_stdout = cmd.options.progress_url in ("-", "pipe:1", "pipe:")
    if out.is_stdout and progress_to_stdout and not out.is_null:
        raise CliError("-progress cannot write to stdout: the output uses it")
    if out.is_stdout and out.fmt is None:
        raise CliError(f"Unable to choose an output format for '{out.url}'; use a standard "
                       "extension for the filename or specify the format manually (-f).")
    given = {_base(n) for n in out.given}
    check_audio_options(out)
    if out.is_dinr:
        codec = out.codec or DINR_CODECS[0]
        if codec not in DINR_CODECS + ("copy",):
            raise CliError(f"Unknown encoder '{codec}' for a .dinr output; use -c:v dinr "
                           "(diffusion, the default) or -c:v inr")
        if "prior" in given and codec == "inr":
            raise CliError("-prior applies to the dinr encoder, not -c:v inr")
        pinned = [n for n in BASE_OPTIONS if n in given]
        if pinned and codec == "inr":
            raise CliError(f"-{pinned[0]} applies to the dinr encoder, not -c:v inr")
        if out.base == "none" and set(BASE_OPTIONS[1:]) & given:
            raise CliError("-base none codes no base layer: -base_scale, -base_framestep, "
                           "-base_motion and -refresh_threshold do not apply")
        if out.base_scale is not None and out.base_scale not in (1, 2, 4):
            raise CliError(f"Invalid value {out.base_scale} for -base_scale (choose 1, 2 or 4)")
        if out.base_framestep is not None and out.base_framestep not in UNIFORM_STEPS:
            raise CliError(f"Invalid value {out.base_framestep} for -base_framestep (choose "
                           "1, 2, 4, 8, 16 or 32)")
        if out.base_motion is not None and out.base_motion not in (0, 1):
            raise CliError(f"Invalid value {out.base_motion} for -base_motion (choose 0 or 1)")
        if "crf" in given:
            raise CliError("-crf applies to FFmpeg video encoders; for a .dinr use -b:v")
        if out.preset is not None:
            from exvc.encode.settings import PRESETS

            if out.preset not in PRESETS:
                raise CliError(f"Invalid preset '{out.preset}' for the {codec} encoder; expected "
                               f"one of {', '.join(PRESETS)}")
    else:
        if out.codec in DINR_CODECS + RESERVED_DINR_CODECS:
            raise CliError(f"Encoder '{out.codec}' writes .dinr files: name the output "
                           "*.dinr or add -f dinr")
        if out.codec == "copy":
            raise CliError("-c:v copy is only supported from a .dinr to a .dinr")
        if "seed" in given:
            raise CliError("-seed only applies to a .dinr output")
        if "prior" in given:
            raise CliError("-prior only applies to a .dinr output or input")
        pinned = [n for n in BASE_OPTIONS if n in given]
        if pinned:
            raise CliError(f"-{pinned[0]} only applies to a .dinr output")


def _is_copy(source: DinrSource | MediaSource, out: OutputSpec) -> bool:
    """Whether a .dinr -> .dinr run copies bytes: ``-c:v copy``, or no option asks for new
    pictures (``-c:v inr`` or any of REENCODE_OPTIONS, input ones included, re-encode)."""
    if not (isinstance(source, DinrSource) and out.is_dinr):
        if out.codec == "copy":
            raise CliError("-c:v copy is only supported from a .dinr to a .dinr")
        return False
    changing = [n for n in out.given if _base(n) in REENCODE_OPTIONS and not _is_audio(n)]
    if out.codec == "copy":
        if changing or source.changed_by_input_options:
            what = f"-{changing[0]}" if changing else "input -ss/-t/-to/-r"
            raise CliError(f"{what} cannot be used with -c:v copy (stream copy keeps the "
                           "video as it is)")
        return True
    if out.codec is None and not changing and not source.changed_by_input_options:
        if out.metadata:
            raise CliError("-metadata cannot be changed while copying a .dinr; re-encode "
                           "with -b to set it")
        return True
    return False


def _copied(source: DinrSource, out: OutputSpec) -> bytes:
    """The bytes of a .dinr copy: the video as it is; the AUDIO chunk kept, dropped (-an, a
    -map without audio) or coded again when -b:a or -ac ask for another rate or layout."""
    payload = getattr(source.dinr, "audio", None)
    if payload is None:
        return source.data
    from exvc.bitstream.container import AUDIO, without_chunks

    audio = plan_audio(source, out)
    if audio is None:
        return without_chunks(source.data, AUDIO)
    if out.audio_bitrate is None and audio.channels == payload.channels:
        return source.data
    video = source.dinr.video
    data, _ = _with_audio(without_chunks(source.data, AUDIO), audio, out, video.fps,
                          video.frames)
    return data


def _show_stats(stats: bool | None, log: Log) -> bool:
    """-stats/-nostats decide; by default stats show at log level info and up (so that
    ``-v error -stats`` shows progress and errors only, as in ffmpeg)."""
    return log.enabled(INFO) if stats is None else stats


def _threads(cmd: CommandLine) -> tuple[int | None, int | None]:
    """(input, output) threads: each file's own -threads, else the other file's."""
    tin = cmd.inputs[0].threads
    tout = cmd.outputs[0].threads if cmd.outputs else None
    tin = tin if tin is not None else tout
    tout = tout if tout is not None else tin
    return tin or None, tout or None


class _ToLog(logging.Handler):
    """Routes the layers' ``logging`` records (e.g. the reader's variable-rate warning) to the
    CLI's log, so that ``-loglevel`` governs them like every other line."""

    def __init__(self, log: Log) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        level = WARNING if record.levelno >= logging.WARNING else VERBOSE
        self._log.write(level, record.getMessage())


@contextlib.contextmanager
def _layer_logging(log: Log) -> Iterator[None]:
    logger = logging.getLogger("exvc")
    handler, propagate = _ToLog(log), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _check_cuda() -> None:
    from exvc.models.device import DeviceError, resolve_device

    try:
        resolve_device("cuda")
    except DeviceError as exc:
        raise CliError(str(exc)) from None


def run(cmd: CommandLine, log: Log, stderr_is_tty: bool = False) -> None:
    """Carry out the command; raise CliError (or let layer errors through) on failure."""
    with _layer_logging(log):
        _run(cmd, log, stderr_is_tty)


def _run(cmd: CommandLine, log: Log, stderr_is_tty: bool) -> None:
    if not cmd.inputs:
        raise CliError("No input file given: put -i INPUT before the output file")
    if len(cmd.inputs) > 1:
        raise CliError(f"exvc reads exactly one input; {len(cmd.inputs)} were given")
    if len(cmd.outputs) > 1:
        raise CliError(f"exvc writes exactly one output; {len(cmd.outputs)} were given")
    if cmd.outputs:
        check_output_options(cmd)
    threads_in, threads_out = _threads(cmd)
    if cmd.options.hwaccel == "cuda":  # before any reading; auto falls back silently
        _check_cuda()
    with open_source(cmd.inputs[0], threads_in, cmd.options.hwaccel) as source:
        for line in source.describe():
            log.info(line)
        if not cmd.outputs:
            raise CliError("At least one output file must be specified")
        out = cmd.outputs[0]
        check_output_target(out, cmd.inputs[0], cmd.options)
        if _is_copy(source, out):
            assert isinstance(source, DinrSource)
            data = _copied(source, out)
            write_output_bytes(out, data)
            log.info(f"Copied '{source.label}' to '{out.url}' ({len(data)} bytes)")
            return
        if cmd.options.workers and not out.is_dinr:
            log.warning("-workers applies to .dinr encodes only; ignored")
        if isinstance(source, DinrSource):
            source.prepare()  # parse every segment now: a bad file fails before any output
        elif _has_alpha(source.video.pix_fmt):
            log.warning(f"{source.label}: the alpha channel ({source.video.pix_fmt}) is dropped; "
                        "exvc carries RGB only")
        audio = plan_audio(source, out)  # before plan_output: a -vf graph starts reading
        plan = plan_output(source, out)
        check_plan(plan, out)
        kind = "encode" if out.is_dinr else ("decode" if source.kind == "dinr" else "transcode")
        progress = _LazyReporter(lambda: make_reporter(
            kind, plan.video.fps, plan.video.frames,
            stats=_show_stats(cmd.options.stats, log), bar=stderr_is_tty,
            progress_url=cmd.options.progress_url))
        ok, size, summary = False, None, None
        try:
            if out.is_dinr:
                size, summary = encode(plan, out, threads_out, log, progress, audio,
                                       workers=cmd.options.workers or 0,
                                       hwaccel=cmd.options.hwaccel)
            elif out.is_null:
                discard(plan, progress)
            else:
                size = write_video(plan, out, threads_out, log, progress, audio)
            ok = True
        finally:
            progress.finish(ok, size)
        if summary:
            log.info(summary)  # after the stats line is finished


NO_FRAMES = ("No frames to encode: the input has no frames in the selected range "
             "(-ss/-t/-to/-frames:v)")


def _has_alpha(pix_fmt: str) -> bool:
    """Whether an FFmpeg pixel format carries alpha (gray+alpha has 2 components, RGBA/YUVA 4)."""
    try:
        from exvc.media.reader import pix_fmt_components

        return pix_fmt_components(pix_fmt) in (2, 4)
    except ValueError:
        return False


def check_plan(plan: Plan, out: OutputSpec) -> None:
    """Refuse, before any output exists, what cannot produce a valid file: no frames, or a
    .dinr beyond the format's documented limits (bitstream_spec.md section 11)."""
    video = plan.video
    if video.frames == 0 and not out.is_null:
        raise CliError(NO_FRAMES)
    if not out.is_dinr:
        if (video.frames or 0) > 1 and is_single_image(out):
            raise CliError(single_image_error(out.url))
        return
    from exvc.bitstream.header import MAX_DIMENSION, MAX_FRAMES

    if not (1 <= video.width <= MAX_DIMENSION and 1 <= video.height <= MAX_DIMENSION):
        raise CliError(f"Frame size {video.width}x{video.height} is beyond the .dinr limit "
                       f"({MAX_DIMENSION}x{MAX_DIMENSION}); scale it down with -vf scale=W:H")
    if video.frames is not None and video.frames > MAX_FRAMES:
        raise CliError(f"{video.frames} frames are beyond the .dinr limit of {MAX_FRAMES}; "
                       "select fewer with -t or -frames:v")


class _LazyReporter:
    """Starts the progress display on first use, so the ``Output #0`` lines printed while
    the output is set up come before it (a live bar would interleave with them)."""

    def __init__(self, factory: Callable[[], Reporter]) -> None:
        self._factory = factory
        self._reporter: Reporter | None = None

    def start(self) -> Reporter:
        if self._reporter is None:
            self._reporter = self._factory()
        return self._reporter

    def finish(self, ok: bool, size: int | None) -> None:
        if self._reporter is not None:
            self._reporter.finish(ok, size)


class _Counter:
    """Counts the frames that pass (the encoder reports segments, not frames read)."""

    def __init__(self, frames: Iterator[np.ndarray]) -> None:
        self._frames = frames
        self.count = 0
        self.exhausted = False  # the source ran out (as opposed to the encoder stopping)

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self._frames:
            self.count += 1
            yield frame
        self.exhausted = True


def encode(plan: Plan, out: OutputSpec, threads: int | None, log: Log,
           progress: _LazyReporter, audio: AudioPlan | None = None,
           workers: int = 0, hwaccel: str = "auto") -> tuple[int, str]:
    """video (or .dinr) -> .dinr: ``encode_video`` then one atomic write of its bytes.
    Returns the size written and a summary line."""
    from exvc.encode.encoder import encode_video
    from exvc.encode.settings import EncodeSettings

    video = plan.video
    if out.bitrate is None:
        log.verbose(f"No -b given; targeting {DEFAULT_BPP}bpp")
        bpp = DEFAULT_BPP
    else:
        bpp = to_bpp(out.bitrate, video.width, video.height, video.fps)
    kwargs = {"bpp": bpp,
              "codec": out.codec if out.codec not in (None, "copy") else DINR_CODECS[0],
              "metadata": dict(out.metadata), "threads": threads, "prior": out.prior,
              "workers": workers, "hwaccel": hwaccel}
    if out.preset is not None:
        kwargs["preset"] = out.preset
    if out.seed is not None:
        kwargs["seed"] = out.seed
    if out.sc_threshold is not None:
        kwargs["scene_cut_levels"] = out.sc_threshold
    if out.rc_lookahead is not None:
        kwargs["lookahead"] = out.rc_lookahead
    if out.gop is not None:
        kwargs["segment_frames"] = out.gop
    for name in ("base", "base_scale", "base_framestep"):
        if getattr(out, name) is not None:
            kwargs[name] = getattr(out, name)
    if out.base_motion is not None:
        kwargs["base_motion"] = bool(out.base_motion)
    if out.refresh_threshold is not None:
        kwargs["refresh_threshold"] = out.refresh_threshold
    try:
        settings = EncodeSettings(**kwargs)
    except ValueError as exc:
        raise CliError(f"Invalid encoder settings: {exc}") from None
    kbps = bpp * video.width * video.height * float(video.fps)
    for line in output_info_lines(video, out.url, "dinr",
                                  f"{settings.codec} ({CODEC_LONG_NAMES[settings.codec]})",
                                  settings.metadata,
                                  f"{bpp:.4f} bpp ({format_kbps(kbps)} kb/s)"):
        log.info(line)
    if audio is not None:
        from exvc.media.audio import DEFAULT_BITRATE

        log.info(f"  Stream #0:1: Audio: opus, 48000 Hz, {_layout(audio.channels)}, "
                 f"{format_kbps(out.audio_bitrate or DEFAULT_BITRATE)} kb/s")
    reporter = progress.start()
    counter = _Counter(plan.frames())
    try:
        data = encode_video(iter(counter), video, settings, on_progress=reporter.encoder)
    except ValueError as exc:
        if counter.exhausted and counter.count == 0:
            raise CliError(NO_FRAMES) from None
        raise CliError(f"Error encoding '{out.url}': {exc}") from None
    reporter.snapshot.frame = counter.count
    video_bytes = len(data)
    data, audio_bytes = _with_audio(data, audio, out, video.fps, counter.count)
    write_output_bytes(out, data)
    pixels = video.width * video.height * max(counter.count, 1)
    seconds = counter.count / float(video.fps) if counter.count else 0.0
    rate = f", {format_kbps(8 * video_bytes / seconds)} kb/s" if seconds else ""
    sound = f", audio:{audio_bytes} bytes" if audio_bytes else ""
    return len(data), (f"video:{video_bytes} bytes, {counter.count} frames, "
                       f"{8 * video_bytes / pixels:.4f} bpp{rate}{sound}")


def _with_audio(data: bytes, audio: AudioPlan | None, out: OutputSpec, fps: Fraction,
                frames: int) -> tuple[bytes, int]:
    """``data`` with the AUDIO chunk of the encoded frames' time span (outside the video's
    budget, which -b sets) and the chunk's size."""
    if audio is None or frames == 0:
        return data, 0
    from exvc.bitstream.audio import write_audio
    from exvc.bitstream.container import AUDIO, Chunk, with_chunk_after_head
    from exvc.media.audio import encode_opus

    pcm = audio.pcm(first_output_frame(out, fps), frames, fps)
    payload = encode_opus(pcm, out.audio_bitrate) if pcm is not None else None
    if payload is None:
        return data, 0
    fuller = with_chunk_after_head(data, Chunk(AUDIO, write_audio(payload)))
    return fuller, len(fuller) - len(data)


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def write_video(plan: Plan, out: OutputSpec, threads: int | None, log: Log,
                progress: _LazyReporter, audio: AudioPlan | None = None) -> int | None:
    """.dinr or video -> video through the media layer's sink (atomic for files). Returns
    the size of the file written (None for a pipe, a device or an image sequence)."""
    from exvc.media.writer import OutputOptions, open_output

    video = plan.video
    codec_options: dict[str, str] = {}
    if out.bitrate is not None:
        bits = to_bits_per_second(out.bitrate, video.width, video.height, video.fps)
        codec_options["b"] = str(max(1, round(bits)))
    if out.crf is not None:
        codec_options["crf"] = out.crf
    if out.sc_threshold is not None:
        codec_options["sc_threshold"] = str(out.sc_threshold)
    if out.rc_lookahead is not None:
        codec_options["rc_lookahead"] = str(out.rc_lookahead)
    if out.gop is not None:
        codec_options["g"] = str(out.gop)
    opts = OutputOptions(fmt=out.fmt, codec=out.codec, pix_fmt=out.pix_fmt,
                         preset=out.preset, metadata=dict(out.metadata), threads=threads,
                         codec_options=codec_options,
                         audio_channels=audio.channels if audio is not None else None,
                         audio_codec=out.audio_codec, audio_bitrate=out.audio_bitrate,
                         audio_template=audio.capture.stream
                         if audio is not None and audio.capture is not None else None)
    sink = open_output(out.url, video, opts)
    shown = video.with_(pix_fmt=getattr(sink, "pix_fmt", video.pix_fmt))
    for line in output_info_lines(shown, out.url, format_name(out.url, out.fmt), out.codec,
                                  out.metadata):
        log.info(line)
    sound = getattr(sink, "audio_stream", None)
    if sound is not None:
        log.info(f"  Stream #0:1: Audio: {sound.codec_context.name}, 48000 Hz, "
                 f"{_layout(audio.channels)}")
    written = 0
    try:
        reporter = progress.start()
        for frame in plan.frames():
            sink.write(frame)
            reporter.frames()
            written += 1
        if written == 0:
            raise CliError(NO_FRAMES)
        if sound is not None and audio.capture is not None and audio.capture.copy:
            start = audio.source_start + float(first_output_frame(out, video.fps) / video.fps)
            sink.copy_audio(audio.capture.packets, start, float(written / video.fps))
        elif sound is not None:
            pcm = audio.pcm(first_output_frame(out, video.fps), written, video.fps)
            if pcm is not None:
                sink.write_audio(pcm.samples)
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return os.path.getsize(out.url) if not out.is_stdout and os.path.isfile(out.url) else None


def discard(plan: Plan, progress: _LazyReporter) -> None:
    """``-f null``: produce every frame, keep none."""
    reporter = progress.start()
    for _frame in plan.frames():
        reporter.frames()

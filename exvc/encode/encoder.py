"""Encode pipeline: frames in, a complete .dinr file out, at the requested size.

Frames are cut into independent segments, at fixed lengths and at scene cuts
(``exvc.encode.segments``). Each segment's byte budget is fixed when it is read
(``exvc.encode.budget_plan``): the budgets add up to ``bpp * width * height * frames / 8``
bytes, the whole file. Segments are coded in this process or as Ray tasks
(``exvc.encode.runners``), and their chunks go into the file in order. Whatever they leave
unspent goes to the last segment, coded again (the top-up), so the file lands just under its
target; the real bytes are checked before anything is returned.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import (
    END_SIZE,
    HEAD,
    META,
    PREAMBLE_SIZE,
    PRIOR_SHORT,
    SEGMENT,
    Chunk,
    chunk_size,
    payload_budget,
)
from exvc.bitstream.container import write_container as _write_container
from exvc.bitstream.header import (
    CODEC_DINR,
    CODEC_INR,
    CODEC_NAMES,
    MAX_FRAMES,
    MIN_BPP,
    Header,
    encode_metadata,
)
from exvc.bitstream.segment import write_segment
from exvc.encode.budget_plan import BudgetPlan
from exvc.encode.presets import preset_plan
from exvc.encode.segment_task import (
    BaseLayers,
    DinrContext,
    SegmentCoder,
    SegmentJob,
    SegmentResult,
)
from exvc.encode.segments import SceneCuts, split_scenes
from exvc.encode.settings import EncodeProgress, EncodeSettings
from exvc.media.types import VideoInfo
from exvc.models.device import DeviceError, resolve_device
from exvc.models.threads import torch_threads

log = logging.getLogger("exvc.encode")

TOP_UP = 0.01  # unspent share of the file above which the last condition is coded again
# At most this much of float32 frames is held to share bytes between segments (with at
# least one segment): 291 frames of 320x240; at 1920x1080 each segment is a window alone.
LOOKAHEAD_BYTES = 256 << 20


class EncodeError(ValueError):
    """The request cannot be met (for example a budget below the header's own cost)."""


class NoFramesError(EncodeError):
    """The frame iterator was empty: there is nothing to encode."""


def chroma_code(pix_fmt: str) -> int:
    """HEAD chroma code of an FFmpeg pixel format (what the source was, for the decoder)."""
    name = pix_fmt.lower()
    if name.startswith(("gray", "y8", "y16")):
        return 0
    if name.startswith(("yuv420", "yuvj420", "nv12", "nv21", "p010", "p016")):
        return 1
    if name.startswith(("yuv422", "yuvj422", "yuyv", "uyvy", "nv16")):
        return 2
    if name.startswith(("yuv444", "yuvj444", "yuva444")):
        return 3
    return 4


def make_header(info: VideoInfo, settings: EncodeSettings, frames: int) -> Header:
    fps = info.fps
    return Header(
        width=info.width, height=info.height, frames=frames,
        fps_num=fps.numerator, fps_den=fps.denominator,
        bit_depth=info.bit_depth if info.bit_depth in (8, 10, 12, 16) else 8,
        chroma=chroma_code(info.pix_fmt), matrix=info.colour.matrix,
        primaries=info.colour.primaries, transfer=info.colour.transfer,
        full_range=int(info.colour.full_range),
        codec=CODEC_DINR if settings.codec == "dinr" else CODEC_INR, seed=settings.seed,
        segment_frames=settings.segment_frames,
    )


def fixed_overhead(info: VideoInfo, settings: EncodeSettings, prior_chunk: bytes = b"") -> int:
    """Bytes that are not segments: preamble, HEAD (sized for the largest frame count), META,
    PRIOR, END."""
    head = len(make_header(info, settings, MAX_FRAMES).to_bytes())
    total = PREAMBLE_SIZE + chunk_size(head) + END_SIZE
    if settings.metadata:
        total += chunk_size(len(encode_metadata(settings.metadata)))
    if prior_chunk:
        total += chunk_size(len(prior_chunk))
    return total


def _report(on_progress: Callable[[EncodeProgress], None] | None, read: int, done: int,
            total: int | None, used: int, index: int, step: int, steps: int, stage: str) -> None:
    if on_progress is not None:
        on_progress(EncodeProgress(read, done, total, used, index, step, steps, stage))


def encode_video(
    frames: Iterable[np.ndarray],
    info: VideoInfo,
    settings: EncodeSettings,
    on_progress: Callable[[EncodeProgress], None] | None = None,
    prior=None,
) -> bytes:
    """Encode ``frames`` (float32 RGB (3, H, W) in [0, 1]) into .dinr bytes. For ``dinr``,
    ``prior`` may pass an already loaded :class:`exvc.prior.loader.Prior`; otherwise
    ``settings.prior`` (or the bundled default) is loaded. ``settings.threads`` holds
    torch's thread count for this call only: the previous count is back when it returns or
    raises."""
    if settings.bpp <= 0 or not math.isfinite(settings.bpp):
        raise EncodeError(f"target rate must be positive, got {settings.bpp} bpp")
    if settings.codec not in CODEC_NAMES.values():
        raise EncodeError(f"unknown codec '{settings.codec}' (choose inr or dinr)")
    if settings.bpp < MIN_BPP:
        raise EncodeError(f"-b {settings.bpp:g}bpp is too low: decoders refuse files below "
                          f"{MIN_BPP:.6f} bpp (a resource limit, bitstream_spec.md section 11)")
    try:  # the frame size and rate must fit the format before any frame is read
        make_header(info, settings, 1).validate()
    except DinrError as exc:
        raise EncodeError(str(exc).replace("invalid .dinr header",
                                          "beyond the .dinr limits")) from None
    try:
        resolve_device(settings.hwaccel)
    except DeviceError as exc:
        raise EncodeError(str(exc)) from None
    if settings.workers:
        from exvc.encode.runners import RAY_MISSING, ray_available

        if not ray_available():
            raise EncodeError(RAY_MISSING)
    with torch_threads(settings.threads):
        return _encode(frames, info, settings, on_progress, prior)


def _encode(frames: Iterable[np.ndarray], info: VideoInfo, settings: EncodeSettings,
            on_progress: Callable[[EncodeProgress], None] | None, prior) -> bytes:
    """``encode_video`` once the request is known to fit the format."""
    plan = preset_plan(settings.preset)
    threads = segment_threads(settings)
    # settings first (a base that cannot run here), then the rate floor, then the prior
    layers = (BaseLayers.create(settings, info, plan, threads) if settings.codec == "dinr"
              else None)
    _check_floor(info, settings, plan)
    runner = _ray_runner(settings, info, threads) if settings.workers else None
    try:
        return _encode_on(runner, frames, info, settings, on_progress, prior, plan, threads,
                          layers)
    finally:
        if runner is not None:
            runner.close()


def _ray_runner(settings: EncodeSettings, info: VideoInfo, threads: int | None):
    """The Ray cluster of ``-workers``, started before the prior is loaded here, its
    workers importing what a segment needs meanwhile."""
    from exvc.encode.runners import RayRunner, RunnerError

    warm = ("exvc.encode.segment_task", "exvc.encode.condition_choice",
            "exvc.encode.dinr_segment", "exvc.prior.loader")
    try:
        longest = 2 * settings.segment_frames * 3 * info.height * info.width * 4  # float32
        return RayRunner.start(settings.workers, threads, settings.hwaccel,
                               warm if settings.codec == "dinr" else warm[:2], longest)
    except RunnerError as exc:
        raise EncodeError(str(exc)) from None


def _encode_on(runner, frames: Iterable[np.ndarray], info: VideoInfo,
               settings: EncodeSettings, on_progress, prior, plan, threads: int | None,
               layers: BaseLayers | None) -> bytes:
    """The segments coded here (``runner`` None) or on Ray, then the file."""
    from exvc.encode.rate_control import BudgetError
    from exvc.encode.runners import in_process

    dinr = _dinr_context(settings, info, prior) if settings.codec == "dinr" else None
    overhead = fixed_overhead(info, settings,
                              longest_prior_chunk(dinr.prior.digest) if dinr else b"")
    budgets = BudgetPlan(settings.bpp, info.width * info.height, overhead)
    coder = SegmentCoder(plan, settings.seed, threads, dinr, layers, settings.hwaccel)
    progress = _Progress(on_progress, info.frames)
    jobs = _jobs(frames, settings, budgets, progress, _weigher(settings, layers, threads),
                 layers is not None and layers.candidates.merge_scenes)
    if runner is not None:
        results = runner.run(coder, jobs)
    else:
        results = in_process(coder, jobs, progress.reporter)
    segments: list[Chunk] = []
    last: SegmentResult | None = None
    sampler = None
    try:
        for result in results:
            if result.index == 0:
                sampler = result.sampler
            last = result
            segments += result.chunks
            progress.coded(result)
    except BudgetError as exc:  # in the segment after the last one coded
        failed = min(i for i in progress.ends if last is None or i > last.index)
        frames_so_far = progress.ends[failed]
        need = overhead + chunk_size(exc.needed)
        pixels = info.width * info.height * frames_so_far
        raise EncodeError(
            f"-b {settings.bpp:g}bpp is too low for {info.width}x{info.height} x "
            f"{frames_so_far} frames: the smallest file is about {need} bytes "
            f"({8 * need / pixels:.4f} bpp)") from None
    if last is None:
        raise NoFramesError("no frames to encode")
    # A dinr file whose sampler leaves the condition as it is (mix 0) does not need the
    # prior: it is written without one, as codec 0, and decodes without loading it.
    prior_used = dinr is not None and sampler.mix > 0
    head = make_header(info, settings, progress.read)
    if dinr is not None and not prior_used:
        head.codec = CODEC_INR
    chunks = [Chunk(HEAD, head.to_bytes())]
    if settings.metadata:
        chunks.append(Chunk(META, encode_metadata(settings.metadata)))
    if prior_used:
        chunks.append(Chunk(PRIOR_SHORT, _prior_short(dinr.prior.digest, sampler)))
    target = budgets.allowed(progress.read)
    used = sum(chunk_size(len(c.payload)) for c in chunks + segments) + PREAMBLE_SIZE + END_SIZE
    with torch_threads(threads):
        topped = _top_up(segments, last, target - used)
    return _within_target(chunks, topped, segments, target)


def segment_threads(settings: EncodeSettings) -> int | None:
    """Torch's (and the base codecs') thread count for each segment: ``settings.threads``;
    without it, all of this process's (None) when segments are coded here, one per worker
    with ``workers``. A file depends on it (float sums are not thread-count invariant), never
    on the number of workers."""
    if settings.workers:
        return settings.threads or 1
    return settings.threads or None


def _dinr_context(settings: EncodeSettings, info: VideoInfo, prior) -> DinrContext:
    from exvc.prior.loader import PriorError

    try:
        return DinrContext.create(settings, info, prior)
    except PriorError as exc:
        raise EncodeError(str(exc)) from None


def _jobs(frames: Iterable[np.ndarray], settings: EncodeSettings, budgets: BudgetPlan,
          progress: _Progress, weigh: Weigh | None, merge: bool = False
          ) -> Iterator[SegmentJob]:
    """The segments as they are read, each with its planned budget: shared within windows of
    up to ``settings.lookahead`` frames (and LOOKAHEAD_BYTES of them) by ``weigh``, or by
    frame count without it. ``merge``: two segments of a window split at a scene cut are one
    job, which measures whether to code them as one (``exvc.encode.scene_merge``)."""
    start = end = 0
    window: list[_Read] = []
    longest = 2 * settings.segment_frames if merge else 0
    for index, (seg, at_cut) in enumerate(split_scenes(
            frames, settings.segment_frames, _cut_detector(settings))):
        end += len(seg)
        if end > MAX_FRAMES:
            raise EncodeError(f"more than {MAX_FRAMES} frames: beyond the .dinr limit; "
                              "select fewer with -t or -frames:v")
        progress.read = end
        window.append(_Read(index, np.stack(seg), at_cut))
        if weigh is None or end - start >= settings.lookahead or \
                sum(r.frames.nbytes for r in window) >= LOOKAHEAD_BYTES:
            yield from progress.ending(_planned(window, start, budgets, weigh, longest), start)
            start, window = end, []
    yield from progress.ending(_planned(window, start, budgets, weigh, longest), start)


@dataclass
class _Read:
    """A segment as read: its index, frames and whether it starts a scene at a cut."""

    index: int
    frames: np.ndarray
    at_cut: bool = False


def _planned(window: list[_Read], start: int, budgets: BudgetPlan, weigh: Weigh | None,
             longest: int = 0) -> Iterator[SegmentJob]:
    """The jobs of a window of segments from frame ``start``, its budget shared out; a
    segment that starts a scene is one job with the segment before it when the two hold at
    most ``longest`` frames (0: never)."""
    if not window:
        return
    lengths = [len(r.frames) for r in window]
    weights = None
    if weigh is not None and len(window) > 1:
        weights = weigh([r.frames for r in window], budgets.budget(start, start + sum(lengths)))
    planned = budgets.split(start, lengths, weights)
    if weights is not None:
        log.debug("segments of %s frames share %d bytes as %s", lengths, sum(planned), planned)
    k = 0
    while k < len(window):
        read = window[k]
        after = window[k + 1] if k + 1 < len(window) else None
        if after is not None and after.at_cut and lengths[k] + lengths[k + 1] <= longest:
            parts = ((lengths[k], planned[k]), (lengths[k + 1], planned[k + 1]))
            yield SegmentJob(read.index, np.concatenate([read.frames, after.frames]),
                             planned[k] + planned[k + 1], parts)
            k += 2
        else:
            yield SegmentJob(read.index, read.frames, planned[k])
            k += 1


# weights of a window's segments (frames of each, the window's bytes); None: by frame count
Weigh = Callable[[list[np.ndarray], int], "list[float] | None"]


def _weigher(settings: EncodeSettings, layers: BaseLayers | None,
             threads: int | None) -> Weigh | None:
    """How a dinr file with a base shares bytes between segments: by their size at one
    quantiser of its first base codec (``exvc.encode.complexity``); None: by frame count."""
    if layers is None or not layers.candidates.configs or settings.lookahead <= 1:
        return None
    codec, fps = layers.candidates.configs[0].codec, layers.fps

    def weigh(segments: list[np.ndarray], total: int) -> list[float] | None:
        from exvc.encode.complexity import segment_weights

        return segment_weights(codec, segments, fps, total, threads)

    return weigh


class _Progress:
    """The encoder's reports: frames read, frames whose segment is coded, bytes so far."""

    def __init__(self, on_progress: Callable[[EncodeProgress], None] | None,
                 total: int | None) -> None:
        self.on_progress, self.total = on_progress, total
        self.read = self.done = self.used = 0
        self.ends: dict[int, int] = {}  # job index -> frames through its last one

    def ending(self, jobs: Iterable[SegmentJob], start: int) -> Iterator[SegmentJob]:
        """``jobs`` (consecutive, from frame ``start``), each noted in ``ends``."""
        for job in jobs:
            start = self.ends[job.index] = start + len(job.frames)
            yield job

    def reporter(self, job: SegmentJob):
        """The step reports of ``job`` while it is coded in this process."""
        if self.on_progress is None:
            return None
        return functools.partial(_report, self.on_progress, self.read, self.done, self.total,
                                 self.used, job.index)

    def coded(self, result: SegmentResult) -> None:
        self.used += result.size
        self.done += result.frames
        if self.on_progress is not None:
            self.on_progress(EncodeProgress(self.read, self.done, self.total, self.used,
                                            result.index, 1, 1, "coded"))


def _within_target(head: list[Chunk], topped: list[Chunk], segments: list[Chunk],
                   target: int) -> bytes:
    """The file: ``head`` + ``topped`` (the segments after the last one's top-up), or
    ``segments`` (before it) if the top-up went over ``target`` bytes. The budgets make the
    file fit; this checks the promise on the real bytes, so a slip in the accounting is an
    error rather than a file over its rate."""
    data = _write_container(head + topped)
    if len(data) > target and topped is not segments:
        data = _write_container(head + segments)
    if len(data) > target:
        raise EncodeError(f"internal error: the file came to {len(data)} bytes, over its "
                          f"target of {target}; please report this")
    return data


def _check_floor(info: VideoInfo, settings: EncodeSettings, plan) -> None:
    """Refuse at once, before the prior is loaded or any frame is read, a rate at which the
    first segment (taken as ``min(frames, segment_frames)`` frames) cannot hold even the
    smallest INR. A scene cut can make that segment shorter, so every segment is checked
    again before it is fitted (``_code_segment``); above the floor, coding never fails."""
    from exvc.encode.segment_coder import inr_floor

    if not info.frames:
        return
    pixels = info.width * info.height
    frames = min(info.frames, settings.segment_frames)
    overhead = fixed_overhead(info, settings,
                              longest_prior_chunk() if settings.codec == "dinr" else b"")
    allowed = math.floor(settings.bpp * pixels * frames / 8) - overhead
    floor = chunk_size(inr_floor(frames, info.height, info.width,
                                 payload_budget(max(allowed, 0)), plan))
    if allowed < floor:
        need = overhead + floor
        raise EncodeError(
            f"-b {settings.bpp:g}bpp is too low for {info.width}x{info.height} x {frames} "
            f"frames: the smallest file is about {need} bytes "
            f"({8 * need / (pixels * frames):.4f} bpp)")


def _cut_detector(settings: EncodeSettings) -> SceneCuts | None:
    if settings.scene_cut_levels < 0:
        raise EncodeError(f"scene-cut threshold must be 0 (off) or positive, got "
                          f"{settings.scene_cut_levels}")
    return SceneCuts(settings.scene_cut_levels) if settings.scene_cut_levels else None


def _top_up(segments: list[Chunk], last: SegmentResult, slack: int) -> list[Chunk]:
    """``segments`` with the last one coded again for its size plus ``slack`` when that is
    more than ``TOP_UP`` of the file's bytes so far: what the segments left unspent of their
    planned budgets, and what the sampler choice freed (an unmixed file has no PRIOR chunk).
    Only the quantisation (INR) or the base's rate search is redone, not the fitting."""
    from exvc.encode.condition import BaseCondition
    from exvc.encode.rate_control import BudgetError
    from exvc.encode.segment_coder import FittedSegment
    from exvc.media.base_codecs import BaseCodecError

    refined = last.refined
    file_bytes = sum(chunk_size(len(c.payload)) for c in segments) + slack
    if refined is None or slack <= TOP_UP * file_bytes:
        return segments
    start = len(segments) - len(last.last_segment)
    budget = last.last_size + slack
    try:
        if isinstance(refined, FittedSegment):  # an inr file's last segment
            payload = refined.quantize(payload_budget(budget)).payload
            fuller = [Chunk(SEGMENT, write_segment(payload))]
        elif refined.adapter is not None:
            return segments
        else:
            condition = refined.condition.recode(budget)
            if isinstance(condition, BaseCondition):
                condition = condition.filled(budget)
            fuller = condition.chunks()
    except (BudgetError, BaseCodecError):
        return segments
    if not last.last_size < sum(chunk_size(len(c.payload)) for c in fuller) <= budget:
        return segments
    return segments[:start] + fuller


def _prior_short(digest: bytes, s) -> bytes:
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short

    return write_prior_short(PriorRecord(digest, "", s.sampler, s.grid_steps, s.run_steps,
                                         s.mix))


def longest_prior_chunk(digest: bytes = bytes(32)) -> bytes:
    """The longest PRIOR_SHORT payload the sampler choice can give (its length does not
    depend on the digest, which is cut to 8 bytes)."""
    from exvc.encode.sampler_choice import CANDIDATES

    return max((_prior_short(digest, c) for c in CANDIDATES), key=len)

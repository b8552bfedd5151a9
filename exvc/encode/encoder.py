"""Encode pipeline: frames in, a complete .dinr file out, at the requested size.

Frames are cut into independent segments (at most two segments' frames are held in memory), at
fixed lengths and at scene cuts (``exvc.encode.segments``), each fitted by its own INR. Budgets
are cumulative: segment k may spend what the target allows for all frames so far minus what the
file already holds, so slack carries forward and the finished file never exceeds
``bpp * width * height * frames / 8`` bytes. It lands just under, unless the last segment's
best-rendering payload is smaller than its budget (``exvc.encode.rate_control``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import replace

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
from exvc.encode.presets import preset_plan
from exvc.encode.segments import SceneCuts, split_segments
from exvc.encode.settings import EncodeProgress, EncodeSettings
from exvc.media.types import VideoInfo
from exvc.models.threads import torch_threads

TOP_UP = 0.01  # unspent share of the file above which the last condition is coded again


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
    with torch_threads(settings.threads):
        return _encode(frames, info, settings, on_progress, prior)


def _encode(frames: Iterable[np.ndarray], info: VideoInfo, settings: EncodeSettings,
            on_progress: Callable[[EncodeProgress], None] | None, prior) -> bytes:
    """``encode_video`` once the request is known to fit the format."""
    import torch

    from exvc.encode.rate_control import BudgetError

    plan = preset_plan(settings.preset)
    # settings first (a base that cannot run here), then the rate floor, then the prior
    layers = _Layers.create(settings, info, plan) if settings.codec == "dinr" else None
    _check_floor(info, settings, plan)
    dinr = _DinrContext.create(settings, info, prior) if settings.codec == "dinr" else None
    overhead = fixed_overhead(info, settings, dinr.overhead_chunk() if dinr else b"")
    pixels_per_frame = info.width * info.height
    segments: list[Chunk] = []
    used = overhead
    read = done = 0
    last = None  # (refined segment, where its chunks start) for the top-up
    for index, seg in enumerate(split_segments(
            frames, settings.segment_frames, _cut_detector(settings))):
        read += len(seg)
        if read > MAX_FRAMES:
            raise EncodeError(f"more than {MAX_FRAMES} frames: beyond the .dinr limit; "
                              "select fewer with -t or -frames:v")
        allowed = math.floor(settings.bpp * pixels_per_frame * read / 8)
        video = torch.from_numpy(np.stack(seg))
        report = functools.partial(_report, on_progress, read, done, info.frames, used, index)
        try:
            coded, refined = _code_segment(video, allowed - used, plan, settings.seed + index,
                                           report, dinr, layers)
        except BudgetError as exc:
            need = overhead + chunk_size(exc.needed)
            min_bpp = 8 * need / (pixels_per_frame * read)
            raise EncodeError(
                f"-b {settings.bpp:g}bpp is too low for {info.width}x{info.height} x {read} "
                f"frames: the smallest file is about {need} bytes ({min_bpp:.4f} bpp)"
            ) from None
        last = (refined, len(segments))
        segments += coded
        used += sum(chunk_size(len(c.payload)) for c in coded)
        if index == 0 and dinr is not None and dinr.sampler.mix == 0:
            used -= chunk_size(len(dinr.overhead_chunk()))  # no PRIOR chunk: bytes to spend
        done = read
        if on_progress is not None:
            on_progress(EncodeProgress(read, done, info.frames, used, index, 1, 1, "coded"))
    if not segments:
        raise NoFramesError("no frames to encode")
    target = math.floor(settings.bpp * pixels_per_frame * read / 8)
    topped = _top_up(segments, last, target - used)
    # A dinr file whose sampler leaves the condition as it is (mix 0) does not need the
    # prior: it is written without one, as codec 0, and decodes without loading it.
    prior_used = dinr is not None and dinr.sampler.mix > 0
    header = make_header(info, settings, done)
    if dinr is not None and not prior_used:
        header.codec = CODEC_INR
    chunks = [Chunk(HEAD, header.to_bytes())]
    if settings.metadata:
        chunks.append(Chunk(META, encode_metadata(settings.metadata)))
    if prior_used:
        chunks.append(Chunk(PRIOR_SHORT, dinr.prior_chunk()))
    return _within_target(chunks, topped, segments, target)


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


def _top_up(segments: list[Chunk], last, slack: int) -> list[Chunk]:
    """``segments`` with the last one's condition coded again for its budget plus ``slack``
    when that is more than ``TOP_UP`` of the file's bytes so far: what the sampler choice
    freed (an unmixed file has no PRIOR chunk) and what the last segment left unspent."""
    refined, start = last
    file_bytes = sum(chunk_size(len(c.payload)) for c in segments) + slack
    if refined is None or refined.adapter is not None or slack <= TOP_UP * file_bytes:
        return segments
    from exvc.encode.condition import BaseCondition
    from exvc.encode.rate_control import BudgetError
    from exvc.media.base_codecs import BaseCodecError

    budget = refined.size() + slack
    try:
        fuller = refined.condition.recode(budget)
        if isinstance(fuller, BaseCondition):
            fuller = fuller.filled(budget)
    except (BudgetError, BaseCodecError):
        return segments
    if not refined.condition.size() < fuller.size() <= budget:
        return segments
    return segments[:start] + fuller.chunks()


def _code_segment(video, total: int, plan, seed: int, report, dinr,
                  layers: _Layers | None) -> tuple[list[Chunk], object]:
    """The chunks of one segment within ``total`` bytes: for inr its SEGMENT; for dinr its
    condition (BASE and/or SEGMENT), preceded by ADAPTER when one pays, and the refined
    segment (``exvc.encode.dinr_segment.DinrSegment``; None for inr)."""
    from exvc.encode.condition import InrCondition
    from exvc.encode.rate_control import BudgetError
    from exvc.encode.segment_coder import encode_segment, fit_inr, inr_floor

    t, _, h, w = video.shape
    floor = inr_floor(t, h, w, payload_budget(total), plan)
    if chunk_size(floor) > total:  # refused before any fitting: an INR always fits above it
        raise BudgetError(floor, payload_budget(total))
    if dinr is None:
        payload = encode_segment(video, payload_budget(total), plan, seed=seed, report=report)
        return [Chunk(SEGMENT, payload)], None
    from exvc.encode.condition_choice import choose_condition
    from exvc.encode.dinr_segment import refine_segment

    if layers is None or not layers.candidates.configs:
        fitted = fit_inr(video, payload_budget(total), plan, seed, report)
        condition = InrCondition.quantize(fitted, total)
        refine_plan = plan
    else:
        job = layers.job(video)
        condition = choose_condition(video, total, layers.candidates, job, plan, seed,
                                     report).condition
        refine_plan = plan if plan.base.adapters else replace(plan, adapter_iterations=0)
        if isinstance(condition, InrCondition):
            refine_plan = plan
    coded = refine_segment(video, condition, total, refine_plan,
                           functools.partial(dinr.coder, seed), report)
    return coded.chunks(), coded


class _Layers:
    """The base-layer candidates of a dinr file and what coding a base needs."""

    def __init__(self, candidates, fps, preset: str, threads: int | None) -> None:
        self.candidates, self.fps, self.preset, self.threads = candidates, fps, preset, threads

    @classmethod
    def create(cls, settings: EncodeSettings, info: VideoInfo, plan) -> _Layers | None:
        from exvc.encode.layers import candidates_for

        if settings.base == "none":
            return None
        cands = candidates_for(settings, plan.base, info.width, info.height)
        return cls(cands, info.fps, plan.name, settings.threads)

    def job(self, video):
        from exvc.encode.condition import BaseJob

        return BaseJob(video, self.fps, self.preset, self.threads)


class _DinrContext:
    """What every dinr segment shares: the prior, the sampler and the file's noise field.

    The sampler settings are chosen on the first segment's INR frames
    (``exvc.encode.sampler_choice``) and kept for the whole file. The fixed overhead counts
    the longest PRIOR chunk any candidate gives, so it is known before the choice; an
    unmixed choice leaves one byte of it unused."""

    def __init__(self, prior, noise, padded) -> None:
        self.prior, self.noise, self.padded = prior, noise, padded
        self.sampler = None

    @classmethod
    def create(cls, settings: EncodeSettings, info: VideoInfo, prior=None) -> _DinrContext:
        from exvc.prior.loader import PriorError, load_prior
        from exvc.prior.sampler import noise_for, padded_size

        if prior is None:
            try:
                prior = load_prior(settings.prior)
            except PriorError as exc:
                raise EncodeError(str(exc)) from None
        noise = noise_for(prior, settings.seed, info.height, info.width)
        return cls(prior, noise, padded_size(prior, info.height, info.width))

    def prior_chunk(self, sampler=None) -> bytes:
        """The PRIOR_SHORT payload for ``sampler`` (default: the chosen one)."""
        return _prior_short(self.prior.digest, sampler or self.sampler)

    def overhead_chunk(self) -> bytes:
        """A PRIOR_SHORT payload as long as the longest the choice can give (a mixed record is one
        byte longer than an unmixed one): the rate is planned before the choice."""
        return longest_prior_chunk(self.prior.digest)

    def coder(self, seed: int, video, inr):
        from exvc.encode.adapter_coder import AdapterCoder
        from exvc.encode.sampler_choice import choose_sampler

        if self.sampler is None:
            self.sampler, _ = choose_sampler(self.prior, self.noise, video, inr)
        return AdapterCoder(self.prior, self.sampler, self.noise, self.padded, seed)


def _prior_short(digest: bytes, s) -> bytes:
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short

    return write_prior_short(PriorRecord(digest, "", s.sampler, s.grid_steps, s.run_steps,
                                         s.mix))


def longest_prior_chunk(digest: bytes = bytes(32)) -> bytes:
    """The longest PRIOR_SHORT payload the sampler choice can give (its length does not
    depend on the digest, which is cut to 8 bytes)."""
    from exvc.encode.sampler_choice import CANDIDATES

    return max((_prior_short(digest, c) for c in CANDIDATES), key=len)

"""One segment's base layer: a standard codec's stream that fits a byte budget exactly.

A configuration fixes the codec, the coded size (the output divided by ``scale``), the frame
step and the rate mode. The rate search asks the encoder for a bitrate and corrects the
request from the real packed size (a secant step in log space) until the BASE payload lands
within ``FILL`` of the budget without going over; the largest payload that fits is kept.
Rate-controlled modes are used because a fixed quantiser moves the size by 4-20 % a step:
with 64 frames of 176x144 at about 3 KB, one-pass VVC rate control also rendered 0.8 dB
better than the nearest fixed quantiser (docs/base.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from fractions import Fraction

import torch

from exvc.bitstream.anchors import uniform
from exvc.bitstream.base import (
    BASE_CODECS,
    BasePayload,
    pack,
    to_decoder,
    with_anchors,
    write_base,
)
from exvc.bitstream.container import BASE, MOTION, Chunk, chunk_size
from exvc.bitstream.motion import MotionPayload, write_motion
from exvc.encode.motion_estimation import MotionChoice
from exvc.encode.perception import as_delivered, judge
from exvc.encode.rate_control import BudgetError
from exvc.media import base_codecs
from exvc.media.base_codecs import RateSetting
from exvc.media.base_video import base_frames, to_pictures
from exvc.media.global_motion import LINEAR, NEAREST

CODEC_IDS = {name: code for code, name in BASE_CODECS.items()}
FILL = 0.985  # a payload at or above this share of its budget ends the search
MAX_TRIES = 6  # rate-controlled encodes per search, after the coarsest quantiser's
_FINEST_QP = 15  # the quantiser bisection's other end
_FINEST_CHROMA = -12  # VVC's finest chroma quantiser offset
_MIN_TIMEOUT, _MAX_TIMEOUT = 20.0, 120.0  # seconds a search encode may take (10x the first)
# What a payload of zero bits per second would still cost, per coded picture, as a guess of
# the overhead before the first encode (parameter sets, picture headers).
_GUESS_HEADER = 300
_GUESS_PER_PICTURE = 12
# How much PSNR (dB, whole segment) the judge's preference between the time blend and the
# motion-predicted frames may cost against the best of them.
PSNR_SLACK = 0.5


@dataclass(frozen=True)
class BaseConfig:
    """How a segment's base is coded: codec, size divisor, frame step and rate mode.
    ``anchors``: the frames it codes when they are not every ``step``-th (a refreshed
    layout, ``exvc.encode.refresh``); ``step`` is then the layout it was refreshed from."""

    codec: str = "vvc"
    scale: int = 1
    step: int = 1
    mode: str = "rate"
    anchors: tuple[int, ...] = ()

    def anchor_frames(self, frames: int) -> tuple[int, ...]:
        """The frames of a ``frames``-frame segment that the base codes."""
        return self.anchors or uniform(frames, self.step)

    def coded_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h): the output size divided by ``scale``, rounded to even, at least 2."""
        return (max(2, 2 * round(width / self.scale / 2)),
                max(2, 2 * round(height / self.scale / 2)))

    def describe(self) -> str:
        parts = [self.codec]
        if self.scale != 1:
            parts.append(f"1/{self.scale} size")
        if self.anchors:
            parts.append(f"{len(self.anchors)} refreshed anchors")
        elif self.step != 1:
            parts.append(f"1/{self.step} rate")
        if self.mode == "rate2":
            parts.append("2-pass")
        return ", ".join(parts)


@dataclass
class CodedBase:
    """A base payload within its budget, the MOTION payload that predicts the frames between
    its pictures (None: blended by time), and the frames the decoder rebuilds from both."""

    config: BaseConfig
    payload: BasePayload
    size: int  # BASE payload bytes
    setting: RateSetting
    frames: torch.Tensor  # (T, 3, H, W) in [0, 1]
    motion: MotionChoice | None = None

    def with_enhancement(self) -> bytes:
        """The payload bytes announcing an enhancement SEGMENT."""
        return write_base(replace(self.payload, enhancement=1))

    def chunks(self, enhancement: bool = False) -> list[Chunk]:
        """BASE, then MOTION if any."""
        data = self.with_enhancement() if enhancement else write_base(self.payload)
        out = [Chunk(BASE, data)]
        if self.motion is not None:
            out.append(Chunk(MOTION, self.motion.data))
        return out

    @property
    def chunk_bytes(self) -> int:
        """What its chunks take in the file."""
        return chunk_size(self.size) + (self.motion.chunk_bytes if self.motion else 0)


def code_base(video: torch.Tensor, budget: int, config: BaseConfig, fps: Fraction,
              preset: str = "medium", threads: int | None = None,
              thorough: bool = False, streams: dict | None = None) -> CodedBase:
    """The largest BASE payload of ``video`` (T, 3, H, W) within ``budget`` bytes under
    ``config`` (raises :class:`BudgetError` when even the smallest stream is over).
    ``thorough``: for the chosen configuration, twice the rate-controlled tries and then,
    if still short of ``FILL``, the quantiser bisection too; the largest payload that fits
    of all of them is kept. ``streams``: a cache of coded streams for this ``video``, by
    configuration, rate setting and preset; the encoders are repeatable, so a search that
    asks again (the top-up after a fill, the quantiser bisection) is not coded again."""
    t, _, h, w = video.shape
    size = config.coded_size(w, h)
    anchors = config.anchor_frames(t)
    step, listed = with_anchors(t, anchors)
    pictures = to_pictures(video[list(anchors)], size)
    # the pictures' rate, for rate control: a listed layout's mean (a uniform one keeps fps /
    # step, which also sets the stream's timing fields: a few bytes on a tiny segment)
    rate = Fraction(fps) * len(anchors) / t if config.anchors else Fraction(fps) / config.step
    seconds = float(len(pictures) / rate)
    codec = CODEC_IDS[config.codec]

    def attempt(setting: RateSetting, timeout: float | None = None
                ) -> tuple[BasePayload, int, RateSetting]:
        key = (config, setting, preset)
        stream = streams.get(key) if streams is not None else None
        if stream is None:
            stream = base_codecs.encode(config.codec, pictures, rate, setting, preset, threads,
                                        timeout)
            if streams is not None:
                streams[key] = stream
        units = pack(codec, stream)
        if not units or not all(units):
            raise base_codecs.BaseCodecError(f"{config.codec} wrote no picture units")
        payload = BasePayload(t, codec, size[0], size[1], step, 0, units, listed)
        return payload, len(write_base(payload)), setting

    # The coarsest quantiser first: it tells whether anything fits, and rate control is
    # never asked for less than it gives (libvvenc can spin for minutes below that).
    start = time.perf_counter()
    floor = attempt(RateSetting("qp", base_codecs.COARSEST[config.codec]))
    # libvvenc's rate control can spin for many minutes on a few tiny pictures: an encode
    # that takes far longer than the coarsest quantiser's is stopped and counts as failed
    timeout = min(_MAX_TIMEOUT, max(_MIN_TIMEOUT, 10 * (time.perf_counter() - start)))
    if floor[1] > budget:
        raise BudgetError(floor[1], budget)
    best = floor
    least = 8 * len(b"".join(floor[0].units)) / seconds
    overhead = _GUESS_HEADER + _GUESS_PER_PICTURE * len(pictures)
    request = max(least, 8 * max(budget - overhead, budget / 4) / seconds)
    tried: list[tuple[float, int]] = []  # (request, size)
    rate_control = base_codecs.rate_control_works(config.codec, *size)
    for _ in range((2 if thorough else 1) * MAX_TRIES if rate_control else 0):
        if best[1] >= FILL * budget:
            break
        try:
            payload, used, setting = attempt(RateSetting(config.mode, request), timeout)
        except base_codecs.BaseCodecError:
            break  # an encoder that fails or stalls at this request: keep what fitted
        tried.append((request, used))
        if best[1] < used <= budget:
            best = (payload, used, setting)
        request = max(least, _next_request(tried, (1 + FILL) / 2 * budget))
        if any(abs(request / r - 1) < 0.01 for r, _ in tried):
            break  # nothing new to try: the size has no more to give
    if best[1] < FILL * budget and (best is floor or thorough):
        # Rate control found nothing between the coarsest quantiser and the budget (its
        # own floor can be far above the quantiser's on short segments), or too little:
        # bisect the quantiser as well.
        lo, hi = _FINEST_QP, base_codecs.COARSEST[config.codec]  # hi fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                found = attempt(RateSetting("qp", mid), timeout)
            except base_codecs.BaseCodecError:
                lo = mid  # libvvenc can fail at fine quantisers on tiny pictures
                continue
            if found[1] <= budget:
                hi = mid
                if found[1] > best[1]:
                    best = found
            else:
                lo = mid
        if config.codec == "vvc" and best[2].mode == "qp" and best[1] < FILL * budget:
            best = _finer_chroma(attempt, best, budget, timeout)
    payload, used, setting = best
    frames = render(payload, h, w, threads)
    return CodedBase(config, payload, used, setting, frames)


def _finer_chroma(attempt, best: tuple, budget: int, timeout: float) -> tuple:
    """``best`` (a VVC stream at a fixed quantiser, short of the budget) or the fullest one
    within ``budget`` at the same quantiser with a finer chroma quantiser: one luma step
    moves the size by 4-20 %, which at a few hundred bytes leaves a file far under its
    target; a chroma offset moves it by a few % a step."""
    qp = best[2].value
    lo, hi = _FINEST_CHROMA - 1, 0  # offset hi fits (best); lo stands for "over"
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            found = attempt(RateSetting("qp", qp, mid), timeout)
        except base_codecs.BaseCodecError:
            lo = mid
            continue
        if found[1] <= budget:
            hi = mid
            best = max(best, found, key=lambda b: b[1])
        else:
            lo = mid
    return best


def _next_request(tried: list[tuple[float, int]], aim: float) -> float:
    """The next bitrate to ask for: a secant step in log space through the two tries nearest
    ``aim`` (the first step assumes size proportional to the request), kept inside the
    bracket once ``aim`` is bracketed."""
    if len(tried) == 1:
        request, size = tried[0]
        return request * min(4.0, max(0.25, aim / size))
    (r0, s0), (r1, s1) = sorted(tried, key=lambda t: abs(math.log(t[1] / aim)))[:2]
    slope = 1.0
    if r0 != r1 and s0 != s1:
        slope = min(1.5, max(0.3, math.log(s1 / s0) / math.log(r1 / r0)))
    guess = r0 * (aim / s0) ** (1 / slope)
    under = [r for r, size in tried if size <= aim]
    over = [r for r, size in tried if size > aim]
    if under and over:
        lo, hi = max(under), min(over)
        if not lo < guess < hi or min(guess / lo, hi / guess) < 1.01:
            guess = math.sqrt(lo * hi)
    elif over:  # sizes move in steps: ask for clearly less than anything tried
        guess = min(guess, min(over) / 1.08)
    else:
        guess = max(guess, max(under) * 1.08)
    return min(4 * r0, max(r0 / 4, guess))


def render(payload: BasePayload, height: int, width: int, threads: int | None = None,
           motion: MotionPayload | None = None) -> torch.Tensor:
    """The frames a decoder rebuilds from ``payload`` and ``motion`` (T, 3, H, W)."""
    with torch.no_grad():
        return torch.stack(list(base_frames(
            payload.codec_name, to_decoder(payload.codec, payload.units),
            (payload.width, payload.height), payload.frames, payload.anchors,
            (height, width), threads, motion)))


def with_motion(plain: CodedBase, moved: CodedBase, motion: MotionChoice,
                video: torch.Tensor, threads: int | None = None) -> CodedBase:
    """The better for the judge of ``plain`` (blended by time) and ``moved`` (the same
    configuration coded for the bytes ``motion`` leaves) with ``motion`` under either blend
    rule (linear in time, the nearer anchor). A candidate may cost at most PSNR_SLACK dB
    against the best PSNR of the three."""
    _, _, h, w = video.shape
    options = [(plain.frames, None)]
    for blend in (LINEAR, NEAREST):
        payload = replace(motion.payload, blend=blend)
        data = write_motion(payload, *_segment_shape(moved.payload, h, w))
        m = replace(motion, payload=payload, data=data)
        options.append((render(moved.payload, h, w, threads, payload), m))
    judged = [judge(as_delivered(f), video) for f, _ in options]
    top = max(j.psnr for j in judged)
    best = min(range(len(options)), key=lambda i: judged[i].score
               if judged[i].psnr >= top - PSNR_SLACK else float("inf"))
    frames, chosen = options[best]
    return plain if chosen is None else replace(moved, frames=frames, motion=chosen)


def _segment_shape(payload: BasePayload, height: int, width: int) -> tuple[int, ...]:
    return payload.frames, payload.anchors, height, width

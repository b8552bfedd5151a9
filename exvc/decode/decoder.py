"""Decode pipeline: .dinr bytes in, frames out.

Three jobs, three modules: ``exvc.decode.parse`` reads and checks the container and every
payload (``probe`` reads only the container and imports no torch, so ``exvc -i x.dinr`` answers
at once); ``exvc.decode.prior_choice`` picks and checks the prior a dinr file names; this
module renders. ``decode_video`` rebuilds each segment's INR and renders its frames one at a
time; for the ``dinr`` codec each INR frame then conditions the few-step diffusion sampler of
the prior the file names (with the segment's adapter, if it has one).

The names the CLI, the benchmark and the tests use are re-exported here: the CLI imports
``probe`` and ``decode_video`` through this module, so a stand-in for it replaces both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from exvc.bitstream.base import RESIDUAL_OFFSET
from exvc.bitstream.bytesio import DinrError
from exvc.decode.parse import (
    DinrInfo,
    ParsedStream,
    check_decodable,
    parse_segments,
    parse_stream,
    probe,
)
from exvc.decode.prior_choice import PriorMismatchError, resolve_prior
from exvc.models.device import resolve_device
from exvc.models.threads import confined, torch_threads

__all__ = [
    "BAND_BYTES", "DinrInfo", "ParsedStream", "PriorMismatchError", "check_adapters",
    "check_bases", "check_decodable", "decode_video", "parse_segments", "parse_stream",
    "probe", "resolve_prior",
]

# Frames whose rendering would need more working memory than this are rendered in bands of
# rows, so decoding memory stays bounded whatever the frame size.
BAND_BYTES = 64 << 20


def decode_video(data: bytes, threads: int | None = None, band_bytes: int = BAND_BYTES,
                 prior=None, hwaccel: str = "cpu") -> tuple[DinrInfo, Iterator[np.ndarray]]:
    """Parse ``data`` fully, decode every base stream once to check it and, for dinr, load
    and check the prior (every error surfaces here, before any frame), then return the
    stream info and an iterator over float32 RGB (3, H, W) frames. INR frames whose
    rendering would need more than ``band_bytes`` are rendered in bands of rows.
    ``prior``: see :func:`resolve_prior`. ``hwaccel`` (``cpu``, ``cuda`` or ``auto``; see
    ``exvc.models.device``) is where the prior samples; it is moved there. Parsing, base
    decoding and INR rendering stay on the CPU.

    ``threads`` holds torch's thread count for this call only: while the checks run, and
    while the iterator computes a frame (not between frames, when the consumer runs; see
    ``exvc.models.threads``). The previous count is back when this returns or raises, and
    between and after the frames."""
    import torch

    from exvc.models.quantize import model_from_payload

    device = resolve_device(hwaccel)  # before any work: -hwaccel cuda without CUDA
    stream = parse_stream(data)
    info = stream.info
    h, w = info.video.height, info.video.width
    with torch_threads(threads):
        diffusion = None
        if stream.prior is not None:
            diffusion = _Diffusion.create(stream.prior, prior, h, w, info.header.seed, device)
            diffusion.check(stream.adapters)
        check_bases(stream.bases, h, w, threads)

    def inr_frame(model, latents, t: int, rows: int) -> torch.Tensor:
        if rows >= h:
            return model.render(latents, [t])[0].clamp_(0, 1)
        out = torch.empty((3, h, w))
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            out[:, y0:y1] = model.render_rows(latents, t, y0, y1).clamp_(0, 1)
        return out

    def condition(p, base, motion) -> Iterator[torch.Tensor]:
        """A segment's condition frames: the base (with the frames between its pictures
        predicted by ``motion``, section 15), the INR, or the base plus the INR's residual
        (section 13.4)."""
        bframes = _base_frames(base, motion, h, w, threads) if base is not None else None
        if p is None:
            yield from bframes
            return
        model = model_from_payload(p, h, w)
        latents = list(model.latents)
        rows = max(1, band_bytes // model.working_bytes_per_row())
        for t in range(p.frames):
            if bframes is None:
                yield inr_frame(model, latents, t, rows)
            else:
                residual = inr_frame(model, latents, t, rows) - RESIDUAL_OFFSET
                yield (next(bframes) + residual).clamp_(0, 1)

    def frames() -> Iterator[np.ndarray]:
        try:
            for p, base, motion, adapter in zip(stream.segments, stream.bases, stream.motions,
                                                stream.adapters, strict=True):
                if diffusion is not None:
                    diffusion.use_adapter(adapter)
                for frame in condition(p, base, motion):
                    if diffusion is not None:
                        frame = diffusion.refine(frame)
                    yield frame.numpy()
        finally:  # also when closed early: the prior (maybe the caller's) keeps no adapter
            if diffusion is not None:
                diffusion.use_adapter(None)

    @contextmanager
    def computing() -> Iterator[None]:
        """What holds while a frame is computed, and only then."""
        with torch_threads(threads), torch.inference_mode():
            yield

    return info, confined(frames(), computing)


def _base_frames(base, motion, height: int, width: int, threads: int | None) -> Iterator:
    from exvc.bitstream.base import to_decoder
    from exvc.media.base_video import base_frames

    return base_frames(base.codec_name, to_decoder(base.codec, base.units),
                       (base.width, base.height), base.frames, base.anchors,
                       (height, width), threads, motion)


def check_bases(bases: list, height: int, width: int, threads: int | None = None) -> None:
    """Decode every base stream once, keeping nothing, so that one that does not decode to
    what its chunk declares is refused before any frame is output."""
    from exvc.bitstream.base import to_decoder
    from exvc.media.base_codecs import BaseCodecError, decode

    for index, base in enumerate(bases):
        if base is None:
            continue
        try:
            for _ in decode(base.codec_name, to_decoder(base.codec, base.units), base.width,
                            base.height, base.coded_frames, threads):
                pass
        except BaseCodecError as exc:
            raise DinrError(f"corrupt .dinr: the base stream of segment {index} {exc}") from None


def check_adapters(prior, adapters_: list) -> None:
    """Refuse, before any frame, an adapter (``AdapterPayload`` or None per segment) whose
    layers are not those of ``prior`` (a loaded :class:`exvc.prior.loader.Prior`)."""
    from exvc.prior.adapters import check_targets

    for adapter in adapters_:
        if adapter is not None:
            try:
                check_targets(prior.unet, adapter.targets)
            except ValueError as exc:
                raise DinrError(f"corrupt .dinr: {exc}") from None


class _Diffusion:
    """The dinr refinement of INR frames: prior, sampler settings, noise, current adapter."""

    def __init__(self, prior, settings, noise) -> None:
        from exvc.prior.sampler import make_scheduler

        self.prior, self.settings, self.noise = prior, settings, noise
        self.scheduler = make_scheduler(prior, settings)
        self.adapter = None

    @classmethod
    def create(cls, record, prior, height: int, width: int, seed: int,
               device: str = "cpu") -> _Diffusion:
        from exvc.prior.sampler import SamplerSettings, noise_for

        loaded = resolve_prior(record, prior)
        if device != "cpu":
            loaded.to(device)
        settings = SamplerSettings(record.sampler, record.grid_steps, record.run_steps,
                                   record.mix)
        return cls(loaded, settings, noise_for(loaded, seed, height, width))

    def check(self, adapters_: list) -> None:
        check_adapters(self.prior, adapters_)

    def use_adapter(self, adapter) -> None:
        from exvc.prior import adapters

        if self.adapter is not None:
            adapters.detach(self.prior.unet)
            self.adapter = None
        if adapter is not None:
            adapters.load_payload(self.prior.unet, adapter)
            self.adapter = adapter

    def refine(self, frame):
        from exvc.prior.sampler import sample

        return sample(self.prior, frame[None], self.noise, self.settings,
                      self.scheduler)[0].clamp_(0, 1)

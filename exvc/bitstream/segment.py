"""SEGMENT chunk payload: one independently decodable run of frames held by one INR.

Layout (bitstream_spec.md section 9):

    frames        uleb     frames in this segment
    config        u8 x K   the INR configuration fields, in INRConfig order
    latent_step   uleb     latent quantisation step = latent_step / 256
    weight_steps  u8 x W   one per synthesis tensor: step = 2 ** (-code / 4)
    symbols       rest     exvc.bitstream.entropy stream of every latent level, then every
                           synthesis tensor, flattened in C order

K and W and every tensor's size follow from the configuration, the frame count and the frame
size, so the caller supplies them (``layout``); the payload never states a size twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError
from exvc.bitstream.entropy import TableBudget, decode_symbols, encode_symbols

LATENT_STEP_ONE = 256


@dataclass
class SegmentPayload:
    frames: int
    config: list[int]
    latent_step: int
    weight_steps: list[int]
    latents: list[np.ndarray]
    weights: list[np.ndarray]


@dataclass(frozen=True)
class SegmentLayout:
    """Tensor sizes implied by a configuration: what the parser needs to split the symbols."""

    latent_sizes: list[int]
    weight_sizes: list[int]


def write_segment(p: SegmentPayload) -> bytes:
    w = ByteWriter().uleb(p.frames)
    for value in p.config:
        w.u8(value)
    w.uleb(p.latent_step)
    for code in p.weight_steps:
        w.u8(code)
    w.raw(encode_symbols(list(p.latents) + list(p.weights)))
    return w.getvalue()


def read_segment(
    data: bytes,
    config_fields: int,
    layout: Callable[[list[int], int], SegmentLayout],
    max_frames: int,
    max_symbols: int,
    tables: TableBudget | None = None,
) -> SegmentPayload:
    """Parse a SEGMENT payload. ``layout(config, frames)`` validates the configuration (raising
    ValueError) and returns the tensor sizes; limits are checked before anything is sized.
    ``tables``: the file's entropy-table budget."""
    r = ByteReader(data, "segment")
    frames = r.uleb()
    if not 1 <= frames <= max_frames:
        raise DinrError(f"corrupt .dinr: segment of {frames} frames (limit {max_frames})")
    config = [r.u8() for _ in range(config_fields)]
    try:
        sizes = layout(config, frames)
    except ValueError as exc:
        raise DinrError(f"corrupt .dinr: bad INR configuration ({exc})") from None
    total = sum(sizes.latent_sizes) + sum(sizes.weight_sizes)
    if total > max_symbols:
        raise DinrError(f"corrupt .dinr: segment asks for {total} coefficients "
                        f"(limit {max_symbols})")
    latent_step = r.uleb()
    if not 1 <= latent_step <= 1 << 20:
        raise DinrError(f"corrupt .dinr: latent step {latent_step} out of range")
    weight_steps = [r.u8() for _ in sizes.weight_sizes]
    tensors = decode_symbols(r.rest(), sizes.latent_sizes + sizes.weight_sizes,
                             max_symbols=max_symbols, tables=tables)
    n = len(sizes.latent_sizes)
    return SegmentPayload(frames, config, latent_step, weight_steps, tensors[:n], tensors[n:])

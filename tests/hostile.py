"""Hostile .dinr files for the resource tests and scripts/hostile_tables.py.

``many_tables(n)`` is the table amplifier an independent parser found: a dinr file of a few KB
whose ADAPTER holds ``n`` one-value tensors, each coded with the largest LAPLACE model
(M = 65536, 131073 table entries stated in 6 bytes). ``normal()`` is the same file without
the ADAPTER, ``with_adapter()`` the same with a small valid one. All parse without a prior
(bitstream_spec.md section 10.1).
"""

from __future__ import annotations

from pathlib import Path

import constriction
import numpy as np

from exvc.bitstream.bytesio import ByteWriter
from exvc.bitstream.container import (
    ADAPTER,
    HEAD,
    PRIOR_SHORT,
    SEGMENT,
    Chunk,
    read_container,
    write_container,
)
from exvc.bitstream.entropy import MAX_ABS, _categorical, laplace_table
from exvc.bitstream.header import CODEC_DINR, Header
from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short

BASIC = Path(__file__).parent / "data" / "compat" / "v1.3" / "basic_16x16_4f.dinr"


def _frame(adapter: bytes | None) -> bytes:
    c = read_container(BASIC.read_bytes())
    header = Header.from_bytes(c.first(HEAD).payload)
    header.codec = CODEC_DINR
    prior = write_prior_short(PriorRecord(bytes(8), "", 0, 8, 2))
    chunks = [Chunk(HEAD, header.to_bytes()), Chunk(PRIOR_SHORT, prior)]
    if adapter is not None:
        chunks.append(Chunk(ADAPTER, adapter))
    return write_container(chunks + [Chunk(SEGMENT, c.first(SEGMENT).payload)])


def normal() -> bytes:
    return _frame(None)


def with_adapter(layers: int = 3) -> bytes:
    """``normal()`` with a small valid ADAPTER (it parses; it fits no real prior)."""
    from exvc.bitstream.adapter import AdapterPayload, AdapterTarget, write_adapter

    rng = np.random.default_rng(layers)
    targets = [AdapterTarget(2 * i, i % 2, 8, 4 + i, 1 + 2 * (i % 2), 1 + 2 * (i % 2), 12)
               for i in range(layers)]
    b = [rng.integers(-3, 4, t.b_size(2)).astype(np.int32) for t in targets]
    return _frame(write_adapter(AdapterPayload(2, 4, 7, targets, b)))


def many_tables(n: int) -> bytes:
    w = ByteWriter().u8(1).u8(1).uleb(0).uleb(n)  # rank 1, alpha 1, seed 0, n layers
    for index in range(n):
        w.uleb(index).u8(0).uleb(1).uleb(1).u8(1).u8(1).u8(0)  # Linear 1 -> 1, step 1
    decay, zero = 1, 0xFFFF
    for _ in range(n):
        w.u8(1).uleb(MAX_ABS).u16(decay).u16(zero)
    coder = constriction.stream.queue.RangeEncoder()
    model = _categorical(laplace_table(MAX_ABS, decay, zero))
    for _ in range(n):
        coder.encode(np.array([MAX_ABS], np.int32), model)  # the value 0
    words = np.asarray(coder.get_compressed(), dtype="<u4")
    return _frame(w.raw(words.tobytes()).getvalue())

"""The fuzz target for the .dinr parse path, shared by tests/test_fuzz.py (a short bounded run)
and scripts/fuzz_container.py (a long run).

``fuzz_one(data)`` runs what a decoder does with untrusted bytes before the first pixel:
container and CRCs, HEAD and META, the resource limits, every SEGMENT payload (configuration,
entropy tables, range decoding), the construction of each segment's INR from its integers,
every BASE payload and, for small pictures, the decoding of its stream by the standard
decoder (which must give exactly the pictures the chunk declares), and every MOTION payload
(for small pictures, its frames predicted from stand-in anchors).
For a dinr file that names a bundled prior, its adapters are checked against that prior, as
the decoder does before its first frame.
It may reject the input only with :class:`DinrError`; anything else (another exception, a hang,
an allocation beyond the limits) is a bug. Frames are rendered only for tiny pictures, so
one input costs milliseconds.

Inputs come from three generators: raw bytes, mutations of real files with the chunk CRCs
re-computed (so mutations reach the parsers behind the CRC), and containers assembled from
random but plausible chunks.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

from exvc.bitstream.bytesio import DinrError, uleb_bytes
from exvc.bitstream.container import (
    ADAPTER,
    BASE,
    END,
    HEAD,
    META,
    MOTION,
    PRIOR,
    PRIOR_SHORT,
    SEGMENT,
)

COMPAT = Path(__file__).resolve().parent / "data" / "compat"
RENDER_PIXELS = 4096  # render (and so check) frames only this small


def seed_files() -> list[bytes]:
    """Every file of the compatibility corpus (real encoder output) and two dinr files with
    an ADAPTER (tests/hostile.py), to mutate."""
    import hostile

    corpus = [p.read_bytes() for p in sorted(COMPAT.glob("*/*.dinr"))]
    return corpus + [hostile.with_adapter(), hostile.many_tables(6)]


_PRIORS: list = []  # every bundled prior, loaded once per run (loading costs seconds)


def _prior_for(record):
    """The loaded bundled prior that ``record`` names, found by the decoder's own
    ``resolve_prior``; None when no bundled prior matches."""
    from exvc.decode.decoder import PriorMismatchError, resolve_prior
    from exvc.prior.bundled import bundled_priors
    from exvc.prior.loader import load_prior

    if not _PRIORS:
        _PRIORS.extend(load_prior(folder) for folder, _ in bundled_priors().values())
    for prior in _PRIORS:
        try:
            return resolve_prior(record, prior)
        except PriorMismatchError:
            continue
    return None


def fuzz_one(data: bytes) -> set[str]:
    """Parse ``data`` as a decoder would; only DinrError may escape. Returns the stages the
    input reached (``parsed``, ``prior``: a bundled prior matched its record, ``adapters``:
    its adapters were checked against that prior and fit, ``inr``: segments were built),
    so that a run can show it got behind each check."""
    import torch

    from exvc.decode.decoder import check_adapters, check_bases, parse_stream
    from exvc.models.quantize import model_from_payload

    reached: set[str] = set()
    try:
        stream = parse_stream(data)
    except DinrError:
        return reached
    reached.add("parsed")
    h, w = stream.info.video.height, stream.info.video.width
    if stream.prior is not None:
        prior = _prior_for(stream.prior)
        if prior is not None:
            reached.add("prior")
            if any(a is not None for a in stream.adapters):
                try:
                    check_adapters(prior, stream.adapters)
                    reached.add("adapters")
                except DinrError:
                    pass
    if any(b is not None and b.frame_step == 0 for b in stream.bases):
        reached.add("anchors")  # a listed layout (format 1.6) parsed
    if h * w <= RENDER_PIXELS:
        try:
            check_bases(stream.bases, h, w)
        except DinrError:
            pass
    with torch.inference_mode():
        for base, motion in zip(stream.bases, stream.motions, strict=True):
            if motion is None:
                continue
            reached.add("motion")
            if h * w <= RENDER_PIXELS:
                from exvc.media.global_motion import expand_with_motion

                anchors = (torch.full((3, h, w), 0.5) for _ in range(base.coded_frames))
                frames = list(expand_with_motion(anchors, base.frames, base.anchors, motion))
                assert len(frames) == base.frames and frames[-1].shape == (3, h, w)
        for p in stream.segments:
            if p is None:  # a base alone
                continue
            model = model_from_payload(p, h, w)
            reached.add("inr")
            if h * w <= RENDER_PIXELS:
                out = model.render(list(model.latents), [p.frames - 1])
                assert out.shape == (1, 3, h, w)
    return reached


# --- input generators (plain ``random`` so the long-run script needs no hypothesis) --------

def chunk_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(start, payload start, payload end) of each chunk, read leniently (no CRC check)."""
    spans, pos = [], 6
    while pos < len(data):
        start = pos
        pos += 1
        length, shift = 0, 0
        while pos < len(data) and shift < 70:
            b = data[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        end = pos + length
        if end + 4 > len(data):
            break
        spans.append((start, pos, end))
        pos = end + 4
    return spans


def fix_crcs(data: bytes) -> bytes:
    """Recompute the CRC of every chunk that can be delimited, so a mutated payload is
    judged by the parsers behind the CRC rather than by the CRC check alone."""
    out = bytearray(data)
    for start, _, end in chunk_spans(data):
        out[end : end + 4] = zlib.crc32(bytes(out[start:end])).to_bytes(4, "little")
    return bytes(out)


def chunk(ctype: int, payload: bytes) -> bytes:
    body = bytes([ctype]) + uleb_bytes(len(payload)) + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: bit flips, byte sets, cuts, duplications, insertions,
    interesting values; then, most of the time, valid CRCs again."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not buf:
            buf += rng.randbytes(rng.randint(1, 16))
            continue
        i = rng.randrange(len(buf))
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            del buf[i : i + rng.randint(1, 32)]
        elif op == 3:
            j = rng.randrange(len(buf))
            buf[i:i] = buf[j : j + rng.randint(1, 32)]
        elif op == 4:
            buf[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 5:
            buf[i : i + 2] = rng.choice([b"\xff\xff", b"\x80\x80", b"\xff\x7f", b"\x00\x00"])
        else:
            del buf[i:]
    out = bytes(buf)
    return fix_crcs(out) if rng.random() < 0.8 else out


def _edit(payload: bytes, rng: random.Random) -> bytes:
    """Small in-place edits of a payload that keep most of its structure."""
    buf = bytearray(payload)
    for _ in range(rng.randint(1, 3)):
        if not buf:
            buf += rng.randbytes(4)
        i = rng.randrange(len(buf))
        op = rng.randrange(4)
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.choice([0, 1, 2, 3, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            del buf[i : i + rng.randint(1, 4)]
        else:
            buf[i:i] = rng.randbytes(rng.randint(1, 4))
    return bytes(buf)


def mutate_payload(data: bytes, rng: random.Random) -> bytes:
    """Edit the payload of one chunk of a valid file (a segment or adapter, most often) and
    re-frame it
    with a correct length and CRC: this reaches the segment, entropy and model code."""
    spans = chunk_spans(data)
    if not spans:
        return data
    segs = [i for i, (st, _, _) in enumerate(spans)
            if data[st] in (SEGMENT, BASE, MOTION, ADAPTER)]
    k = rng.choice(segs) if segs and rng.random() < 0.7 else rng.randrange(len(spans))
    parts = [data[:6]]
    for i, (st, p0, p1) in enumerate(spans):
        payload = data[p0:p1]
        parts.append(chunk(data[st], _edit(payload, rng) if i == k else payload))
    return b"".join(parts)


def _raw_uleb(v: int) -> bytes:
    """LEB128 without the writer's range check, so values beyond 2^63 can be produced."""
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _uleb_field(rng: random.Random, lo: int, hi: int) -> bytes:
    v = rng.choice([lo, hi, hi + 1, 0, rng.randint(lo, hi), rng.getrandbits(rng.randint(1, 70))])
    return _raw_uleb(v)


def assemble(rng: random.Random) -> bytes:
    """A container from scratch: a HEAD with fields near and beyond their limits, maybe META,
    segments with a random configuration and random entropy bytes, valid CRCs and END."""
    head = (_uleb_field(rng, 1, 64) + _uleb_field(rng, 1, 64) + _uleb_field(rng, 1, 16)
            + _uleb_field(rng, 1, 60) + _uleb_field(rng, 1, 2)
            + bytes([rng.choice([8, 10, 7]), rng.randrange(6), 2, 2, 2, rng.randrange(3),
                     rng.choice([0, 0, 0, 1, 2])])
            + _uleb_field(rng, 0, 2**63 - 1) + _uleb_field(rng, 1, 8))
    parts = [b"DINR", bytes([1, rng.choice([0, 0, 1, 9])]), chunk(HEAD, head)]
    if rng.random() < 0.3:
        parts.append(chunk(META, uleb_bytes(1) + uleb_bytes(1) + b"k" + uleb_bytes(1) + b"v"))
    for _ in range(rng.randint(0, 3)):
        config = bytes([rng.randint(1, 3), rng.randint(1, 3), rng.randint(0, 3),
                        rng.randint(0, 3), rng.randint(1, 8), rng.randint(0, 2),
                        rng.randint(0, 2), rng.randint(1, 4), rng.randint(0, 8)])
        payload = (uleb_bytes(rng.randint(1, 8)) + config + uleb_bytes(rng.randint(1, 512))
                   + rng.randbytes(rng.randint(0, 12)) + rng.randbytes(rng.randint(0, 64)))
        parts.append(chunk(SEGMENT, payload))
    for _ in range(rng.randint(0, 2)):
        units = b"".join(uleb_bytes(n) + rng.randbytes(n)
                         for n in (rng.randint(1, 24) for _ in range(rng.randint(0, 4))))
        payload = (uleb_bytes(rng.randint(1, 8)) + bytes([rng.randint(0, 4)])
                   + _uleb_field(rng, 2, 64) + _uleb_field(rng, 2, 64)
                   + bytes([rng.randint(0, 9), rng.randint(0, 2)]) + units)
        parts.append(chunk(BASE, payload))
        if rng.random() < 0.5:
            motion = (bytes([rng.randint(0, 3), rng.randint(0, 4), rng.randint(0, 2),
                             rng.choice([0, 8, 16, rng.randrange(256)])])
                      + bytes([rng.choice([0, 1, 3]) for _ in range(rng.randint(0, 6))])
                      + rng.randbytes(4 * rng.randint(0, 3)))
            parts.append(chunk(MOTION, motion))
    if rng.random() < 0.05:
        parts.append(chunk(rng.choice([PRIOR, PRIOR_SHORT, 0x7E, 0xC3]), rng.randbytes(8)))
    parts.append(chunk(END, b""))
    return b"".join(parts)


def generate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One input from the mix of generators."""
    roll = rng.random()
    if roll < 0.1 or not seeds:
        return rng.randbytes(rng.randint(0, 64)) if roll < 0.05 else b"DINR\x01\x00" + \
            rng.randbytes(rng.randint(0, 64))
    if roll < 0.4:
        return mutate(rng.choice(seeds), rng)
    if roll < 0.8:
        return mutate_payload(rng.choice(seeds), rng)
    return assemble(rng)

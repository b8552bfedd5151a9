"""bitstream_spec.md sections 7.1-7.4 in plain Python integers: the reference that pins exvc's
constriction-based coder.

Nothing here uses constriction or floating point. ``decode_payload`` applies every rule of
section 7 (model parameters, the table budget, the stream's length and its canonical end) and
raises :class:`Reject` where the spec says reject. The tests compare exvc against it, so a
constriction release that changed the arithmetic fails the suite instead of corrupting decodes.
It is slow (pure Python): meant for payloads of up to some thousands of symbols.
"""

from __future__ import annotations

PRECISION = 24
TOTAL = 1 << PRECISION
MAX_ABS = 1 << 16
M64 = (1 << 64) - 1
TABLE_BASE, TABLE_PER_BYTE = 1 << 20, 1 << 10


class Reject(Exception):
    """The payload is not valid under bitstream_spec.md section 7."""


def laplace_table(m: int, decay: int, zero: int) -> list[int]:
    w = [1 << 31] * (m + 1)
    for k in range(1, m + 1):  # w[k] = floor-chained power, bits of k from low to high
        acc, p, e = 1 << 31, decay << 15, k
        while e:
            if e & 1:
                acc = (acc * p) >> 31
            p = (p * p) >> 31
            e >>= 1
        w[k] = acc
    n = 2 * m + 1
    free = TOTAL - n
    z = (free * zero) >> 16
    rest = free - z
    s = 2 * sum(w[1:])
    e = [(rest * w[k]) // s for k in range(1, m + 1)]
    return [1 + x for x in reversed(e)] + [1 + z + rest - 2 * sum(e)] + [1 + x for x in e]


def count_table(counts: list[int]) -> list[int]:
    n, total = len(counts), sum(counts)
    free = TOTAL - n
    f = [1 + c * free // total for c in counts]
    f[counts.index(max(counts))] += TOTAL - sum(f)
    return f


def _cdf(freqs: list[int]) -> list[int]:
    cdf = [0]
    for f in freqs:
        cdf.append(cdf[-1] + f)
    return cdf


def range_encode(pieces: list[tuple[list[int], list[int]]]) -> list[int]:
    """The ENCODER and finish() of section 7.4: (symbol indices, table) per coded tensor."""
    out: list[int] = []
    lower, rng = 0, M64
    held: tuple[int, int] | None = None  # (count, first held-back word)
    for symbols, freqs in pieces:
        cdf = _cdf(freqs)
        for s in symbols:
            scale = rng >> 24
            rng = scale * freqs[s]
            new_lower = (lower + scale * cdf[s]) & M64
            if held and ((new_lower + rng) & M64) > new_lower:
                count, first = held
                first, rest = ((first + 1) & 0xFFFFFFFF, 0) if new_lower < lower \
                    else (first, 0xFFFFFFFF)
                out += [first] + [rest] * (count - 1)
                held = None
            lower = new_lower
            if rng < (1 << 32):
                rng <<= 32
                word = lower >> 32
                lower = (lower << 32) & M64
                if held:
                    held = (held[0] + 1, held[1])
                elif ((lower + rng) & M64) > lower:
                    out.append(word)
                else:
                    held = (1, word)
    if rng == M64:
        return out
    point = (lower + (1 << 32) - 1) & M64
    if held:
        count, first = held
        first, rest = ((first + 1) & 0xFFFFFFFF, 0) if point < lower else (first, 0xFFFFFFFF)
        out += [first] + [rest] * (count - 1)
    out.append(point >> 32)
    if ((lower + rng) & M64) >> 32 == point >> 32:
        out.append(0)
    return out


def range_decode(words: list[int], pieces: list[tuple[int, list[int]]]) -> list[list[int]]:
    """The DECODER of section 7.4: (symbol count, table) per coded tensor. Reading past the
    end yields 0; ``q >= 2^24`` rejects. The caller checks the canonical end."""
    def word(i: int) -> int:
        return words[i] if i < len(words) else 0

    point, pos = (word(0) << 32) | word(1), 2
    lower, rng = 0, M64
    result = []
    for count, freqs in pieces:
        cdf = _cdf(freqs)
        got = []
        for _ in range(count):
            scale = rng >> 24
            q = ((point - lower) & M64) // scale
            if q >= TOTAL:
                raise Reject("invalid data")
            lo, hi = 0, len(freqs) - 1  # the s with cdf[s] <= q < cdf[s + 1]
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if cdf[mid] <= q:
                    lo = mid
                else:
                    hi = mid - 1
            got.append(lo)
            lower = (lower + scale * cdf[lo]) & M64
            rng = scale * freqs[lo]
            if rng < (1 << 32):
                lower = (lower << 32) & M64
                rng <<= 32
                point = ((point << 32) & M64) | word(pos)
                pos += 1
        result.append(got)
    return result


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise Reject("truncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        return self.u8() | self.u8() << 8

    def uleb(self) -> int:
        v = 0
        for i in range(10):
            b = self.u8()
            v |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if (b == 0 and i > 0) or v > (1 << 63) - 1:
                    raise Reject("bad varint")
                return v
        raise Reject("varint too long")

    def sleb(self) -> int:
        u = self.uleb()
        return u >> 1 if u % 2 == 0 else -((u + 1) >> 1)


def decode_payload(data: bytes, sizes: list[int], budget_left: int | None = None
                   ) -> list[list[int]]:
    """Section 7.1-7.4: the values of every tensor, or :class:`Reject`. ``budget_left`` is
    what remains of the file's table budget (default: a file of just this payload)."""
    r = _Reader(data)
    models: list[tuple[int, list[int] | None]] = []  # (offset, table or None)
    alphabet = 0
    parsed = []
    for size in sizes:
        kind = r.u8()
        if kind == 0:
            parsed.append((0, None, None))
            continue
        if size == 0:
            raise Reject("coded model for an empty tensor")
        if kind == 3:
            value = r.sleb()
            if abs(value) > MAX_ABS:
                raise Reject("constant out of range")
            parsed.append((value, None, None))
        elif kind == 1:
            m, decay, zero = r.uleb(), r.u16(), r.u16()
            if not (1 <= m <= MAX_ABS and 1 <= decay <= 0xFFFF):
                raise Reject("bad Laplace parameters")
            parsed.append((-m, "laplace", (m, decay, zero)))
            alphabet += 2 * m + 1
        elif kind == 2:
            lo, n = r.sleb(), r.uleb()
            if not (2 <= n <= 2 * MAX_ABS + 1 and lo >= -MAX_ABS and lo + n - 1 <= MAX_ABS):
                raise Reject("bad table range")
            counts = [r.uleb() for _ in range(n)]
            if max(counts) > (1 << 32) - 1 or sum(counts) == 0:
                raise Reject("bad table counts")
            parsed.append((lo, "table", counts))
            alphabet += n
        else:
            raise Reject("unknown kind")
    if alphabet > (TABLE_BASE + TABLE_PER_BYTE * len(data) if budget_left is None
                   else budget_left):
        raise Reject("table budget")
    for offset, what, params in parsed:
        table = None
        if what == "laplace":
            table = laplace_table(*params)
        elif what == "table":
            table = count_table(params)
        models.append((offset, table))
    stream = data[r.pos:]
    if len(stream) % 4:
        raise Reject("stream not whole words")
    words = [int.from_bytes(stream[i : i + 4], "little") for i in range(0, len(stream), 4)]
    coded = [(size, f) for size, (_, f) in zip(sizes, models, strict=True) if f is not None]
    if not coded and words:
        raise Reject("stream without coded tensors")
    symbols = range_decode(words, coded)
    if range_encode([(s, f) for s, (_, f) in zip(symbols, coded, strict=True)]) != words:
        raise Reject("stream is not canonical")
    decoded = iter(symbols)
    return [[x + off for x in next(decoded)] if f is not None else [off] * size
            for size, (off, f) in zip(sizes, models, strict=True)]

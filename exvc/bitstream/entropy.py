"""Range coding of quantised integer tensors (constriction's queue range coder).

Parsing must never depend on a floating-point result: every model parameter in the stream is
an integer and the frequency table the coder uses is built from those integers with integer
arithmetic only. The table reaches constriction as float64 numbers ``f_i - 1`` whose sum is
exactly ``2**24 - n``; constriction's fast quantiser then computes ``cdf_i = sum_{j<i}(f_j-1)
* 1.0 + i = sum_{j<i} f_j`` with no rounding, so the coder uses our integer table bit for bit
(checked against a pure-Python reference coder in the tests). Floats appear only in the
encoder's *choice* of parameters, which the decoder never repeats.
See ``bitstream_spec.md`` section 7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import constriction
import numpy as np

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError, uleb_len, zigzag

__all__ = [
    "PRECISION", "TOTAL", "MAX_ABS", "KIND_ZERO", "KIND_LAPLACE", "KIND_TABLE", "KIND_CONST",
    "TableBudget", "encode_symbols", "decode_symbols", "coded_size", "estimate_bits",
    "laplace_table", "count_table",
]

PRECISION = 24  # constriction's DefaultContiguousCategoricalEntropyModel: u32, 24 bits
TOTAL = 1 << PRECISION
MAX_ABS = 1 << 16  # largest |symbol| a tensor may hold
MAX_ALPHABET = 2 * MAX_ABS + 1
MAX_COUNT = (1 << 32) - 1  # per-bin count limit of a KIND_TABLE table
DEFAULT_MAX_SYMBOLS = 1 << 26

KIND_ZERO, KIND_LAPLACE, KIND_TABLE, KIND_CONST = 0, 1, 2, 3

# Table budget (bitstream_spec.md sections 7.1 and 11): the alphabets of all coded models of a
# file add up to at most TABLE_BASE + TABLE_PER_BYTE x its bytes. A LAPLACE model states an
# alphabet of up to 131073 entries in 6 bytes; without the budget, a few KB of models could
# make a decoder build hundreds of megabytes of tables.
TABLE_BASE = 1 << 20
TABLE_PER_BYTE = 1 << 10
# The encoder's share of it: a LAPLACE alphabet is at most this many entries per byte the
# model costs (else the tensor is coded with an explicit table, which pays a byte per entry).
LAPLACE_ENTRIES_PER_BYTE = 1 << 8


class TableBudget:
    """What is left of a file's table budget; :func:`decode_symbols` draws on it for each
    payload before it builds any of that payload's tables."""

    def __init__(self, file_bytes: int):
        self.limit = TABLE_BASE + TABLE_PER_BYTE * file_bytes
        self.used = 0

    def take(self, entries: int) -> None:
        self.used += entries
        if self.used > self.limit:
            raise DinrError(f"corrupt .dinr: entropy tables of {self.used} entries (the limit "
                            f"is {self.limit} for the file's size)")

_ONE = 1 << 31  # Q31 fixed point 1.0 for the Laplace weights


def laplace_table(m: int, decay: int, zero: int) -> np.ndarray:
    """Frequencies (sum ``TOTAL``, each >= 1) of symbols ``-m..m`` for KIND_LAPLACE.

    ``decay``/65536 is the ratio between neighbouring magnitudes, ``zero``/65536 roughly the
    probability of 0. Integer-only; see the spec for the normative pseudo-code.
    """
    if not (1 <= m <= MAX_ABS and 1 <= decay <= 0xFFFF and 0 <= zero <= 0xFFFF):
        raise DinrError(f"corrupt .dinr: bad Laplace model parameters ({m}, {decay}, {zero})")
    k = np.arange(1, m + 1, dtype=np.int64)
    w = np.full(m, _ONE, dtype=np.int64)
    p = decay << 15  # decay / 65536 in Q31
    j = 0
    while (1 << j) <= m:
        w = np.where((k >> j) & 1 == 1, (w * p) >> 31, w)
        p = (p * p) >> 31
        j += 1
    n = 2 * m + 1
    free = TOTAL - n
    z = (free * zero) >> 16
    rest = free - z
    s = 2 * int(w.sum())
    e = (rest * w) // s
    f = np.empty(n, dtype=np.int64)
    f[m + 1 :] = 1 + e
    f[:m] = f[m + 1 :][::-1]
    f[m] = 1 + z + rest - 2 * int(e.sum())
    return f


def count_table(counts: np.ndarray) -> np.ndarray:
    """Frequencies (sum ``TOTAL``, each >= 1) proportional to ``counts`` for KIND_TABLE."""
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    total = int(counts.sum())
    if not 2 <= n <= MAX_ALPHABET or total <= 0:
        raise DinrError("corrupt .dinr: bad frequency table")
    free = TOTAL - n
    f = 1 + (counts * free) // total
    f[int(np.argmax(counts))] += TOTAL - int(f.sum())
    return f


def _categorical(freqs: np.ndarray):
    # Exact by construction: see the module docstring.
    return constriction.stream.model.Categorical((freqs - 1).astype(np.float64), perfect=False)


@dataclass
class _Model:
    kind: int
    params: bytes = b""
    offset: int = 0  # symbol = value - offset
    freqs: np.ndarray | None = None
    bits: float = 0.0  # estimated size: side info + ideal code length


def _xent_bits(hist: np.ndarray, freqs: np.ndarray) -> float:
    nz = hist > 0
    return float(-(hist[nz] * np.log2(freqs[nz] / TOTAL)).sum())


def _fit_laplace(hist: np.ndarray, m: int) -> _Model:
    """Pick (decay, zero) for a histogram over ``-m..m``: moment estimate, then a
    golden-section search of the exact cost over decay."""
    n_all = int(hist.sum())
    c0 = int(hist[m])
    zero = min(0xFFFF, (c0 * 65536 + n_all // 2) // n_all)
    mags = np.abs(np.arange(-m, m + 1))
    nz_hist = hist.copy()
    nz_hist[m] = 0
    mean = float((nz_hist * (mags - 1)).sum()) / max(1, n_all - c0)
    theta = mean / (1.0 + mean)

    def to_decay(t: float) -> int:
        return int(min(0xFFFF, max(1, round(t * 65536))))

    cache: dict[int, float] = {}

    def cost(d: int) -> float:
        if d not in cache:
            cache[d] = _xent_bits(hist, laplace_table(m, d, zero))
        return cache[d]

    # search over u = log(1 - theta), bracketed by a factor 4 either side of the estimate
    u0 = np.log(max(1.0 - theta, 1.0 / 65536))
    lo, hi = u0 - np.log(4.0), min(u0 + np.log(4.0), np.log(1.0 - 1.0 / 65536))
    g = (np.sqrt(5.0) - 1) / 2
    a, b = lo, hi
    for _ in range(10):
        c1, c2 = b - g * (b - a), a + g * (b - a)
        if cost(to_decay(1 - np.exp(c1))) <= cost(to_decay(1 - np.exp(c2))):
            b = c2
        else:
            a = c1
    cost(to_decay(theta))
    decay = min(cache, key=lambda d: (cache[d], d))
    params = ByteWriter().uleb(m).u16(decay).u16(zero).getvalue()
    return _Model(KIND_LAPLACE, params, -m, laplace_table(m, decay, zero),
                  cache[decay] + 8 * (1 + len(params)))


def _uleb_lens(values: np.ndarray) -> np.ndarray:
    bits = np.zeros(values.shape, dtype=np.int64)
    v = values.astype(np.int64)
    while v.any():
        bits += v > 0
        v = v >> 1
    return np.maximum(1, (bits + 6) // 7)


def _fit_table(hist: np.ndarray, lo: int, force: bool = False) -> _Model | None:
    """Explicit counts, optionally scaled down by 2**s (ceil, so seen values stay > 0),
    trading table size against code length. None when the table alone would cost more than
    coding the symbols, unless ``force``."""
    n = len(hist)
    if n < 2 or (n > max(64, int(hist.sum())) and not force):
        return None
    head = 1 + uleb_len(zigzag(lo)) + uleb_len(n)
    best_bits, best_counts = np.inf, hist
    for s in range(int(hist.max()).bit_length()):
        counts = (hist + (1 << s) - 1) >> s
        if int(counts.max()) > MAX_COUNT:
            continue
        bits = _xent_bits(hist, count_table(counts)) + 8 * (head + int(_uleb_lens(counts).sum()))
        if bits < best_bits:
            best_bits, best_counts = bits, counts
        elif s > 1:
            break
    w = ByteWriter().sleb(lo).uleb(n)
    for c in best_counts.tolist():
        w.uleb(c)
    return _Model(KIND_TABLE, w.getvalue(), lo, count_table(best_counts), best_bits)


def _choose_model(values: np.ndarray) -> _Model:
    if values.size == 0:
        return _Model(KIND_ZERO, bits=8)
    lo, hi = int(values.min()), int(values.max())
    if lo < -MAX_ABS or hi > MAX_ABS:
        raise ValueError(f"symbol out of range: {lo if lo < -MAX_ABS else hi} "
                         f"(|value| must be <= {MAX_ABS})")
    if lo == hi:
        if lo == 0:
            return _Model(KIND_ZERO, bits=8)
        params = ByteWriter().sleb(lo).getvalue()
        return _Model(KIND_CONST, params, bits=8 * (1 + len(params)))
    m = max(-lo, hi)
    hist_sym = np.bincount(values + m, minlength=2 * m + 1)
    laplace = _fit_laplace(hist_sym, m)
    # A LAPLACE alphabet must be paid for by the bytes the model costs (the table budget);
    # an explicit table pays a byte per entry by itself.
    affordable = 2 * m + 1 <= LAPLACE_ENTRIES_PER_BYTE * max(1, math.ceil(laplace.bits / 8))
    table = _fit_table(hist_sym[lo + m : hi + m + 1], lo, force=not affordable)
    if not affordable or (table is not None and table.bits < laplace.bits):
        return table
    return laplace


def _as_values(t: np.ndarray) -> np.ndarray:
    a = np.asarray(t)
    if a.dtype.kind not in "iub" and a.size:
        raise TypeError(f"encode_symbols needs integer arrays, got {a.dtype}")
    return a.reshape(-1).astype(np.int64)


def _encode(models: list[_Model], values: list[np.ndarray]) -> bytes:
    w = ByteWriter()
    for model in models:
        w.u8(model.kind).raw(model.params)
    coder = constriction.stream.queue.RangeEncoder()
    for model, v in zip(models, values, strict=True):
        if model.freqs is not None:
            coder.encode((v - model.offset).astype(np.int32), _categorical(model.freqs))
    words = np.asarray(coder.get_compressed(), dtype="<u4")
    return w.raw(words.tobytes()).getvalue()


def encode_symbols(tensors: list[np.ndarray]) -> bytes:
    """Entropy-code integer tensors (any shape, |value| <= 2**16) into one payload.

    The decoder needs the element counts (``t.size`` of each) from elsewhere.
    """
    values = [_as_values(t) for t in tensors]
    return _encode([_choose_model(v) for v in values], values)


def coded_size(tensors: list[np.ndarray]) -> int:
    """Exact byte size of ``encode_symbols(tensors)`` (it runs the coder: ~1 ms/100k)."""
    return len(encode_symbols(tensors))


def estimate_bits(tensors: list[np.ndarray]) -> float:
    """Model-based size estimate in bits without running the range coder: it undercounts
    ``8 * coded_size`` by the coder's flush (at most 96 bits) plus about 0.01 %."""
    return sum(_choose_model(_as_values(t)).bits for t in tensors)


@dataclass
class _ReadModel:
    """A model as parsed: its table is built only when its tensor is decoded."""

    kind: int
    offset: int = 0  # value = symbol + offset
    laplace: tuple[int, int, int] | None = None  # (M, decay, zero)
    counts: np.ndarray | None = None  # KIND_TABLE counts

    @property
    def coded(self) -> bool:
        return self.kind in (KIND_LAPLACE, KIND_TABLE)

    @property
    def alphabet(self) -> int:
        if self.laplace is not None:
            return 2 * self.laplace[0] + 1
        return 0 if self.counts is None else len(self.counts)

    def table(self) -> np.ndarray:
        return laplace_table(*self.laplace) if self.laplace else count_table(self.counts)

    def constant(self, size: int) -> np.ndarray:
        """The values of an uncoded tensor (kind 0 or 3)."""
        return np.full(size, self.offset, np.int32)


def _read_model(r: ByteReader, size: int) -> _ReadModel:
    kind = r.u8()
    if kind == KIND_ZERO:
        return _ReadModel(KIND_ZERO)
    if size == 0:
        raise DinrError(f"corrupt .dinr: model kind {kind} for an empty tensor")
    if kind == KIND_CONST:
        value = r.sleb()
        if not -MAX_ABS <= value <= MAX_ABS:
            raise DinrError(f"corrupt .dinr: constant {value} out of range")
        return _ReadModel(KIND_CONST, offset=value)
    if kind == KIND_LAPLACE:
        m = r.uleb()
        decay, zero = r.u16(), r.u16()
        if not (1 <= m <= MAX_ABS and 1 <= decay <= 0xFFFF):
            raise DinrError(f"corrupt .dinr: bad Laplace model parameters ({m}, {decay}, "
                            f"{zero})")
        return _ReadModel(KIND_LAPLACE, -m, laplace=(m, decay, zero))
    if kind == KIND_TABLE:
        lo, n = r.sleb(), r.uleb()
        if not (2 <= n <= MAX_ALPHABET and -MAX_ABS <= lo and lo + n - 1 <= MAX_ABS):
            raise DinrError(f"corrupt .dinr: bad frequency table range ({lo}, {n})")
        if n > r.remaining:  # every count takes at least one byte
            raise DinrError(f"truncated .dinr: {r.what} ends early")
        counts = np.array([r.uleb() for _ in range(n)], np.int64)
        if int(counts.max()) > MAX_COUNT or int(counts.sum()) <= 0:
            raise DinrError("corrupt .dinr: bad frequency table counts")
        return _ReadModel(KIND_TABLE, lo, counts=counts)
    raise DinrError(f"corrupt .dinr: unknown entropy model kind {kind}")


def decode_symbols(data: bytes, sizes: list[int], max_symbols: int = DEFAULT_MAX_SYMBOLS,
                   tables: TableBudget | None = None) -> list[np.ndarray]:
    """Inverse of :func:`encode_symbols`: flat int32 arrays of the given sizes.

    ``max_symbols`` bounds ``sum(sizes)`` so that a corrupt size cannot make us allocate
    unboundedly; ``tables`` is the file's table budget (default: one for a file of just this
    payload), drawn on before any table is built. Tables are built one at a time, so memory
    does not grow with their number. The stream must be canonical: exactly the words the
    encoder writes for the decoded symbols (so a payload has one byte form). Raises
    :class:`DinrError` on malformed input.
    """
    if any(int(s) < 0 for s in sizes):
        raise DinrError("corrupt .dinr: negative tensor size")
    if sum(int(s) for s in sizes) > max_symbols:
        raise DinrError(f"corrupt .dinr: tensor sizes exceed the limit of {max_symbols} symbols")
    r = ByteReader(data, "entropy-coded data")
    models = [_read_model(r, int(s)) for s in sizes]
    (tables or TableBudget(len(data))).take(sum(m.alphabet for m in models))
    stream = r.rest()
    if len(stream) % 4:
        raise DinrError("corrupt .dinr: entropy-coded stream is not a whole number of words")
    words = np.frombuffer(stream, dtype="<u4").astype(np.uint32)
    coded = any(m.coded for m in models)
    if not coded:
        if len(words):
            raise DinrError("corrupt .dinr: unexpected data after the entropy model parameters")
        return [m.constant(int(size)) for m, size in zip(models, sizes, strict=True)]
    decoder = constriction.stream.queue.RangeDecoder(words)
    again = constriction.stream.queue.RangeEncoder()  # re-encodes, to check the stream's end
    out = []
    for model, size in zip(models, sizes, strict=True):
        size = int(size)
        if not model.coded:
            out.append(model.constant(size))
            continue
        categorical = _categorical(model.table())
        try:
            sym = np.asarray(decoder.decode(categorical, size), dtype=np.int32)
        except Exception as exc:  # constriction reports invalid data as AssertionError
            raise DinrError("corrupt .dinr: invalid entropy-coded data") from exc
        again.encode(sym, categorical)
        out.append(sym + np.int32(model.offset))
    if not np.array_equal(np.asarray(again.get_compressed(), dtype=np.uint32), words):
        raise DinrError("corrupt .dinr: entropy-coded stream is not the one its symbols "
                        "encode to")
    return out

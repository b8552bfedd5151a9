"""Range coding of integer tensors (bitstream_spec.md section 7).

Besides round trips and compression efficiency, these tests re-implement the spec's range
coder and table algorithms in plain Python and check them against constriction word for
word: that is what proves the integer tables reach the coder exactly and the spec suffices.
"""

from __future__ import annotations

import time

import constriction
import numpy as np
import pytest

from exvc.bitstream import entropy as E
from exvc.bitstream.bytesio import ByteReader, DinrError
from exvc.bitstream.entropy import (
    MAX_ABS,
    TOTAL,
    coded_size,
    count_table,
    decode_symbols,
    encode_symbols,
    estimate_bits,
    laplace_table,
)

M64 = (1 << 64) - 1


# --------------------------------------------------- reference implementation of the spec

def ref_laplace_table(m: int, decay: int, zero: int) -> list[int]:
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


def ref_count_table(counts: list[int]) -> list[int]:
    n, total = len(counts), sum(counts)
    free = TOTAL - n
    f = [1 + c * free // total for c in counts]
    f[counts.index(max(counts))] += TOTAL - sum(f)
    return f


def ref_range_encode(pieces: list[tuple[list[int], list[int]]]) -> list[int]:
    """constriction's queue RangeEncoder<u32, u64> with 24-bit models, per the spec."""
    out: list[int] = []
    lower, rng = 0, M64
    inverted: tuple[int, int] | None = None  # (count, first held-back word)
    for symbols, freqs in pieces:
        cdf = np.concatenate([[0], np.cumsum(freqs)]).tolist()
        for s in symbols:
            scale = rng >> 24
            rng = scale * freqs[s]
            new_lower = (lower + scale * cdf[s]) & M64
            if inverted and ((new_lower + rng) & M64) > new_lower:
                count, first = inverted
                first, rest = ((first + 1) & 0xFFFFFFFF, 0) if new_lower < lower \
                    else (first, 0xFFFFFFFF)
                out += [first] + [rest] * (count - 1)
                inverted = None
            lower = new_lower
            if rng < (1 << 32):
                rng <<= 32
                word = lower >> 32
                lower = (lower << 32) & M64
                if inverted:
                    inverted = (inverted[0] + 1, inverted[1])
                elif ((lower + rng) & M64) > lower:
                    out.append(word)
                else:
                    inverted = (1, word)
    if rng == M64:
        return out
    point = (lower + (1 << 32) - 1) & M64
    if inverted:
        count, first = inverted
        first, rest = ((first + 1) & 0xFFFFFFFF, 0) if point < lower else (first, 0xFFFFFFFF)
        out += [first] + [rest] * (count - 1)
    out.append(point >> 32)
    if ((lower + rng) & M64) >> 32 == point >> 32:
        out.append(0)
    return out


def ref_range_decode(words: list[int], pieces: list[tuple[int, list[int]]]) -> list[list[int]]:
    pos, point = 0, 0
    for _ in range(2):
        point = (point << 32) | (words[pos] if pos < len(words) else 0)
        pos += 1
    lower, rng = 0, M64
    result = []
    for count, freqs in pieces:
        cdf = np.concatenate([[0], np.cumsum(freqs)]).tolist()
        got = []
        for _ in range(count):
            scale = rng >> 24
            q = ((point - lower) & M64) // scale
            assert q < TOTAL
            s = int(np.searchsorted(cdf, q, side="right")) - 1
            got.append(s)
            lower = (lower + scale * cdf[s]) & M64
            rng = scale * freqs[s]
            if rng < (1 << 32):
                lower = (lower << 32) & M64
                rng <<= 32
                point = ((point << 32) & M64) | (words[pos] if pos < len(words) else 0)
                pos += 1
        result.append(got)
    return result


def ref_decode_payload(data: bytes, sizes: list[int]) -> list[list[int]]:
    """Parse side info and stream as the spec describes, with the reference coder."""
    r = ByteReader(data)
    models = []
    for _ in sizes:
        kind = r.u8()
        if kind == 0:
            models.append((0, None))
        elif kind == 3:
            models.append((r.sleb(), None))
        elif kind == 1:
            m = r.uleb()
            decay, zero = r.u16(), r.u16()
            models.append((-m, ref_laplace_table(m, decay, zero)))
        elif kind == 2:
            lo, n = r.sleb(), r.uleb()
            models.append((lo, ref_count_table([r.uleb() for _ in range(n)])))
    stream = r.rest()
    words = [int.from_bytes(stream[i : i + 4], "little") for i in range(0, len(stream), 4)]
    coded = [(size, f) for size, (_, f) in zip(sizes, models, strict=True) if f is not None]
    decoded = iter(ref_range_decode(words, coded))
    return [[x + off for x in next(decoded)] if f is not None else [off] * size
            for size, (off, f) in zip(sizes, models, strict=True)]


# --------------------------------------------------------------------------------- tables

@pytest.mark.parametrize("m, decay, zero", [
    (1, 1, 0), (1, 65535, 65535), (2, 32768, 0), (7, 50000, 30000), (40, 65000, 100),
    (300, 64000, 20000), (1000, 65535, 0), (513, 1, 65535),
])
def test_laplace_table_matches_reference(m, decay, zero):
    f = laplace_table(m, decay, zero)
    assert f.tolist() == ref_laplace_table(m, decay, zero)
    assert int(f.sum()) == TOTAL and int(f.min()) >= 1 and len(f) == 2 * m + 1
    assert (f == f[::-1]).all()


def test_laplace_table_extremes():
    for m in (MAX_ABS, MAX_ABS - 1, 32768):
        f = laplace_table(m, 65535, 65535)
        assert int(f.sum()) == TOTAL and int(f.min()) >= 1
    for bad in [(0, 100, 0), (MAX_ABS + 1, 100, 0), (5, 0, 0), (5, 65536, 0), (5, 10, 65536)]:
        with pytest.raises(DinrError):
            laplace_table(*bad)


def test_count_table_matches_reference():
    rng = np.random.default_rng(3)
    cases = [[3, 6], [0, 1], [1, 0, 0, 0, 1], [2**32 - 1] * 3 + [0], [5] * 1000]
    cases += [rng.integers(0, 1000, rng.integers(2, 300)).tolist() for _ in range(20)]
    for counts in cases:
        f = count_table(np.array(counts))
        assert f.tolist() == ref_count_table(counts)
        assert int(f.sum()) == TOTAL and int(f.min()) >= 1
    assert count_table(np.array([3, 6])).tolist() == [5592405, 11184811]  # spec example
    for bad in ([], [5], [0, 0]):
        with pytest.raises(DinrError):
            count_table(np.array(bad, dtype=np.int64))


def test_constriction_uses_integer_table_exactly():
    rng = np.random.default_rng(11)
    tables = [laplace_table(3, 40000, 9000), laplace_table(60, 64000, 0),
              count_table(np.array([1, 0, 7, 300, 2])), count_table(np.array([0, 1]))]
    tables.append(count_table(rng.integers(0, 2**20, 4000)))
    for freqs in tables:
        n = len(freqs)
        pieces = [(rng.integers(0, n, 700).tolist(), freqs.tolist()),
                  (rng.integers(0, min(n, 3), 300).tolist(), freqs.tolist())]
        enc = constriction.stream.queue.RangeEncoder()
        for symbols, f in pieces:
            enc.encode(np.array(symbols, np.int32), E._categorical(np.array(f)))
        words = enc.get_compressed().tolist()
        assert words == ref_range_encode(pieces)
        decoded = ref_range_decode(words, [(len(s), f) for s, f in pieces])
        assert decoded == [s for s, _ in pieces]


def test_inverted_situation_matches_reference():
    # long runs of a near-certain symbol then rare ones exercise carries / held-back words
    freqs = count_table(np.array([1, 10**6, 1]))
    rng = np.random.default_rng(5)
    for _ in range(20):
        symbols = np.where(rng.random(3000) < 0.995, 1, rng.choice([0, 2], 3000)).tolist()
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(np.array(symbols, np.int32), E._categorical(freqs))
        assert enc.get_compressed().tolist() == ref_range_encode([(symbols, freqs.tolist())])


# ----------------------------------------------------------------------------- round trips

def _random_tensors(rng: np.random.Generator) -> list[np.ndarray]:
    shapes = [(), (0,), (1,), (2, 3), (4, 5, 6), (17,), (3, 0, 2), (1000,), (10, 10, 10)]
    out = []
    for _ in range(rng.integers(1, 6)):
        shape = shapes[rng.integers(len(shapes))]
        style = rng.integers(6)
        size = int(np.prod(shape))
        if style == 0:
            t = rng.integers(-3, 4, size)
        elif style == 1:
            t = np.round(rng.laplace(0, rng.choice([0.2, 2, 40, 3000]), size))
        elif style == 2:
            t = rng.integers(-(2**15), 2**15 + 1, size)
        elif style == 3:
            t = np.full(size, rng.integers(-MAX_ABS, MAX_ABS + 1))
        elif style == 4:
            t = np.where(rng.random(size) < 0.9, 0, rng.integers(-5, 6, size))
        else:
            t = rng.integers(0, 256, size)
        out.append(np.clip(t, -MAX_ABS, MAX_ABS).astype(np.int32).reshape(shape))
    return out


def test_round_trip_random_tensors():
    rng = np.random.default_rng(1234)
    for _ in range(150):
        tensors = _random_tensors(rng)
        data = encode_symbols(tensors)
        out = decode_symbols(data, [t.size for t in tensors])
        for o, t in zip(out, tensors, strict=True):
            assert o.dtype == np.int32 and o.shape == (t.size,)
            np.testing.assert_array_equal(o, t.reshape(-1))


def test_round_trip_matches_reference_decoder():
    rng = np.random.default_rng(99)
    for _ in range(20):
        tensors = [t for t in _random_tensors(rng)  # keep the pure-Python tables small
                   if t.size <= 1000 and (t.size == 0 or np.abs(t).max() <= 3000)]
        sizes = [t.size for t in tensors]
        data = encode_symbols(tensors)
        ref = ref_decode_payload(data, sizes)
        assert ref == [t.reshape(-1).tolist() for t in tensors]


@pytest.mark.parametrize("tensor", [
    np.array([], np.int32), np.array([0]), np.array([7]), np.array([-MAX_ABS]),
    np.array([MAX_ABS, -MAX_ABS]), np.zeros((3, 4), np.int16), np.full(50, -3),
    np.array([0, 1], np.uint8), np.array([True, False, True]), np.array([2**15, -(2**15)]),
])
def test_edge_cases(tensor):
    data = encode_symbols([tensor])
    (out,) = decode_symbols(data, [tensor.size])
    np.testing.assert_array_equal(out, tensor.reshape(-1).astype(np.int64))


def test_spec_examples():
    data = encode_symbols([np.array([0, 1, -1, 0, 2, 0, 0, -1])])
    assert data.hex(" ") == "01 02 72 55 00 80 ac bd c9 a4"
    data = encode_symbols([np.zeros(3, np.int32), np.full(2, 5),
                           np.array([1, 0, 0, 1, 1, 1, 0, 1, 1])])
    assert data.hex(" ") == "00 03 0a 02 00 02 03 06 13 d7 b7 63"
    assert encode_symbols([]) == b"" and decode_symbols(b"", []) == []
    assert encode_symbols([np.zeros(10**5, np.int32)]) == b"\x00"


def test_deterministic():
    rng = np.random.default_rng(7)
    tensors = [np.round(rng.laplace(0, 4, 20000)).astype(np.int32), rng.integers(-9, 9, 500)]
    a = encode_symbols(tensors)
    b = encode_symbols([t.copy() for t in tensors])
    c = encode_symbols([t.astype(np.int64) for t in tensors])
    assert a == b == c
    assert coded_size(tensors) == len(a)


def test_encoder_rejects_bad_input():
    with pytest.raises(ValueError, match="out of range"):
        encode_symbols([np.array([0, MAX_ABS + 1])])
    with pytest.raises(ValueError, match="out of range"):
        encode_symbols([np.array([-MAX_ABS - 1, 0])])
    with pytest.raises(TypeError):
        encode_symbols([np.array([0.5, 1.0])])


# ------------------------------------------------------------------------------ efficiency

def _entropy_bits(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


@pytest.mark.parametrize("name", ["laplace1", "laplace5", "laplace60", "sparse80", "gauss"])
def test_coded_size_within_2_percent_of_entropy(name):
    rng = np.random.default_rng(2024)
    n = 100_000
    x = {
        "laplace1": lambda: np.round(rng.laplace(0, 1.0, n)),
        "laplace5": lambda: np.round(rng.laplace(0, 5.0, n)),
        "laplace60": lambda: np.round(rng.laplace(0, 60.0, n)),
        "sparse80": lambda: np.where(rng.random(n) < 0.8, 0, np.round(rng.laplace(0, 6, n))),
        "gauss": lambda: np.round(rng.normal(0, 8, n)),
    }[name]().astype(np.int32)
    bits = 8 * len(encode_symbols([x]))
    h = _entropy_bits(x)
    assert bits <= 1.02 * h, (bits, h)
    assert 0 <= bits - estimate_bits([x]) <= 96 + 1e-3 * bits


def test_encode_100k_symbols_is_fast():
    x = np.round(np.random.default_rng(0).laplace(0, 5, 100_000)).astype(np.int32)
    encode_symbols([x])  # warm up
    t0 = time.perf_counter()
    data = encode_symbols([x])
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.25, elapsed  # ~5 ms on a laptop; generous for shared CI machines
    t0 = time.perf_counter()
    decode_symbols(data, [x.size])
    assert time.perf_counter() - t0 < 0.25


# ------------------------------------------------------------------------- hostile input

def test_garbage_never_hangs_or_crashes():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        data = rng.integers(0, 256, rng.integers(0, 48), dtype=np.uint8).tobytes()
        sizes = rng.integers(0, 2000, rng.integers(0, 4)).tolist()
        try:
            out = decode_symbols(data, sizes)
        except DinrError:
            continue
        assert [len(o) for o in out] == sizes


def test_truncated_and_corrupted_payloads():
    rng = np.random.default_rng(1)
    tensors = [np.round(rng.laplace(0, 3, 3000)).astype(np.int32), rng.integers(-2, 3, 100),
               np.array([4, 4, 4]), np.zeros(5, np.int32)]
    sizes = [t.size for t in tensors]
    data = encode_symbols(tensors)
    for cut in range(len(data)):
        try:
            out = decode_symbols(data[:cut], sizes)
        except DinrError:
            continue
        assert [len(o) for o in out] == sizes  # a cut stream is caught by the chunk CRC
    for pos in range(0, len(data), 7):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        try:
            decode_symbols(bytes(bad), sizes)
        except DinrError:
            pass
    with pytest.raises(DinrError):
        decode_symbols(data + b"\x00\x00\x00", sizes)  # not whole words
    with pytest.raises(DinrError):
        decode_symbols(data + b"\x00" * 8, sizes)  # words left over


def test_size_limits():
    data = encode_symbols([np.zeros(10, np.int32)])
    with pytest.raises(DinrError, match="limit"):
        decode_symbols(data, [10**12])
    with pytest.raises(DinrError, match="limit"):
        decode_symbols(data, [100], max_symbols=99)
    with pytest.raises(DinrError):
        decode_symbols(data, [-1])
    with pytest.raises(DinrError, match="empty tensor"):
        decode_symbols(encode_symbols([np.array([1, 2])]), [0])


@pytest.mark.parametrize("payload", [
    "04",  # unknown kind
    "01 00 10 00 00 00",  # Laplace m = 0
    "01 81 80 04 10 00 00 00",  # Laplace m = 65537
    "01 05 00 00 00 00",  # Laplace decay = 0
    "02 00 01 05",  # table with one entry
    "02 00 02 00 00",  # table of zero counts
    "02 81 80 08 02 01 01",  # table starting below -65536
    "02 00 ff ff 03",  # table longer than the data
    "02 00 02 80 80 80 80 10 01",  # count 2**32
    "03 82 80 08",  # constant 65537
])
def test_bad_model_parameters_rejected(payload):
    with pytest.raises(DinrError):
        decode_symbols(bytes.fromhex(payload), [4])

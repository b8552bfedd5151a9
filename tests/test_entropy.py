"""Range coding of integer tensors (bitstream_spec.md section 7).

Besides round trips and compression efficiency, these tests check exvc against the spec's
tables, range coder and checks in plain Python integers (``tests/ref_entropy.py``): word for
word on the encoder side, value for value and reject for reject on the decoder side. That is
what proves the integer tables reach constriction exactly, and it fails if a constriction
release changes the arithmetic.
"""

from __future__ import annotations

import constriction
import numpy as np
import pytest
import ref_entropy as ref

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

ref_laplace_table = ref.laplace_table
ref_count_table = ref.count_table
ref_range_encode = ref.range_encode
ref_range_decode = ref.range_decode
ref_decode_payload = ref.decode_payload


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
        with pytest.raises(DinrError, match=r"bad Laplace model parameters"):
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
        with pytest.raises(DinrError, match=r"bad frequency table$"):
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
        assert ref_decode_payload(data, sizes) == [t.reshape(-1).tolist() for t in tensors]


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
    with pytest.raises(TypeError, match="needs integer arrays, got float64"):
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


def test_100k_symbols_round_trip():
    """A large tensor codes and decodes exactly (its speed is not a test's business: about
    5 ms each way on these machines)."""
    x = np.round(np.random.default_rng(0).laplace(0, 5, 100_000)).astype(np.int32)
    (back,) = decode_symbols(encode_symbols([x]), [x.size])
    assert np.array_equal(back, x)


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
    with pytest.raises(DinrError, match=r"not a whole number of words"):
        decode_symbols(data + b"\x00\x00\x00", sizes)  # not whole words
    with pytest.raises(DinrError, match=r"not the one its symbols encode to"):
        decode_symbols(data + b"\x00" * 8, sizes)  # words left over


def test_size_limits():
    data = encode_symbols([np.zeros(10, np.int32)])
    with pytest.raises(DinrError, match="limit"):
        decode_symbols(data, [10**12])
    with pytest.raises(DinrError, match="limit"):
        decode_symbols(data, [100], max_symbols=99)
    with pytest.raises(DinrError, match=r"negative tensor size"):
        decode_symbols(data, [-1])
    with pytest.raises(DinrError, match="empty tensor"):
        decode_symbols(encode_symbols([np.array([1, 2])]), [0])


@pytest.mark.parametrize("payload, message", [
    ("04", "unknown entropy model kind 4"),  # unknown kind
    ("01 00 10 00 00 00", r"bad Laplace model parameters \(0, "),  # Laplace m = 0
    ("01 81 80 04 10 00 00 00", r"bad Laplace model parameters \(65537, "),  # m = 65537
    ("01 05 00 00 00 00", r"bad Laplace model parameters \(5, 0, "),  # Laplace decay = 0
    ("02 00 01 05", r"bad frequency table range \(0, 1\)"),  # table with one entry
    ("02 00 02 00 00", "bad frequency table counts"),  # table of zero counts
    ("02 81 80 08 02 01 01", r"bad frequency table range \(-65537, "),  # starts below -65536
    ("02 00 ff ff 03", "entropy-coded data ends early"),  # table longer than the data
    ("02 00 02 80 80 80 80 10 01", "bad frequency table counts"),  # count 2**32
    ("03 82 80 08", "constant 65537 out of range"),  # constant 65537
])
def test_bad_model_parameters_rejected(payload, message):
    with pytest.raises(DinrError, match=message):
        decode_symbols(bytes.fromhex(payload), [4])


# ------------------------------------------- the decoder against the reference (spec 7.4)

def _outcome(fn, *args):
    """('ok', values) or ('reject', None): what a decoder makes of a payload."""
    try:
        return "ok", [list(map(int, v)) for v in fn(*args)]
    except (DinrError, ref.Reject):
        return "reject", None


def _small_tables(data: bytes, sizes: list[int], limit: int = 3000) -> bool:
    """Whether every model of the payload has a small alphabet (pure Python stays fast)."""
    r = ByteReader(data)
    try:
        for _ in sizes:
            kind = r.u8()
            if kind == 1:
                if 2 * r.uleb() + 1 > limit:
                    return False
                r.u16(), r.u16()
            elif kind == 2:
                r.sleb()
                n = r.uleb()
                if n > limit:
                    return False
                for _ in range(n):
                    r.uleb()
            elif kind == 3:
                r.sleb()
    except DinrError:
        pass
    return True


def _mutations(data: bytes, rng: np.random.Generator):
    yield data
    yield data + bytes(4)
    yield data + bytes(rng.integers(0, 256, 4, dtype=np.uint8))
    yield data + b"\xff" * 4
    yield data + bytes(8)
    if len(data) >= 4:
        yield data[:-4]
        yield data[:-4] + bytes(rng.integers(0, 256, 4, dtype=np.uint8))  # another last word
        last = int.from_bytes(data[-4:], "little")
        for delta in (1, -1, 1 << 16):
            yield data[:-4] + ((last + delta) % (1 << 32)).to_bytes(4, "little")
    for _ in range(4 if data else 0):
        bad = bytearray(data)
        bad[rng.integers(len(bad))] ^= 1 << int(rng.integers(8))
        yield bytes(bad)
    yield data[: rng.integers(len(data) + 1)]


def test_decoder_agrees_with_the_reference_on_fuzzed_payloads():
    """exvc (constriction) and the plain-integer reference accept the same payloads and decode
    them to the same values; among them appended and altered last words (spec 7.4)."""
    rng = np.random.default_rng(2026)
    seen = {"ok": 0, "reject": 0}
    for _ in range(120):
        tensors = [t for t in _random_tensors(rng)
                   if t.size <= 300 and (t.size == 0 or np.abs(t).max() <= 1000)]
        sizes = [t.size for t in tensors]
        for payload in _mutations(encode_symbols(tensors), rng):
            if not _small_tables(payload, sizes):
                continue
            got = _outcome(decode_symbols, payload, sizes)
            assert got == _outcome(ref.decode_payload, payload, sizes), payload.hex()
            seen[got[0]] += 1
    assert seen["ok"] > 100 and seen["reject"] > 500, seen


def test_a_payload_has_one_byte_form():
    """An extra word of any value, or another last word, decodes to the same symbols in a
    decoder that reads past the stream's end; spec 7.4 makes both invalid."""
    rng = np.random.default_rng(8)
    for _ in range(50):
        tensors = [np.round(rng.laplace(0, rng.uniform(0.3, 20), rng.integers(1, 400)))
                   .astype(np.int32) for _ in range(rng.integers(1, 4))]
        sizes = [t.size for t in tensors]
        data = encode_symbols(tensors)
        for extra in (b"\x00" * 4, b"\x12\x34\x56\x78", b"\xff" * 4):
            with pytest.raises(DinrError, match="not the one its symbols encode to"):
                decode_symbols(data + extra, sizes)
        last = int.from_bytes(data[-4:], "little")
        with pytest.raises(DinrError, match="not the one its symbols encode to"):
            decode_symbols(data[:-4] + (last ^ 1).to_bytes(4, "little"), sizes)


def test_the_encoder_keeps_to_the_table_budget():
    """Spec 7.1: a LAPLACE alphabet costs at most 256 entries per byte of its model, so the
    encoder's payloads meet the budget with nothing to spare from the 2^20 base."""
    spiky = [np.array([-60000, 60000]), np.array([0] * 500 + [40000]), np.array([MAX_ABS, 0])]
    data = encode_symbols([spiky[0]])
    assert data[0] == E.KIND_TABLE  # a 2-value LAPLACE of 120001 entries would not pay
    rng = np.random.default_rng(4)
    for tensors in [spiky, *[_random_tensors(rng) for _ in range(40)]]:
        data = encode_symbols(tensors)
        budget = E.TableBudget(len(data))
        budget.limit -= E.TABLE_BASE
        out = decode_symbols(data, [t.size for t in tensors], tables=budget)
        for o, t in zip(out, tensors, strict=True):
            np.testing.assert_array_equal(o, np.asarray(t).reshape(-1))


def test_the_table_budget_is_shared_and_checked_before_tables_are_built(monkeypatch):
    one = bytes.fromhex("01 80 80 04 01 00 ff ff")  # LAPLACE M = 65536: 131073 entries
    budget = E.TableBudget(0)
    budget.limit = 3 * 131073
    built = []
    monkeypatch.setattr(E, "laplace_table", lambda *a: built.append(a) or laplace_table(*a))
    for _ in range(3):
        with pytest.raises(DinrError, match="entropy-coded"):  # no stream: invalid data
            decode_symbols(one, [1], tables=budget)
    assert len(built) == 3
    with pytest.raises(DinrError, match="entropy tables of 524292 entries"):
        decode_symbols(one, [1], tables=budget)
    assert len(built) == 3  # refused before its table was built

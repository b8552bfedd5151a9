"""Short, deterministic fuzz runs of the .dinr parse path (the long run is
scripts/fuzz_container.py), plus the regression inputs such runs have turned up.

Every input must either parse or be refused with DinrError: no other exception, no
allocation beyond the decoder's limits. See tests/fuzz_target.py for what is exercised.
No run has found a crash so far (docs/bad_input.md records the long run); an input the
script saves under fuzz-findings/ belongs here as a regression test, next to its fix.
"""

from __future__ import annotations

import random

import numpy as np
from fuzz_target import assemble, fix_crcs, fuzz_one, mutate, mutate_payload, seed_files
from hypothesis import given, settings
from hypothesis import strategies as st

from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.entropy import decode_symbols

SEEDS = seed_files()
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None)
STAGES = {"parsed", "prior", "adapters", "inr", "motion", "anchors"}

# Each generated input must be parsed or refused with DinrError: fuzz_one lets any other
# exception through, and that fails the test (the property the Hypothesis tests check); what
# it returns says how far the input got.


def test_the_corpus_is_there():
    assert len(SEEDS) >= 3


def test_the_seeds_reach_every_check():
    """Unmutated, the seeds get behind every check: files with a bundled prior and an
    adapter, and files with an INR."""
    reached = [fuzz_one(seed) for seed in SEEDS]
    assert all("parsed" in r for r in reached)
    assert set().union(*reached) == STAGES


def test_mutations_get_behind_the_crcs_and_to_the_adapter_check():
    """Mutated payloads behind valid CRCs are sometimes refused, sometimes parsed, and some
    of those with an adapter still reach the check of its layers against the prior (a fuzz
    run that never got that far would prove nothing about it)."""
    adapter_seeds = [s for s in SEEDS if "adapters" in fuzz_one(s)]
    assert adapter_seeds
    outcomes = [fuzz_one(mutate_payload(adapter_seeds[i % len(adapter_seeds)],
                                        random.Random(i))) for i in range(120)]
    assert any(not o for o in outcomes) and any("parsed" in o for o in outcomes)
    assert any("adapters" in o for o in outcomes)


@FUZZ
@given(st.binary(max_size=200))
def test_raw_bytes(data):
    if not data.startswith(b"DINR"):
        assert not fuzz_one(data)  # refused: no magic
    fuzz_one(b"DINR\x01\x00" + data)
    fuzz_one(fix_crcs(b"DINR\x01\x00" + data))


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(0, 100))
def test_mutated_files(rnd, pick):
    fuzz_one(mutate(SEEDS[pick % len(SEEDS)], rnd))


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(0, 100))
def test_mutated_payloads_behind_valid_crcs(rnd, pick):
    fuzz_one(mutate_payload(SEEDS[pick % len(SEEDS)], rnd))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_assembled_containers(rnd):
    fuzz_one(assemble(rnd))


@FUZZ
@given(st.binary(max_size=64), st.lists(st.integers(0, 1 << 20), max_size=4))
def test_entropy_decoder_alone(data, sizes):
    """decode_symbols on arbitrary bytes: DinrError or arrays of exactly the asked sizes, and
    never more symbols than the caller's limit."""
    try:
        out = decode_symbols(data, sizes, max_symbols=1 << 16)
    except DinrError:
        return
    assert sum(sizes) <= 1 << 16
    assert [a.size for a in out] == sizes and all(a.dtype == np.int32 for a in out)

"""The dinr codec: priors, the portable noise, ADAPTER/PRIOR chunks, encode and decode.

Everything here runs on a tiny random prior written by diffusers' ``save_pretrained`` (fast
and independent of the bundled weights), except the checks on the bundled prior itself.
"""

from __future__ import annotations

import json
import math
import struct
from fractions import Fraction

import numpy as np
import pytest
import torch

from exvc.bitstream.adapter import AdapterPayload, AdapterTarget, read_adapter, write_adapter
from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import (
    ADAPTER,
    BASE,
    PRIOR,
    PRIOR_SHORT,
    SEGMENT,
    Chunk,
    read_container,
    write_container,
)
from exvc.bitstream.prior_chunk import (
    PriorRecord,
    read_prior,
    read_prior_short,
    write_prior,
    write_prior_short,
)
from exvc.decode.decoder import (
    PriorMismatchError,
    decode_video,
    parse_stream,
    probe,
    resolve_prior,
)
from exvc.encode.condition import Condition
from exvc.encode.encoder import encode_video
from exvc.encode.settings import EncodeSettings
from exvc.media.types import ColourInfo, VideoInfo
from exvc.prior import adapters
from exvc.prior.bundled import (
    DEFAULT_DIR,
    DEFAULT_NAME,
    RECORD_FILE,
    bundled_prior_for,
    bundled_priors,
)
from exvc.prior.loader import PriorError, load_prior
from exvc.prior.noise import gaussian_field
from exvc.prior.sampler import SamplerSettings, noise_for, sample, timesteps

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

W, H, T = 40, 24, 6


def _save_prior(path, seed: int, channels=(8, 16), in_extra: int = 0):
    from diffusers import DDIMScheduler, UNet2DModel

    torch.manual_seed(seed)
    c = 12
    unet = UNet2DModel(sample_size=16, in_channels=2 * c + in_extra, out_channels=c,
                       block_out_channels=channels, layers_per_block=1,
                       down_block_types=("DownBlock2D",) * len(channels),
                       up_block_types=("UpBlock2D",) * len(channels), norm_num_groups=4,
                       add_attention=False)
    unet.save_pretrained(path / "unet")
    DDIMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="sample",
                  clip_sample=False).save_pretrained(path / "scheduler")
    (path / "exvc_prior.json").write_text(json.dumps({"name": f"tiny-{seed}",
                                                      "unshuffle": 2}))
    return path


@pytest.fixture(scope="module")
def priors(tmp_path_factory):
    root = tmp_path_factory.mktemp("priors")
    return _save_prior(root / "a", 1), _save_prior(root / "b", 2)


@pytest.fixture(scope="module")
def video():
    y, x = np.mgrid[0:H, 0:W]
    frames = []
    for t in range(T):
        r = 0.5 + 0.3 * np.sin(2 * np.pi * (x + 2 * t) / 20)
        g = 0.5 + 0.3 * np.cos(2 * np.pi * y / 12)
        b = 0.4 + 0.2 * ((x // 5 + y // 5) % 2)
        frames.append(np.stack([r, g, b]).astype(np.float32))
    info = VideoInfo(W, H, Fraction(25), "yuv420p", 8, ColourInfo(2, 2, 2, False), T)
    return frames, info


def _encode(video, codec: str, prior, preset="superfast", bpp=0.4):
    frames, info = video
    return encode_video(iter(frames), info, EncodeSettings(bpp=bpp, preset=preset,
                                                           codec=codec, prior=str(prior)))


@pytest.fixture(scope="module")
def dinr_file(video, priors):
    """A dinr file that uses its prior. The tiny random prior loses to the condition as it
    is, which the encoder would write as an INR file without a prior (see
    ``test_an_unmixed_choice_is_written_without_the_prior``), so the sampler is pinned."""
    from exvc.encode import sampler_choice

    mixed = sampler_choice.CANDIDATES[0]
    assert mixed.mix > 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampler_choice, "choose_sampler", lambda *a, **k: (mixed, []))
        return _encode(video, "dinr", priors[0])


def test_an_unmixed_choice_is_written_without_the_prior(video, priors):
    from exvc.encode import sampler_choice

    unmixed = sampler_choice.CANDIDATES[-1]
    assert unmixed.mix == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampler_choice, "choose_sampler", lambda *a, **k: (unmixed, []))
        data = _encode(video, "dinr", priors[0])
    assert probe(data).codec == "inr"
    types = {c.type for c in read_container(data).chunks}
    assert not {PRIOR, PRIOR_SHORT, ADAPTER} & types
    assert len(list(decode_video(data, prior="/no/such/prior")[1])) == T  # never loaded


# --- priors ------------------------------------------------------------------------------

def test_prior_loads_from_a_directory_with_a_stable_identity(priors):
    a1, a2, b = load_prior(priors[0]), load_prior(priors[0]), load_prior(priors[1])
    assert a1.name == "tiny-1" and a1.unshuffle == 2 and a1.multiple == 4
    assert a1.digest == a2.digest and a1.digest != b.digest and len(a1.digest) == 32


def test_prior_that_cannot_condition_is_refused(tmp_path):
    _save_prior(tmp_path, 3, in_extra=1)
    with pytest.raises(PriorError, match="does not fit exvc's conditioning"):
        load_prior(tmp_path)


def test_missing_prior_is_a_clear_error(tmp_path):
    with pytest.raises(PriorError, match="not found"):
        load_prior(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PriorError, match="no readable unet/config.json"):
        load_prior(tmp_path / "empty")


def test_bundled_prior_is_small_loads_offline_and_matches_its_record():
    size = sum(f.stat().st_size for f in DEFAULT_DIR.rglob("*") if f.is_file())
    assert size <= 30 << 20
    assert load_prior().name == DEFAULT_NAME
    priors = bundled_priors()
    for name, (folder, digest) in priors.items():
        record = json.loads((folder / RECORD_FILE).read_text())
        prior = load_prior(name)  # a bundled prior is also found by its name
        assert prior.name == name and prior.digest == digest  # the weights are the record's
        assert all(s["licence"] for s in record["sources"])
        if record.get("init_digest_sha256"):  # fine-tuned: its starting point ships too
            assert any(d.hex() == record["init_digest_sha256"] for _, d in priors.values())


def test_a_file_of_an_older_default_prior_finds_it_by_identity():
    """Files encoded before the default changed name exvc-default-1 in their PRIOR chunk;
    decoding without -prior picks that bundled prior, and naming another one still fails."""
    old, new = bundled_priors()["exvc-default-1"][1], bundled_priors()[DEFAULT_NAME][1]
    assert old != new
    record = PriorRecord(old[:8], "", 0, 8, 2)
    assert bundled_prior_for(record.matches).name == "exvc-default-1"
    assert resolve_prior(record).name == "exvc-default-1"  # what decoding without -prior does
    assert bundled_prior_for(PriorRecord(new[:8], "", 0, 8, 2).matches) == DEFAULT_DIR
    assert bundled_prior_for(PriorRecord(bytes(8), "", 0, 8, 2).matches) is None


# --- portable noise and sampler ---------------------------------------------------------

def _reference_gaussian(seed: int, i: int) -> float:
    """bitstream_spec.md section 12.2, in plain Python integers."""
    mask = (1 << 64) - 1

    def sm(x):
        z = (x * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    c = (seed & 0xFFFFFFFF) << 32
    a, b = sm(c + 2 * i), sm(c + 2 * i + 1)
    u1 = ((a >> 11) + 1) / 2**53
    u2 = (b >> 11) / 2**53
    return struct.unpack("f", struct.pack("f", math.sqrt(-2 * math.log(u1))
                                          * math.cos(2 * math.pi * u2)))[0]


def test_noise_field_follows_the_spec_and_is_gaussian():
    field = gaussian_field(12345, (3, 50, 70))
    flat = field.ravel()
    for i in (0, 1, 777, flat.size - 1):
        assert flat[i] == _reference_gaussian(12345, i)
    assert abs(flat.mean()) < 0.03 and abs(flat.std() - 1) < 0.03
    assert not np.array_equal(gaussian_field(1, (8,)), gaussian_field(2, (8,)))


def test_timesteps_are_the_tail_of_a_trailing_grid(priors):
    prior = load_prior(priors[0])
    assert timesteps(prior, SamplerSettings(0, 8, 2)) == [249, 124]
    assert timesteps(prior, SamplerSettings(0, 4, 4)) == [999, 749, 499, 249]


def test_sampling_is_deterministic_and_pads_odd_sizes(priors):
    prior = load_prior(priors[0])
    x = torch.rand(2, 3, 13, 19)
    noise = noise_for(prior, 7, 13, 19)
    with torch.inference_mode():
        a = sample(prior, x, noise, SamplerSettings())
        b = sample(prior, x, noise, SamplerSettings())
    assert a.shape == x.shape and torch.equal(a, b)


def test_a_mixed_sampler_moves_part_of_the_way_from_the_inr(priors):
    prior = load_prior(priors[0])
    x = torch.rand(1, 3, 16, 16)
    noise = noise_for(prior, 7, 16, 16)
    with torch.inference_mode():
        full = sample(prior, x, noise, SamplerSettings.of(8, 1))
        quarter = sample(prior, x, noise, SamplerSettings.of(8, 1, 4))
        none = sample(prior, x, noise, SamplerSettings.of(8, 1, 0))
    assert SamplerSettings.of(8, 1, 4).sampler == 1 and SamplerSettings.of(8, 1).sampler == 0
    assert torch.allclose(quarter, x + 0.25 * (full - x), atol=1e-6)
    assert torch.equal(none, x) and not torch.allclose(full, x, atol=1e-3)
    with pytest.raises(ValueError, match="mix"):
        SamplerSettings(0, 8, 1, 8)  # sampler 0 is never mixed


def test_inference_in_bfloat16_stays_close_and_training_stays_float32():
    """Where the CPU computes bfloat16 natively the UNet infers in it (twice as fast,
    docs/prior.md "Decoding speed"). A frame of the bundled prior stays well within the compat
    corpus's 45 dB of float32's; with gradients on (adapter training) nothing changes."""
    fp32, bf16 = load_prior(None, bf16=False), load_prior(None, bf16=True)
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    noise, settings = noise_for(fp32, 7, 32, 48), SamplerSettings.of(8, 2)
    with torch.inference_mode():
        a, b = (sample(p, x, noise, settings).clamp(0, 1) for p in (fp32, bf16))
    assert not torch.equal(a, b)  # bfloat16 did run
    assert 10 * torch.log10(1 / torch.mean((a - b) ** 2)) > 50
    assert torch.equal(sample(fp32, x, noise, settings), sample(bf16, x, noise, settings))


# --- chunks ------------------------------------------------------------------------------

def test_adapter_chunk_round_trip_and_limits():
    targets = [AdapterTarget(3, 1, 8, 12, 3, 3, 14), AdapterTarget(9, 0, 32, 16, 1, 1, 20)]
    b = [np.arange(-24, 24, dtype=np.int32), np.zeros(64, np.int32)]
    p = AdapterPayload(4, 4, 99, targets, b)
    q = read_adapter(write_adapter(p))
    assert (q.rank, q.alpha, q.seed) == (4, 4, 99)
    assert [t.shape_key() + (t.step_b,) for t in q.targets] == \
        [t.shape_key() + (t.step_b,) for t in targets]
    assert all(np.array_equal(x, y) for x, y in zip(q.b, b, strict=True))
    data = write_adapter(p)
    with pytest.raises(DinrError, match="not a whole number of words"):
        read_adapter(data[:-3])
    with pytest.raises(DinrError, match="bad adapter"):
        read_adapter(bytes([0]) + data[1:])  # rank 0


def test_prior_chunk_round_trip_and_unknown_sampler():
    rec = PriorRecord(bytes(range(32)), "x", 0, 8, 2)
    assert read_prior(write_prior(rec)) == rec
    bad = write_prior(rec)
    bad = bad[:34] + bytes([7]) + bad[35:]
    with pytest.raises(DinrError, match="needs a newer exvc"):
        read_prior(bad)
    mixed = PriorRecord(bytes(range(32)), "x", 1, 8, 2, 6)
    data = write_prior(mixed)
    assert read_prior(data) == mixed and len(data) == len(write_prior(rec)) + 1
    with pytest.raises(DinrError, match="bad sampler mix"):
        read_prior(data[:-1] + bytes([16]))  # mix 16 is sampler 0's
    with pytest.raises(DinrError, match="truncated .dinr: prior ends early"):
        read_prior(data[:-1])  # sampler 1 without its mix byte


def test_short_prior_chunk_keeps_eight_digest_bytes_and_no_name():
    rec = PriorRecord(bytes(range(32)), "exvc-default-1", 1, 8, 2, 6)
    short = write_prior_short(rec)
    assert len(short) == 8 + 4 and len(write_prior(rec)) - len(short) == 32 - 8 + 15
    back = read_prior_short(short)
    assert back == PriorRecord(bytes(range(8)), "", 1, 8, 2, 6)
    assert back.matches(bytes(range(32))) and rec.matches(bytes(range(32)))
    assert not back.matches(bytes(range(1, 33))) and not back.matches(bytes(range(7)))
    with pytest.raises(DinrError, match="needs a newer exvc"):
        read_prior_short(short[:8] + bytes([7]) + short[9:])
    with pytest.raises(DinrError, match="unexpected bytes"):
        read_prior_short(short + b"\0")


def test_adapter_changes_the_unet_and_detaching_restores_it(priors):
    prior = load_prior(priors[0])
    mods = adapters.adaptable_modules(prior.unet)
    index = next(i for i, (n, _) in enumerate(mods) if n == "conv_out")
    target = adapters.target_of(index, mods[index][1])
    t = AdapterTarget(*target.shape_key(), step_b=8)
    payload = AdapterPayload(2, 2, 5, [t], [np.full(t.b_size(2), 3, np.int32)])
    x = torch.randn(1, 24, 8, 8)
    with torch.inference_mode():
        before = prior.unet(x, 10).sample
        adapters.load_payload(prior.unet, payload)
        during = prior.unet(x, 10).sample
        adapters.detach(prior.unet)
        after = prior.unet(x, 10).sample
    assert not torch.allclose(before, during) and torch.equal(before, after)
    wrong = AdapterPayload(2, 2, 5, [AdapterTarget(index, 1, 99, 12, 3, 3, 8)],
                           [np.zeros(24, np.int32)])
    with pytest.raises(ValueError, match="does not match the prior"):
        adapters.load_payload(prior.unet, wrong)


# --- encode / decode ---------------------------------------------------------------------

def test_dinr_file_layout_and_rate(dinr_file, video):
    info = probe(dinr_file)
    assert info.codec == "dinr"
    types = [c.type for c in read_container(dinr_file).chunks]
    assert PRIOR not in types  # the long form is read, no longer written (since 1.2)
    condition = next(t for t in types if t in (SEGMENT, BASE))
    assert PRIOR_SHORT in types and types.index(PRIOR_SHORT) < types.index(condition)
    assert len(dinr_file) <= math.floor(0.4 * W * H * T / 8)
    stream = parse_stream(dinr_file)
    assert stream.prior.grid_steps in (8, 32, 100) and len(stream.adapters) == 1


def test_dinr_decoding_is_repeatable_and_refines_the_inr(dinr_file, priors, video):
    a = np.stack(list(decode_video(dinr_file, prior=str(priors[0]))[1]))
    b = np.stack(list(decode_video(dinr_file, prior=str(priors[0]))[1]))
    assert a.shape == (T, 3, H, W) and np.array_equal(a, b)
    # the same file with mix 0 decodes to its condition as it is, the prior unused
    record = read_prior_short(read_container(dinr_file).first(PRIOR_SHORT).payload)
    assert record.mix > 0
    s = SamplerSettings.of(record.grid_steps, record.run_steps, 0)
    unmixed = PriorRecord(record.digest, "", s.sampler, s.grid_steps, s.run_steps, s.mix)
    unmixed_file = _with_prior_chunks(dinr_file, Chunk(PRIOR_SHORT, write_prior_short(unmixed)),
                                      minor=read_container(dinr_file).minor)
    inr = np.stack(list(decode_video(unmixed_file, prior=str(priors[0]))[1]))
    assert inr.shape == a.shape and not np.array_equal(a, inr)
    assert all(np.abs(a[t] - inr[t]).mean() > 1e-3 for t in range(T))  # the prior refined
    # every frame (test_a_mixed_sampler_moves_part_of_the_way_from_the_inr: how far)


def test_decoding_with_another_prior_is_refused(dinr_file, priors):
    digest = load_prior(priors[0]).digest.hex()[:16]
    with pytest.raises(PriorMismatchError, match=f"prior mismatch: this .dinr was encoded "
                                                 f"with prior sha256 {digest}, but 'tiny-2'"):
        decode_video(dinr_file, prior=str(priors[1]))


def _with_prior_chunks(data: bytes, *extra: Chunk, minor: int = 1) -> bytes:
    """``data`` with its PRIOR_SHORT chunk replaced by ``extra``, as format 1.``minor``."""
    chunks = read_container(data).chunks
    at = [c.type for c in chunks].index(PRIOR_SHORT)
    return write_container(chunks[:at] + list(extra) + chunks[at + 1:], minor=minor)


def test_the_long_prior_chunk_of_format_1_1_still_decodes(dinr_file, priors):
    prior = load_prior(priors[0])
    short = read_prior_short(read_container(dinr_file).first(PRIOR_SHORT).payload)
    long = PriorRecord(prior.digest, prior.name, short.sampler, short.grid_steps,
                       short.run_steps, short.mix)
    old = _with_prior_chunks(dinr_file, Chunk(PRIOR, write_prior(long)))
    assert probe(old).prior == long and probe(old).version == "1.1"
    a = np.stack(list(decode_video(dinr_file, prior=str(priors[0]))[1]))
    b = np.stack(list(decode_video(old, prior=str(priors[0]))[1]))
    assert np.array_equal(a, b)
    with pytest.raises(PriorMismatchError,
                       match=r"encoded with prior 'tiny-1' \(sha256 [0-9a-f]{16}\.\.\.\), "):
        decode_video(old, prior=str(priors[1]))
    both = _with_prior_chunks(dinr_file, Chunk(PRIOR, write_prior(long)),
                              Chunk(PRIOR_SHORT, write_prior_short(long)))
    with pytest.raises(DinrError, match="exactly one prior chunk, has 2"):
        parse_stream(both)


def test_inr_mode_needs_no_prior(video, priors):
    data = _encode(video, "inr", priors[0])
    assert probe(data).codec == "inr"
    assert not {PRIOR, PRIOR_SHORT} & {c.type for c in read_container(data).chunks}
    frames = list(decode_video(data, prior="/no/such/prior")[1])  # never loaded
    assert len(frames) == T


@pytest.mark.parametrize("margin", [None, 1.0])
def test_a_real_adapter_is_judged_fits_the_budget_and_leaves_the_prior_alone(
        video, priors, margin, monkeypatch):
    from exvc.bitstream.adapter import read_adapter
    from exvc.bitstream.container import payload_budget
    from exvc.encode import dinr_segment
    from exvc.encode.adapter_coder import AdapterCoder
    from exvc.encode.condition import InrCondition
    from exvc.encode.presets import preset_plan
    from exvc.encode.segment_coder import fit_inr
    from exvc.prior.sampler import padded_size

    if margin is not None:  # no adapter can lower the score by 100 %: never kept
        monkeypatch.setattr(dinr_segment, "KEEP_MARGIN", margin)
    prior = load_prior(priors[0])
    frames = torch.from_numpy(np.stack(video[0]))
    coder = AdapterCoder(prior, SamplerSettings(), noise_for(prior, 0, H, W),
                         padded_size(prior, H, W), seed=3)
    plan = preset_plan("faster")
    fitted = fit_inr(frames, payload_budget(600), plan, seed=3)
    seg = dinr_segment.refine_segment(frames, InrCondition.quantize(fitted, 600), 600, plan,
                                      lambda v, i: coder)
    assert seg.loss_with_adapter is not None  # an adapter was trained and judged
    if margin is not None:
        assert seg.adapter is None
    assert seg.size() <= 600
    if seg.adapter is not None:
        assert read_adapter(seg.adapter).rank == 4
    assert not hasattr(prior.unet, "peft_config")  # the prior is left as it was


def test_the_keep_or_drop_judge_is_the_adapters_training_loss(video, priors):
    """The adapter decision compares training losses on the probe frames, not dp_score,
    which turned down adapters that helped (docs/dinr.md, "Keeping an adapter")."""
    from exvc.encode.adapter_coder import AdapterCoder, training_loss
    from exvc.encode.frame_sampling import probe_ids
    from exvc.encode.perception import as_delivered, dp_score
    from exvc.media.quality import psnr
    from exvc.prior.sampler import padded_size

    prior = load_prior(priors[0])
    frames = torch.from_numpy(np.stack(video[0]))
    inr = torch.nn.functional.avg_pool2d(frames, 3, 1, 1)  # a blurred stand-in for the INR
    coder = AdapterCoder(prior, SamplerSettings(), noise_for(prior, 0, H, W),
                         padded_size(prior, H, W), seed=3)
    ids = probe_ids(len(frames))
    with torch.inference_mode():
        out = as_delivered(torch.cat([sample(prior, inr[i:i + 1], coder.noise, coder.settings)
                                      for i in ids]))
    j = coder.evaluate_with(None, frames, inr)
    assert j.score == pytest.approx(float(training_loss(out, frames[ids])), rel=1e-5)
    assert j.score != pytest.approx(dp_score(out, frames[ids]), rel=1e-2)
    assert j.psnr == pytest.approx(psnr(out, frames[ids]), rel=1e-5)


class _FixedCondition(Condition):
    """A condition of given frames whose recoding always fits: the decision rule alone."""

    def chunks(self):
        return [Chunk(SEGMENT, b"\0" * 100)]

    def recode(self, total):
        return self


class _FixedCoder:
    """An adapter coder whose judgements are given: the decision rule alone is tested."""

    def __init__(self, alone, with_adapter) -> None:
        self.alone, self.with_adapter = alone, with_adapter

    def train(self, video, inr, schedule, report=None):
        return AdapterPayload(4, 4, 0, [AdapterTarget(3, 0, 8, 12, 1, 1, 14)],
                              [np.ones(48, np.int32)])

    def evaluate_with(self, payload, video, inr):
        return self.with_adapter if payload is not None else self.alone


@pytest.mark.parametrize("with_score, alone_psnr, with_psnr, kept", [
    (0.5, 29.0, 28.5, True), (0.5, 29.0, 28.4, False),  # floor: the INR's 30 dB less 1.5
    (0.5, 27.0, 27.0, True), (0.5, 27.0, 26.9, False),  # the prior alone is below it
    (0.5, 31.0, 30.0, True),
    (0.964, 30.0, 30.0, True), (0.966, 30.0, 30.0, False),  # the loss must fall by 3.5 %
    (1.2, 30.0, 31.0, False)])  # a better PSNR does not keep a worse loss
def test_an_adapter_is_kept_exactly_when_it_lowers_the_loss_by_the_margin_above_the_floor(
        video, monkeypatch, with_score, alone_psnr, with_psnr, kept):
    from exvc.encode import dinr_segment
    from exvc.encode.perception import Judgement, psnr_floor
    from exvc.encode.presets import preset_plan

    assert psnr_floor(30.0) == 28.5 and dinr_segment.KEEP_MARGIN == 0.035  # the table assumes
    monkeypatch.setattr(dinr_segment, "judge", lambda out, ref: Judgement(0.0, 30.0))
    coder = _FixedCoder(Judgement(1.0, alone_psnr), Judgement(with_score, with_psnr))
    frames = torch.from_numpy(np.stack(video[0]))
    seg = dinr_segment.refine_segment(frames, _FixedCondition("fixed", frames), 600,
                                      preset_plan("faster"), lambda v, i: coder)
    assert seg.psnr_floor == min(28.5, alone_psnr)
    assert (seg.adapter is not None) == kept


def test_the_fidelity_floor_tightens_where_the_condition_is_sharp(video, priors, monkeypatch):
    """1.5 dB below the condition up to 30 dB, 0.25 dB from 33 dB, linear between: a rewrite
    that costs 0.6 dB of a 34 dB condition is not chosen, whatever its score."""
    from exvc.encode import sampler_choice
    from exvc.encode.perception import Judgement, psnr_floor
    from exvc.encode.sampler_choice import CANDIDATES, choose_sampler

    assert [psnr_floor(x) for x in (20.0, 30.0, 31.5, 33.0, 40.0)] == \
        [18.5, 28.5, 30.625, 32.75, 39.75]
    prior = load_prior(priors[0])
    frames = torch.from_numpy(np.stack(video[0]))
    noise, n = noise_for(prior, 0, H, W), len(CANDIDATES)
    scores = [3.0] * 6 + [1.0] + [2.0] * (n - 8) + [4.0]  # candidate 6 best, mix 0 worst
    for own, drop, best in ((29.0, 0.6, 6), (34.0, 0.6, 0), (34.0, 0.2, 6)):
        psnrs = [own - 0.1] + [own - 0.7] * 5 + [own - drop] + [own - 0.7] * (n - 8) + [own]
        fake = iter([Judgement(0.0, own)] + [Judgement(s, p) for s, p in
                                             zip(scores, psnrs, strict=True)])
        monkeypatch.setattr(sampler_choice, "judge", lambda out, ref, f=fake: next(f))
        assert choose_sampler(prior, noise, frames, frames)[0] == CANDIDATES[best]


def test_dp_score_charges_blur_and_invented_detail():
    from exvc.encode.perception import dp_score

    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 3, 32, 40, generator=gen) * 0.5 + 0.25
    ref = torch.nn.functional.avg_pool2d(ref, 3, 1, 1)  # texture with some correlation
    blurred = torch.nn.functional.avg_pool2d(ref, 5, 1, 2, count_include_pad=False)
    noisy = (ref + 0.1 * torch.randn(ref.shape, generator=gen)).clamp(0, 1)
    slight = (ref + 0.005 * torch.randn(ref.shape, generator=gen)).clamp(0, 1)
    assert dp_score(ref, ref) == pytest.approx(0.0, abs=1e-6)
    assert 0 < dp_score(slight, ref) < dp_score(blurred, ref)
    assert dp_score(slight, ref) < dp_score(noisy, ref)


def test_sampler_strength_is_the_best_scoring_candidate(video, priors, monkeypatch):
    from exvc.encode import sampler_choice
    from exvc.encode.perception import Judgement, psnr_floor
    from exvc.encode.sampler_choice import CANDIDATES, choose_sampler

    prior = load_prior(priors[0])
    frames = torch.from_numpy(np.stack(video[0]))
    inr = torch.nn.functional.avg_pool2d(frames, 3, 1, 1, count_include_pad=False)
    noise = noise_for(prior, 0, H, W)
    chosen, judged = choose_sampler(prior, noise, frames, inr)  # the real judge, end to end
    assert len(judged) == len(CANDIDATES) and chosen in CANDIDATES
    assert judged[CANDIDATES.index(chosen)].psnr >= psnr_floor(judged[-1].psnr)
    assert choose_sampler(prior, noise, frames, inr)[0] == chosen  # deterministic
    n = len(CANDIDATES)
    low6 = [3.0] * 6 + [1.0] + [2.0] * (n - 8) + [4.0]  # candidate 6 best, mix 0 worst
    low_inr = [3.0] * (n - 1) + [1.0]  # mix 0, the INR as it is, scores best
    assert psnr_floor(30.0) == 28.5  # the table assumes
    for best, scores, psnrs in (
            (6, low6, [30.0] * n),
            (n - 1, low_inr, [30.0] * n),
            (6, low6, [30.0] + [27.0] * 5 + [28.5] + [27.0] * (n - 7)),  # 6 is at the floor
            (n - 1, low6, [28.4] * n),  # all below the floor but mix 0: the INR
            (0, low6, [28.5] + [28.4] * (n - 1))):  # 6 scores best but is below the floor
        # the first judgement is the INR's own (the floor's reference), then one per candidate
        fake = iter([Judgement(0.0, 30.0)] + [Judgement(s, p) for s, p in
                                              zip(scores, psnrs, strict=True)])
        monkeypatch.setattr(sampler_choice, "judge", lambda out, ref, f=fake: next(f))
        assert choose_sampler(prior, noise, frames, inr)[0] == CANDIDATES[best]
    assert CANDIDATES[-1].mix == 0 and {c.mix for c in CANDIDATES} == {0, 4, 8, 12, 16}
    # PRIOR records differ by at most the mix byte: the choice (almost) never moves the rate
    lengths = {len(write_prior_short(PriorRecord(prior.digest, "", c.sampler, c.grid_steps,
                                                 c.run_steps, c.mix))) for c in CANDIDATES}
    assert max(lengths) - min(lengths) <= 1


def test_the_file_records_the_chosen_sampler(dinr_file):
    from exvc.encode.sampler_choice import CANDIDATES

    record = probe(dinr_file).prior
    assert SamplerSettings(record.sampler, record.grid_steps, record.run_steps,
                           record.mix) in CANDIDATES


def test_adapter_without_a_following_segment_is_corrupt(dinr_file):
    from exvc.bitstream.container import Chunk, write_container

    c = read_container(dinr_file)
    chunks = [ch for ch in c.chunks]
    chunks.append(Chunk(ADAPTER, b"\x01"))
    with pytest.raises(DinrError, match="adapter chunk must be followed by a segment"):
        parse_stream(write_container(chunks))


# --- command line ------------------------------------------------------------------------

def test_cli_codec_choice_and_prior_option(tmp_path, priors, media_clip, capsys,
                                           monkeypatch):
    from exvc.cli.main import execute as run
    from exvc.encode import sampler_choice

    mixed = sampler_choice.CANDIDATES[0]  # the tiny prior would not be used (see dinr_file)
    monkeypatch.setattr(sampler_choice, "choose_sampler", lambda *a, **k: (mixed, []))

    clip = media_clip("in.mkv", frames=4, size=(32, 24))
    base = ["-hide_banner", "-nostats", "-v", "error", "-y", "-i", clip, "-b", "2bpp",
            "-preset", "ultrafast"]
    assert run(base + ["-prior", str(priors[0]), str(tmp_path / "d.dinr")]) == 0
    assert run(base + ["-c:v", "inr", str(tmp_path / "i.dinr")]) == 0
    d, i = (tmp_path / "d.dinr").read_bytes(), (tmp_path / "i.dinr").read_bytes()
    assert probe(d).codec == "dinr" and probe(i).codec == "inr"
    assert probe(d).prior.matches(load_prior(priors[0]).digest)
    # decoding needs the same prior: with it the output is written, with another refused
    out = tmp_path / "o.y4m"
    assert run(["-v", "error", "-prior", str(priors[0]), "-i", str(tmp_path / "d.dinr"),
                str(out)]) == 0 and out.stat().st_size > 0
    capsys.readouterr()
    bad = tmp_path / "bad.y4m"
    assert run(["-v", "error", "-prior", str(priors[1]), "-i", str(tmp_path / "d.dinr"),
                str(bad)]) == 1
    assert "prior mismatch" in capsys.readouterr().err and not bad.exists()

"""Regenerate the compatibility corpus: small .dinr files and what they must decode to.

Run from the repository root: ``python tests/data/compat/make_compat.py``. It writes the
cases of the *current* format version under ``v{major}.{minor}/`` that the manifest does not
list yet (plus the synthetic "future minor" file), and updates ``manifest.json`` beside them.
A file once written is never regenerated, in this version or any earlier one: it is kept as
written by the exvc of its time, which is the point of the corpus (tests/test_compat.py
decodes every file listed in the manifest). To rewrite a case, delete its manifest entry.

Each entry records the SHA-256 of the file, the SHA-256 of the parsed integers (parsing is
exact on every machine) and the decoded frames rounded to 8 bits (``.npy``); decoding uses
floating point, so the test compares pixels by PSNR rather than bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for compat_digest

from compat_digest import parse_digest  # noqa: E402

from exvc.bitstream.container import (  # noqa: E402
    HEAD,
    VERSION_MAJOR,
    VERSION_MINOR,
    Chunk,
    read_container,
    write_container,
)
from exvc.decode.decoder import decode_video  # noqa: E402
from exvc.encode.encoder import encode_video  # noqa: E402
from exvc.encode.settings import EncodeSettings  # noqa: E402
from exvc.media.types import VideoInfo  # noqa: E402


def pattern(n: int, w: int, h: int) -> list[np.ndarray]:
    """Smooth moving colour ramps: float32 (3, H, W) frames on the 8-bit grid."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        r = 0.5 + 0.4 * np.sin(2 * np.pi * x / max(w, 8) + 0.35 * i)
        g = 0.5 + 0.4 * np.cos(2 * np.pi * y / max(h, 8) - 0.35 * i)
        b = 0.5 + 0.4 * np.sin(2 * np.pi * (x + y) / (w + h) + 0.45 * i)
        out.append((np.rint(np.stack([r, g, b]) * 255) / 255).astype(np.float32))
    return out


def decoded_u8(data: bytes) -> np.ndarray:
    return np.stack([np.rint(f * 255).astype(np.uint8) for f in decode_video(data)[1]])


# name: (width, height, frames, bpp, pix_fmt, bit depth, segment_frames, metadata, fps,
#        extra encoder settings)
CASES = {
    "basic_16x16_4f": (16, 16, 4, 2.5, "yuv420p", 8, 64, {}, Fraction(25), {}),
    "odd_meta_10bit_17x13_3f": (17, 13, 3, 3.5, "yuv420p10le", 10, 64,
                                {"title": "compat", "comment": "v1.0 corpus"},
                                Fraction(30000, 1001), {}),
    "two_segments_24x16_6f": (24, 16, 6, 3.0, "yuv444p", 8, 3, {}, Fraction(12), {}),
    # since 1.3: base layers of each codec, reduced in size and rate
    "base_vvc_32x24_8f": (32, 24, 8, 2.0, "yuv420p", 8, 64, {}, Fraction(25),
                          {"base": "vvc", "base_scale": 1, "base_framestep": 1}),
    "base_av1_half_step2_48x32_8f": (48, 32, 8, 1.0, "yuv420p", 8, 64, {}, Fraction(25),
                                     {"base": "av1", "base_scale": 2, "base_framestep": 2}),
    "base_hevc_two_segments_32x24_6f": (32, 24, 6, 3.0, "yuv420p", 8, 3, {}, Fraction(25),
                                        {"base": "hevc", "base_scale": 1,
                                         "base_framestep": 1}),
}
ENHANCED = "base_vvc_enhanced_32x24_6f"  # a VVC base and an INR of its residual


def enhanced_file() -> bytes:
    """A one-segment file whose base carries an enhancement INR: made from the encoder's
    parts, since the encoder weighs that candidate only at the slow presets."""
    import torch

    from exvc.encode.base_coder import BaseConfig
    from exvc.encode.condition import BaseJob, EnhancedCondition, residual_target
    from exvc.encode.encoder import make_header
    from exvc.encode.presets import preset_plan
    from exvc.encode.segment_coder import fit_inr

    w, h, n = 32, 24, 6
    info = VideoInfo(w, h, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=n)
    video = torch.from_numpy(np.stack(pattern(n, w, h)))
    job = BaseJob(video, info.fps, "ultrafast")
    base = job.code(BaseConfig("vvc"), 700)
    fitted = fit_inr(residual_target(video, base), 200, preset_plan("ultrafast"), seed=7)
    cond = EnhancedCondition.combine(base, fitted, 1000)
    header = make_header(info, EncodeSettings(bpp=1.0, codec="inr", seed=7), n)
    return write_container([Chunk(HEAD, header.to_bytes()), *cond.chunks()])


MOTION_CASE = "base_vvc_motion_48x32_11f"  # a VVC base every 4 frames with a MOTION chunk


def motion_file() -> bytes:
    """A base coded every 4 frames of a panned pattern with the encoder's affine motion and
    a mask (since 1.5): made from the encoder's parts, so that the file holds a MOTION chunk
    whether or not the encoder's judge would keep it on so small a clip."""
    import torch

    from exvc.bitstream.anchors import uniform
    from exvc.bitstream.container import BASE, MOTION
    from exvc.bitstream.motion import AFFINE, MotionPayload, write_motion
    from exvc.encode.base_coder import BaseConfig, code_base
    from exvc.encode.encoder import make_header
    from exvc.encode.motion_estimation import choose_masks, estimate_warps, gray_small, quantise

    w, h, n, step = 48, 32, 11, 4
    info = VideoInfo(w, h, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=n)
    wide = np.stack(pattern(n, 2 * w, h))
    video = torch.from_numpy(np.stack([f[:, :, 2 * i:2 * i + w] for i, f in enumerate(wide)]))
    base = code_base(video, 900, BaseConfig("vvc", 1, step), info.fps, "ultrafast")
    anchors = uniform(n, step)
    warps = estimate_warps(video, anchors, affine=True)
    motions = quantise(warps, gray_small(video), anchors, AFFINE, 2, h, w)
    motions = choose_masks(video, video, anchors, motions, 2, 8)
    payload = MotionPayload(AFFINE, 2, 1, 8, tuple(motions))
    header = make_header(info, EncodeSettings(bpp=1.0, codec="inr", seed=7), n)
    data = write_motion(payload, n, anchors, h, w)
    return write_container([Chunk(HEAD, header.to_bytes()),
                            Chunk(BASE, base.chunks()[0].payload), Chunk(MOTION, data)])


REFRESH_CASE = "base_vvc_listed_motion_48x32_20f"  # listed anchors and MOTION (since 1.6)
REFRESH_ANCHORS = (0, 5, 6, 14)  # gaps 5, 1, 8; 5 frames after the last


def refresh_file() -> bytes:
    """A base whose anchors are listed (``frame_step`` 0), as the refresh rule places them,
    with translation motion over that layout: made from the encoder's parts, so that the
    layout is fixed whatever the judge would choose on so small a clip."""
    import torch

    from exvc.bitstream.container import BASE, MOTION
    from exvc.bitstream.motion import TRANSLATION, MotionPayload, write_motion
    from exvc.encode.base_coder import BaseConfig, code_base
    from exvc.encode.encoder import make_header
    from exvc.encode.motion_estimation import estimate_warps, gray_small, quantise

    w, h, n = 48, 32, 20
    info = VideoInfo(w, h, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=n)
    wide = np.stack(pattern(n, 2 * w, h))
    video = torch.from_numpy(np.stack([f[:, :, i:i + w] for i, f in enumerate(wide)]))
    config = BaseConfig("vvc", 1, 8, anchors=REFRESH_ANCHORS)
    base = code_base(video, 1200, config, info.fps, "ultrafast")
    assert base.payload.frame_step == 0
    warps = estimate_warps(video, REFRESH_ANCHORS, affine=False)
    motions = quantise(warps, gray_small(video), REFRESH_ANCHORS, TRANSLATION, 1, h, w)
    payload = MotionPayload(TRANSLATION, 1, 0, 0, tuple(motions))
    header = make_header(info, EncodeSettings(bpp=1.0, codec="inr", seed=7), n)
    data = write_motion(payload, n, REFRESH_ANCHORS, h, w)
    return write_container([Chunk(HEAD, header.to_bytes()),
                            Chunk(BASE, base.chunks()[0].payload), Chunk(MOTION, data)])


PRIOR_BASE = "base_vvc_prior_32x24_6f"  # a VVC base refined by the bundled prior


def prior_file() -> bytes:
    """A dinr file whose condition is a VVC base and whose prior (the bundled default) is
    mixed in: made from the encoder's parts, since on these tiny patterns the encoder's own
    sampler choice leaves the condition as it is and writes an inr file."""
    import torch

    from exvc.bitstream.container import PRIOR_SHORT
    from exvc.bitstream.header import CODEC_DINR
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short
    from exvc.encode.base_coder import BaseConfig
    from exvc.encode.condition import BaseCondition, BaseJob
    from exvc.encode.encoder import make_header
    from exvc.encode.sampler_choice import CANDIDATES
    from exvc.prior.bundled import DEFAULT_DIR
    from exvc.prior.loader import load_prior

    w, h, n = 32, 24, 6
    info = VideoInfo(w, h, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=n)
    video = torch.from_numpy(np.stack(pattern(n, w, h)))
    cond = BaseCondition.code(BaseJob(video, info.fps, "ultrafast"), BaseConfig("vvc"), 900)
    s = next(c for c in CANDIDATES if c.mix > 0)
    record = PriorRecord(load_prior(DEFAULT_DIR).digest, "", s.sampler, s.grid_steps,
                         s.run_steps, s.mix)
    header = make_header(info, EncodeSettings(bpp=1.0, codec="dinr", seed=7), n)
    assert header.codec == CODEC_DINR
    return write_container([Chunk(HEAD, header.to_bytes()),
                            Chunk(PRIOR_SHORT, write_prior_short(record)), *cond.chunks()])


def adapter_file(prior_name: str) -> bytes:
    """A dinr file with an ADAPTER chunk for the bundled prior ``prior_name``: a VVC base, a
    mixed sampler and an adapter trained for it, made from the encoder's parts (on these tiny
    patterns the encoder's own judge would keep neither the prior nor the adapter)."""
    import torch

    from exvc.bitstream.adapter import write_adapter
    from exvc.bitstream.container import ADAPTER, PRIOR_SHORT
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short
    from exvc.encode.adapter_coder import AdapterCoder, AdapterSchedule
    from exvc.encode.base_coder import BaseConfig
    from exvc.encode.condition import BaseCondition, BaseJob
    from exvc.encode.encoder import make_header
    from exvc.encode.sampler_choice import CANDIDATES
    from exvc.prior.bundled import BUNDLED_DIR
    from exvc.prior.loader import load_prior
    from exvc.prior.sampler import noise_for, padded_size

    w, h, n, seed = 32, 24, 6, 7
    info = VideoInfo(w, h, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=n)
    video = torch.from_numpy(np.stack(pattern(n, w, h)))
    cond = BaseCondition.code(BaseJob(video, info.fps, "ultrafast"), BaseConfig("vvc"), 700)
    prior = load_prior(BUNDLED_DIR / prior_name)
    s = next(c for c in CANDIDATES if c.mix > 0)
    coder = AdapterCoder(prior, s, noise_for(prior, seed, h, w), padded_size(prior, h, w), seed)
    payload = coder.train(video, cond.frames, AdapterSchedule(4))
    assert payload is not None and not hasattr(prior.unet, "peft_config")
    record = PriorRecord(prior.digest, "", s.sampler, s.grid_steps, s.run_steps, s.mix)
    header = make_header(info, EncodeSettings(bpp=1.0, codec="dinr", seed=seed), n)
    return write_container([Chunk(HEAD, header.to_bytes()),
                            Chunk(PRIOR_SHORT, write_prior_short(record)),
                            Chunk(ADAPTER, write_adapter(payload)), *cond.chunks()])


ADAPTER_CASES = {f"adapter_{name}_32x24_6f": name  # one per bundled prior (since 1.4)
                 for name in ("exvc-default-1", "exvc-default-2", "exvc-default-3")}


AUDIO_CASE = "audio_opus_16x16_4f"  # the basic file with an AUDIO chunk (since 1.4)


def audio_file(data: bytes) -> bytes:
    """``data`` with 0.16 s of a 440 Hz tone at 12 kbit/s mono: its 4 frames' time span."""
    from exvc.bitstream.audio import write_audio
    from exvc.bitstream.container import AUDIO, with_chunk_after_head
    from exvc.media.audio import RATE, Pcm, encode_opus

    t = np.arange(round(0.16 * RATE)) / RATE
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(-1, 1)
    return with_chunk_after_head(data, Chunk(AUDIO, write_audio(encode_opus(Pcm(tone, RATE)))))


def future_minor(data: bytes) -> bytes:
    """The same stream as a hypothetical version 1.9 file: two bytes appended to HEAD (new
    fields) and an unknown ancillary chunk, both of which a 1.x reader must skip."""
    c = read_container(data)
    chunks = [Chunk(HEAD, c.chunks[0].payload + b"\x07\x00")] + c.chunks[1:]
    chunks.insert(1, Chunk(0xC5, b"ancillary data from the future"))
    return write_container(chunks, VERSION_MAJOR, 9)


def main() -> None:
    manifest_path = HERE / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    version = f"v{VERSION_MAJOR}.{VERSION_MINOR}"
    folder = HERE / version
    folder.mkdir(exist_ok=True)
    future = HERE / f"v{VERSION_MAJOR}.9-synthetic"
    future.mkdir(exist_ok=True)
    for name, case in [*CASES.items(), (ENHANCED, None), (PRIOR_BASE, None),
                       *ADAPTER_CASES.items(), (MOTION_CASE, None), (REFRESH_CASE, None)]:
        if f"{version}/{name}" in manifest:
            continue  # written once: a shipped file is never regenerated
        if name == ENHANCED:
            w, h, n, meta, data = 32, 24, 6, {}, enhanced_file()
        elif name == PRIOR_BASE:
            w, h, n, meta, data = 32, 24, 6, {}, prior_file()
        elif name == MOTION_CASE:
            w, h, n, meta, data = 48, 32, 11, {}, motion_file()
        elif name == REFRESH_CASE:
            w, h, n, meta, data = 48, 32, 20, {}, refresh_file()
        elif name in ADAPTER_CASES:
            w, h, n, meta, data = 32, 24, 6, {}, adapter_file(case)
        else:
            w, h, n, bpp, pix_fmt, depth, seg, meta, fps, extra = case
            info = VideoInfo(w, h, fps, pix_fmt=pix_fmt, bit_depth=depth, frames=n)
            settings = EncodeSettings(bpp=bpp, preset="ultrafast", seed=7, segment_frames=seg,
                                      metadata=meta, **extra)
            data = encode_video(iter(pattern(n, w, h)), info, settings)
        outputs = {f"{version}/{name}": data}
        if name == "basic_16x16_4f":
            outputs[f"{future.name}/{name}"] = future_minor(data)
            outputs[f"{version}/{AUDIO_CASE}"] = audio_file(data)
        for rel, blob in outputs.items():
            (HERE / f"{rel}.dinr").write_bytes(blob)
            np.save(HERE / f"{rel}.frames.npy", decoded_u8(blob))
            manifest[rel] = {"sha256": hashlib.sha256(blob).hexdigest(),
                             "parse_sha256": parse_digest(blob), "bytes": len(blob),
                             "size": [w, h], "frames": n, "metadata": meta}
            print(f"{rel}.dinr: {len(blob)} bytes")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

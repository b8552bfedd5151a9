"""Regenerate the compatibility corpus: small .dinr files and what they must decode to.

Run from the repository root: ``python tests/data/compat/make_compat.py``. It (re)writes the
files of the *current* format version under ``v{major}.{minor}/`` plus the synthetic
"future minor" files, and ``manifest.json`` beside them. Files of earlier versions are never
regenerated: they are kept as written by the exvc of their time, which is the point of the
corpus (tests/test_compat.py decodes every file listed in the manifest).

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

from exvc.bitstream.container import (  # noqa: E402
    HEAD,
    VERSION_MAJOR,
    VERSION_MINOR,
    Chunk,
    read_container,
    write_container,
)
from exvc.decode.decoder import decode_video, parse_segments  # noqa: E402
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


def parse_digest(data: bytes) -> str:
    """SHA-256 over every integer the parser produces (config, steps, symbols)."""
    _, payloads = parse_segments(data)
    h = hashlib.sha256()
    for p in payloads:
        h.update(np.asarray([p.frames, *p.config, p.latent_step, *p.weight_steps],
                            np.int64).tobytes())
        for t in [*p.latents, *p.weights]:
            h.update(np.ascontiguousarray(t, np.int64).tobytes())
    return h.hexdigest()


def decoded_u8(data: bytes) -> np.ndarray:
    return np.stack([np.rint(f * 255).astype(np.uint8) for f in decode_video(data)[1]])


# name: (width, height, frames, bpp, pix_fmt, bit depth, segment_frames, metadata, fps)
CASES = {
    "basic_16x16_4f": (16, 16, 4, 2.5, "yuv420p", 8, 64, {}, Fraction(25)),
    "odd_meta_10bit_17x13_3f": (17, 13, 3, 3.5, "yuv420p10le", 10, 64,
                                {"title": "compat", "comment": "v1.0 corpus"},
                                Fraction(30000, 1001)),
    "two_segments_24x16_6f": (24, 16, 6, 3.0, "yuv444p", 8, 3, {}, Fraction(12)),
}


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
    for name, (w, h, n, bpp, pix_fmt, depth, seg, meta, fps) in CASES.items():
        info = VideoInfo(w, h, fps, pix_fmt=pix_fmt, bit_depth=depth, frames=n)
        settings = EncodeSettings(bpp=bpp, preset="ultrafast", seed=7, segment_frames=seg,
                                  metadata=meta)
        data = encode_video(iter(pattern(n, w, h)), info, settings)
        outputs = {f"{version}/{name}": data}
        if name == "basic_16x16_4f":
            outputs[f"{future.name}/{name}"] = future_minor(data)
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

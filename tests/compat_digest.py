"""The SHA-256 of every integer and byte a parse of a .dinr produces: equal on every machine,
because parsing never depends on floating point. The compatibility corpus records it."""

from __future__ import annotations

import hashlib

import numpy as np

from exvc.decode.decoder import parse_stream


def parse_digest(data: bytes) -> str:
    """Per segment: its BASE fields and units (if any), its MOTION fields, parameters and
    masks (if any), then its INR's configuration, steps and symbols (if any). Files without
    BASE chunks hash as they did before format 1.3, files without MOTION as before 1.5, bases
    without listed anchors as before 1.6."""
    stream = parse_stream(data)
    h = hashlib.sha256()
    for base, motion, p in zip(stream.bases, stream.motions, stream.segments, strict=True):
        if base is not None:
            h.update(np.asarray([base.frames, base.codec, base.width, base.height,
                                 base.frame_step, base.enhancement], np.int64).tobytes())
            if base.frame_step == 0:  # listed anchors (since 1.6)
                h.update(np.asarray(base.anchors, np.int64).tobytes())
            for unit in base.units:
                h.update(len(unit).to_bytes(8, "little") + unit)
        if motion is not None:
            h.update(np.asarray([motion.model, motion.precision, motion.blend, motion.cell],
                                np.int64).tobytes())
            for m in motion.motions:
                h.update(np.asarray([*m.previous, *(m.next or ())], np.int64).tobytes())
                if m.mask is not None:
                    h.update(np.ascontiguousarray(m.mask, np.int64).tobytes())
        if p is not None:
            h.update(np.asarray([p.frames, *p.config, p.latent_step, *p.weight_steps],
                                np.int64).tobytes())
            for t in [*p.latents, *p.weights]:
                h.update(np.ascontiguousarray(t, np.int64).tobytes())
    return h.hexdigest()

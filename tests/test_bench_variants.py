"""exvc-bench's variant rows (``dinr:key=value``) reach both the encoder and the decoder."""

from __future__ import annotations

import numpy as np

from exvc.bench import exvc_codec
from exvc.bench import run as bench_run


def test_a_prior_variant_decodes_with_the_prior_it_encoded_with(monkeypatch):
    # the decoder refused such files before: it took the bundled default, which the file's
    # record does not name
    seen = {}

    def encode(frames, info, settings):
        seen["encoded"] = settings.prior
        return {"data": b"x" * 10, "seconds": 1.0, "peak_mb": 1.0}

    def decode(data, threads, prior=None):
        seen["decoded"] = prior
        return {"frames": np.zeros((2, 3, 4, 4), np.uint8), "seconds": 1.0, "peak_mb": 1.0}

    class Scorer:
        def score(self, result, ref, decoded, fps):
            seen["scored"] = decoded.shape

    monkeypatch.setattr(exvc_codec, "encode", encode)
    monkeypatch.setattr(exvc_codec, "decode", decode)
    clip = bench_run.ClipInfo("c", "c.mp4", 4, 4, 2, 25.0, 50.0)
    config = bench_run.BenchConfig(clips=[])
    info = type("Info", (), {"fps": 25})()
    result = bench_run.run_exvc("dinr:prior=/some/prior", np.zeros((2, 3, 4, 4), np.float32),
                                info, clip, 2.5, config, Scorer())
    assert seen == {"encoded": "/some/prior", "decoded": "/some/prior", "scored": (2, 3, 4, 4)}
    assert result.bytes == 10

"""Portable decoding: a file decodes to the same integers and (within float rounding) the same
pictures whatever CPU code path or thread count PyTorch uses. Each variant runs in a fresh
process because these switches are read when torch is loaded."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from compat_digest import parse_digest
from test_compat import COMPAT, MANIFEST

from exvc.decode.decoder import decode_video
from exvc.media.quality import psnr

pytestmark = pytest.mark.slow  # decodes the whole compat corpus in fresh processes

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_compat", COMPAT / "make_compat.py")
make_compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_compat)
# The newest version's files: every kind of file (INR, each base codec, enhancement, prior,
# adapters, audio), decoded by the same code paths as the older versions' copies of the same
# cases, which tests/test_compat.py decodes in-process.
NEWEST = max((n.split("/")[0] for n in MANIFEST if not n.split("/")[0].endswith("-synthetic")),
             key=lambda v: tuple(int(x) for x in v[1:].split(".")))
NAMES = sorted(n for n in MANIFEST if n.startswith(f"{NEWEST}/"))

_SNIPPET = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from compat_digest import parse_digest
from exvc.decode.decoder import decode_video
names, out, _, threads = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
arrays, digests = {}, {}
for i, name in enumerate(names):
    data = open(f"{sys.argv[5]}/{name}.dinr", "rb").read()
    digests[name] = parse_digest(data)
    arrays[f"f{i}"] = np.stack(list(decode_video(data, threads=threads or None)[1]))
np.savez(out, **arrays)
print(json.dumps(digests))
"""


@pytest.fixture(scope="module")
def reference() -> dict[str, tuple[str, np.ndarray]]:
    out = {}
    for name in NAMES:
        data = (COMPAT / f"{name}.dinr").read_bytes()
        out[name] = (parse_digest(data), np.stack(list(decode_video(data)[1])))
    return out


@pytest.mark.parametrize("env,threads", [
    ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 0),
    ({"ATEN_CPU_CAPABILITY": "default"}, 0),
    ({"OMP_NUM_THREADS": "1"}, 1),
    ({"OMP_NUM_THREADS": "2"}, 2),
], ids=["onednn-avx2", "aten-default", "1-thread", "2-threads"])
def test_same_parse_and_pictures_on_every_cpu_path(tmp_path, reference, env, threads):
    out = tmp_path / "frames.npz"
    proc = subprocess.run(
        [sys.executable, "-c", _SNIPPET, json.dumps(NAMES), str(out),
         str(REPO / "tests"), str(threads), str(COMPAT)],
        env={**os.environ, "PYTHONPATH": str(REPO), **env}, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    digests = json.loads(proc.stdout.strip().splitlines()[-1])
    got = np.load(out)
    for i, name in enumerate(NAMES):
        digest, frames = reference[name]
        assert digests[name] == digest, f"{name}: parsing differs"
        other = got[f"f{i}"]
        assert other.shape == frames.shape
        assert psnr(other, frames) > 60, name  # far inside the 0.5 dB the issue allows
        w, h = MANIFEST[name]["size"]
        source = np.stack(make_compat.pattern(MANIFEST[name]["frames"], w, h))
        assert abs(psnr(other, source) - psnr(frames, source)) < 0.5, name

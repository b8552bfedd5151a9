"""Killing an encode never leaves a partial .dinr at the output path.

The encode runs as a real ``exvc`` process and is stopped with SIGINT (Ctrl-C) or SIGKILL at
three moments: while it reads its input (a pipe fed halfway, signalled from outside), while
it codes the first segment's condition (a base or an INR), and after the whole file is
written to the temporary file but before the rename (those two signal themselves from a
hook, so the moment is exact). The output path must then hold the previous file byte for
byte (or nothing, if there was none). After SIGINT no temporary file remains; SIGKILL
cannot be cleaned up after, so there the only leftover allowed is the hidden
``.NAME.*.exvc-tmp`` file beside the target.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
OLD = b"previous output, must survive\n"

HOOK = textwrap.dedent("""
    import os, signal, sys
    point, sig = sys.argv[1], getattr(signal, sys.argv[2])
    # A shell starts background jobs with SIGINT ignored, and Python then keeps ignoring it;
    # restore Ctrl-C's usual meaning, as in an interactive terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def die():
        os.kill(os.getpid(), sig)

    if point == "fit":
        from exvc.cli import progress
        real_encoder = progress.Reporter.encoder

        def encoder(self, p):
            real_encoder(self, p)
            if p.stage in ("fit", "base"):  # coding the first segment's condition
                die()
        progress.Reporter.encoder = encoder
    elif point == "write":  # the temporary file holds every byte; fsync and rename are next
        os.fsync = lambda fd: die()
    from exvc.cli.main import main
    main(sys.argv[3:])
""")


@pytest.fixture(scope="module")
def y4m() -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(4):
            rgb = np.full((16, 16, 3), 25 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def _command(hook: Path, point: str, sig: str, out: Path) -> list[str]:
    return [sys.executable, str(hook), point, sig, "-hide_banner", "-nostats", "-y",
            "-f", "yuv4mpegpipe", "-i", "-", "-b", "4bpp", "-preset", "ultrafast",
            "-threads", "1", str(out)]


def _check(folder: Path, out: Path, old: bytes | None, sig: str, code: int) -> None:
    if sig == "SIGINT":
        assert code == 255
    else:
        assert code == -signal.SIGKILL
    if old is None:
        assert not out.exists()
    else:
        assert out.read_bytes() == old
    left = sorted(p.name for p in folder.iterdir() if p != out)
    if sig == "SIGINT":
        assert left == []
    else:
        assert all(n.startswith(f".{out.name}.") and n.endswith(".exvc-tmp") for n in left)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("point", ["read", "fit", "write"])
def test_killed_encode_leaves_the_previous_file(tmp_path, y4m, point, sig):
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "clip.dinr"
    old = None if (point, sig) == ("fit", "SIGKILL") else OLD  # once with no previous file
    if old is not None:
        out.write_bytes(old)
    proc = subprocess.Popen(_command(hook, point if point != "read" else "none", sig, out),
                            cwd=REPO, env=ENV, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    if point == "read":
        proc.stdin.write(y4m[: len(y4m) // 2])
        proc.stdin.flush()
        # Wait until exvc has opened the pipe and described it: it is now reading frames
        # and blocks for the rest of the input.
        seen = b""
        while b"Input #0" not in seen:
            line = proc.stderr.readline()
            assert line, "exvc ended before it read its input"
            seen += line
        proc.send_signal(getattr(signal, sig))
        proc.stdin.close()
        proc.stderr.read()
    else:
        proc.communicate(y4m, timeout=300)
    code = proc.wait(timeout=300)
    _check(folder, out, old, sig, code)


def test_an_uninterrupted_run_replaces_the_file(tmp_path, y4m):
    """The control: the same command without a signal writes a new .dinr over the old one."""
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    out = tmp_path / "clip.dinr"
    out.write_bytes(OLD)
    proc = subprocess.run(_command(hook, "none", "SIGINT", out), cwd=REPO, env=ENV, input=y4m,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    assert out.read_bytes()[:4] == b"DINR"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.dinr", "hook.py"]

"""Every row of docs/bad_input.md, exercised: the case, exvc's one stderr line, its exit status,
no traceback and no output left behind. The table in the doc and CASES below must agree; the
last test checks that, so the doc cannot drift from what exvc does.

Cases run in-process through the click entry point (fast); the few that need a real process
(a terminal on stdin, a closed pipe, signals) run ``python -m exvc``. In a message, ``…``
stands for text that depends on the machine (an absolute path, a byte count).
"""

from __future__ import annotations

import errno
import os
import pty
import re
import select
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import media_write_clip
from test_compat import COMPAT

from exvc.bitstream.container import (
    ADAPTER,
    HEAD,
    META,
    PRIOR,
    PRIOR_SHORT,
    SEGMENT,
    Chunk,
    read_container,
    write_container,
)
from exvc.bitstream.header import Header
from exvc.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "bad_input.md"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
DINR = (COMPAT / "v1.0" / "basic_16x16_4f.dinr").read_bytes()  # 16x16, 4 frames
FAST = ["-preset", "ultrafast", "-threads", "1"]  # one thread: steady on a busy machine


# --- inputs the cases use (written into the test's working folder) ---------------------------

def clip(name="in.mkv", **kw):
    kw.setdefault("frames", 3)
    kw.setdefault("size", (16, 16))
    return lambda d: media_write_clip(d / name, **kw)


def data_file(name: str, data: bytes):
    return lambda d: (d / name).write_bytes(data)


def png(d: Path) -> None:
    import av

    with av.open(str(d / "in.png"), "w", format="image2") as out:
        s = out.add_stream("png")
        s.width, s.height, s.pix_fmt = 16, 16, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 90, np.uint8), format="rgb24")
        out.mux(s.encode(frame))
        out.mux(s.encode(None))


def wav(d: Path) -> None:
    import av

    with av.open(str(d / "in.wav"), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        out.mux(s.encode(frame))
        out.mux(s.encode(None))


def truncated_mp4(d: Path) -> None:
    media_write_clip(d / "full.mp4", frames=4, size=(16, 16), codec="libx264")
    data = (d / "full.mp4").read_bytes()
    (d / "in.mp4").write_bytes(data[: len(data) // 2])


def vfr(d: Path) -> None:
    import av

    with av.open(str(d / "in.mkv"), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        s.time_base = Fraction(1, 1000)
        for i, pts in enumerate([0, 40, 60, 200, 210, 400]):
            rgb = np.full((16, 16, 3), 30 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))


def _forge(head: dict | None = None, extra: list[Chunk] | None = None,
           after_head: list[Chunk] | None = None) -> bytes:
    c = read_container(DINR)
    chunks = list(c.chunks)
    chunks[1:1] = after_head or []
    if head is not None:
        fields = {**Header.from_bytes(chunks[0].payload).as_dict(), **head}
        header = Header(**fields)
        from exvc.bitstream.bytesio import ByteWriter

        w = ByteWriter()  # written without validation, as a hostile tool would
        for name in ("width", "height", "frames", "fps_num", "fps_den"):
            w.uleb(fields[name])
        for name in ("bit_depth", "chroma", "matrix", "primaries", "transfer", "full_range",
                     "codec"):
            w.u8(fields[name])
        w.uleb(header.seed).uleb(header.segment_frames)
        chunks[0] = Chunk(HEAD, w.getvalue())
    return write_container(chunks + (extra or []))


def _prior_record() -> bytes:
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior

    return write_prior(PriorRecord(bytes(32), "someone-else", 0, 8, 2))


def _flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x04
    return bytes(b)


def _major(data: bytes, major: int) -> bytes:
    return data[:4] + bytes([major]) + data[5:]


def _garbage_base() -> bytes:
    """A 16x16, 4-frame file whose only segment is a VVC base of bytes that are no stream."""
    from exvc.bitstream.base import BasePayload, write_base
    from exvc.bitstream.container import BASE

    head = read_container(DINR).chunks[0]
    payload = BasePayload(4, 3, 16, 16, 1, 0, (b"\x40\x01garbage",))
    return write_container([head, Chunk(BASE, write_base(payload))])


def _misplaced_motion() -> bytes:
    """A 16x16, 4-frame file whose base (coded every frame) is followed by a MOTION chunk:
    there is no frame between its pictures to predict."""
    from exvc.bitstream.base import BasePayload, write_base
    from exvc.bitstream.container import BASE, MOTION

    head = read_container(DINR).chunks[0]
    payload = BasePayload(4, 3, 16, 16, 1, 0, (b"\x40\x01garbage",))
    return write_container([head, Chunk(BASE, write_base(payload)),
                            Chunk(MOTION, bytes([1, 2, 0, 0, 0, 0]))])


def _anchor_gap() -> bytes:
    """A 40-frame file whose base lists its anchors (format 1.6) 33 frames apart."""
    from exvc.bitstream.bytesio import ByteWriter
    from exvc.bitstream.container import BASE

    fields = {**Header.from_bytes(read_container(DINR).chunks[0].payload).as_dict(),
              "frames": 40, "segment_frames": 40}
    head = Chunk(HEAD, Header(**fields).to_bytes())
    w = ByteWriter().uleb(40).u8(3).uleb(16).uleb(16).u8(0).u8(0).uleb(2).uleb(33)
    return write_container([head, Chunk(BASE, w.uleb(9).raw(b"\x40\x01garbage").getvalue())])


def _second_meta() -> bytes:
    from exvc.bitstream.header import encode_metadata

    return _forge(after_head=[Chunk(META, encode_metadata({"title": "a"})),
                              Chunk(META, encode_metadata({"title": "b"}))])


def _bad_audio() -> bytes:
    """An AUDIO chunk (section 14) claiming 3 channels."""
    from exvc.bitstream.audio import OPUS, AudioPayload, write_audio
    from exvc.bitstream.container import AUDIO

    payload = write_audio(AudioPayload(OPUS, 1, 48000, 312, 960, (b"\x08" * 3,)))
    return _forge(after_head=[Chunk(AUDIO, payload[:1] + b"\x03" + payload[2:])])


def _word_appended() -> bytes:
    """The SEGMENT's coded stream with one zero word more: the same symbols in a decoder that
    reads past the end, so the spec makes it invalid (one byte form per payload)."""
    chunks = read_container(DINR).chunks
    return write_container([Chunk(c.type, c.payload + bytes(4)) if c.type == SEGMENT else c
                            for c in chunks])


def _many_tables() -> bytes:
    import hostile

    return hostile.many_tables(256)


def _prior_with_trailing_byte() -> bytes:
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short

    record = write_prior_short(PriorRecord(bytes(8), "", 0, 8, 2)) + b"\x00"
    data = _forge({"codec": 1}, after_head=[Chunk(PRIOR_SHORT, record)])
    return data[:5] + b"\x09" + data[6:]  # a newer minor: still no bytes after a prior record


def _adapter_then_meta(d: Path) -> None:
    """A dinr file for the bundled prior whose ADAPTER and SEGMENT have a META between them."""
    from exvc.bitstream.adapter import AdapterPayload, write_adapter
    from exvc.bitstream.header import encode_metadata
    from exvc.bitstream.prior_chunk import PriorRecord, write_prior_short
    from exvc.prior.adapters import adaptable_modules, target_of
    from exvc.prior.bundled import DEFAULT_NAME, bundled_priors
    from exvc.prior.loader import load_prior

    prior = load_prior(bundled_priors()[DEFAULT_NAME][0])
    modules = adaptable_modules(prior.unet)
    targets = [target_of(i, modules[i][1]) for i in (0, len(modules) - 1)]
    adapter = AdapterPayload(1, 1, 0, targets, [np.zeros(t.b_size(1), np.int32) for t in targets])
    record = write_prior_short(PriorRecord(prior.digest, "", 0, 8, 1))
    chunks = read_container(DINR).chunks
    head = Header.from_bytes(chunks[0].payload)
    head.codec = 1
    data = write_container([Chunk(HEAD, head.to_bytes()), Chunk(PRIOR_SHORT, record),
                            Chunk(ADAPTER, write_adapter(adapter)),
                            Chunk(META, encode_metadata({"title": "between"})), *chunks[1:]])
    (d / "in.dinr").write_bytes(data)


def _hidden(d: Path) -> list[str]:
    return [p.name for p in d.iterdir() if p.name.startswith(".")]


def both(*setups):
    def run(d):
        for s in setups:
            s(d)
    return run


def existing(name: str):
    return data_file(name, b"previous contents\n")


def unwritable_folder(d: Path, monkeypatch) -> None:
    """A folder exvc may not write in: chmod 555 for an ordinary user; root ignores modes, so
    there a read-only tmpfs is mounted, or, where mounting is impossible, access() is made to
    say no."""
    folder = d / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(folder)],
                      capture_output=True).returncode == 0:
        MOUNTS.append(folder)
        return
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if str(p) == str(folder)
                        else real(p, m, *a, **k))


def full_disk(d: Path, monkeypatch) -> None:
    """A full file system: a 4 KiB tmpfs filled up where mounting is possible (root), else
    ENOSPC from the write path simulated in-process."""
    folder = d / "full"
    folder.mkdir()
    if os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(folder)],
            capture_output=True).returncode == 0:
        MOUNTS.append(folder)
        with open(folder / "filler", "wb") as f:
            try:
                f.write(bytes(1 << 16))
                f.flush()
            except OSError:
                pass
        return

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    import av.container

    monkeypatch.setattr(av.container.OutputContainer, "mux", no_space, raising=False)


MOUNTS: list[Path] = []


@dataclass
class Case:
    id: str
    what: str  # the row's first column
    args: list[str]
    code: int
    message: str  # the stderr line (last line for errors; a line that must appear otherwise)
    setup: object = None
    env_setup: object = None  # (folder, monkeypatch) -> None
    output: str | None = None  # must not exist afterwards (or keep its old bytes)
    check: object = None  # extra assertion on the folder after the run


def _frames_of(path: Path) -> int:
    from exvc.media.reader import open_input

    with open_input(str(path)) as src:
        return sum(1 for _ in src.frames())


NO_FRAMES = ("No frames to encode: the input has no frames in the selected range "
             "(-ss/-t/-to/-frames:v)")

CASES = [
    # -- the input ---------------------------------------------------------------------------
    Case("missing-input", "input file does not exist", ["-i", "nope.mkv", "out.dinr"], 1,
         "'nope.mkv': no such file or directory", output="out.dinr"),
    Case("input-is-folder", "input is a directory", ["-i", "sub", "out.dinr"], 1,
         "'sub' is a directory", setup=lambda d: (d / "sub").mkdir(), output="out.dinr"),
    Case("text-input", "a text file", ["-i", "notes.txt", "out.dinr"], 1,
         "'notes.txt' is not a video FFmpeg can read (corrupt or truncated?)",
         setup=data_file("notes.txt", b"hello, this is text\n" * 20), output="out.dinr"),
    Case("image-input", "a still image (PNG)", ["-i", "in.png", "-y", "out.mkv"], 0,
         "Output #0, matroska, to 'out.mkv':", setup=png,
         check=lambda d: _frames_of(d / "out.mkv") == 1),
    Case("audio-only", "audio only, no video stream", ["-i", "in.wav", "out.dinr"], 1,
         "no video stream in 'in.wav'", setup=wav, output="out.dinr"),
    Case("empty-input", "an empty file", ["-i", "in.mp4", "out.dinr"], 1, "'in.mp4' is empty",
         setup=data_file("in.mp4", b""), output="out.dinr"),
    Case("truncated-mp4", "an mp4 cut in half", ["-i", "in.mp4", "out.dinr"], 1,
         "'in.mp4' is not a video FFmpeg can read (corrupt or truncated?)",
         setup=truncated_mp4, output="out.dinr"),
    Case("empty-stdin", "nothing on stdin", ["-i", "-", "out.dinr"], 1,
         "'pipe:0' is empty (no input data)", output="out.dinr"),
    Case("zero-frames-ss", "`-ss` past the end", ["-ss", "10", "-i", "in.mkv", "out.dinr"], 1,
         NO_FRAMES, setup=clip(), output="out.dinr"),
    Case("zero-frames-t", "`-t 0`", ["-i", "in.mkv", "-t", "0", "out.mkv"], 1, NO_FRAMES,
         setup=clip(), output="out.mkv"),
    Case("one-pixel", "a 1x1 video", ["-i", "in.mkv", "-b", "2400bpp", *FAST, "out.dinr"], 0,
         "video:… bytes, 1 frames, … bpp, … kb/s",
         setup=clip(size=(1, 1), frames=1, pix_fmt="yuv444p")),
    Case("odd-size", "odd frame size (17x13)",
         ["-i", "in.mkv", "-b", "6bpp", *FAST, "out.dinr"], 0,
         "video:… bytes, 2 frames, … bpp, … kb/s",
         setup=clip(size=(17, 13), frames=2, pix_fmt="yuv444p")),
    Case("too-wide", "frame wider than 16384", ["-i", "in.mkv", "out.dinr"], 1,
         "Frame size 16400x2 is beyond the .dinr limit (16384x16384); scale it down with "
         "-vf scale=W:H", setup=clip(size=(16400, 2), frames=1, pix_fmt="gray"),
         output="out.dinr"),
    Case("too-many-frames", "more than 1 000 000 frames",
         ["-i", "in.mkv", "-r", "1000", "out.dinr"], 1,
         "2000000 frames are beyond the .dinr limit of 1000000; select fewer with -t or "
         "-frames:v", setup=clip(rate=Fraction(1, 1000), frames=2), output="out.dinr"),
    Case("alpha", "alpha channel (yuva420p)", ["-i", "in.mkv", "out.mkv"], 0,
         "in.mkv: the alpha channel (yuva420p) is dropped; exvc carries RGB only",
         setup=clip(pix_fmt="yuva420p")),
    Case("ten-bit", "10-bit source", ["-i", "in.mkv", "-b", "8bpp", *FAST, "out.dinr"], 0,
         "video:… bytes, 2 frames, … bpp, … kb/s",
         setup=clip(pix_fmt="yuv420p10le", frames=2),
         check=lambda d: d.joinpath("out.dinr").read_bytes()[:4] == b"DINR"),
    Case("twelve-bit", "12-bit source", ["-i", "in.mkv", "out.mkv"], 0,
         "  Stream #0:0: Video: yuv444p12le(tv), 16x16, 25 fps, 3 frames",
         setup=clip(pix_fmt="yuv444p12le")),
    Case("vfr", "variable frame rate", ["-i", "in.mkv", "out.mkv"], 0,
         "in.mkv: variable frame rate; resampled to a constant 25 fps (frames are repeated or "
         "dropped by their timestamps)", setup=vfr,
         check=lambda d: _frames_of(d / "out.mkv") == 11),
    # -- the rate ------------------------------------------------------------------------------
    Case("rate-zero", "`-b 0`", ["-i", "in.mkv", "-b", "0", "out.dinr"], 1,
         "Invalid value '0' for option '-b': the rate must be greater than zero"),
    Case("rate-negative", "`-b -5k`", ["-i", "in.mkv", "-b", "-5k", "out.dinr"], 1,
         "Invalid value '-5k' for option '-b': the rate must be greater than zero"),
    Case("rate-garbage", "`-b abc`", ["-i", "in.mkv", "-b", "abc", "out.dinr"], 1,
         "Invalid value 'abc' for option '-b': expected bits/s such as 64k, 1.5M or 20000, or "
         "bits per pixel such as 0.02bpp"),
    Case("rate-below-header", "`-b` below what the header alone costs",
         ["-i", "in.mkv", "-b", "0.5bpp", *FAST, "out.dinr"], 1,
         "Error encoding 'out.dinr': -b 0.5bpp is too low for 16x16 x 3 frames: the smallest "
         "file is about … bytes (… bpp)", setup=clip(), output="out.dinr"),
    Case("rate-below-floor", "`-b` below the decoders' floor (2^-12 bpp)",
         ["-i", "in.mkv", "-b", "0.0001bpp", "out.dinr"], 1,
         "Error encoding 'out.dinr': -b 0.0001bpp is too low: decoders refuse files below "
         "0.000244 bpp (a resource limit, bitstream_spec.md section 11)", setup=clip(),
         output="out.dinr"),
    # -- the command line ----------------------------------------------------------------------
    Case("unknown-option", "unknown option", ["-i", "in.mkv", "-bogus", "1", "out.dinr"], 1,
         "Unrecognized option 'bogus'."),
    Case("misplaced-option", "output option before `-i`",
         ["-preset", "fast", "-i", "in.mkv", "out.dinr"], 1,
         "Option preset cannot be applied to input url in.mkv -- you are trying to apply an "
         "output option to an input file or vice versa. Move this option before the file it "
         "belongs to."),
    Case("missing-value", "option without its value", ["-i", "in.mkv", "out.dinr", "-b"], 1,
         "Missing argument for option 'b'."),
    Case("trailing-option", "option after the last output", ["-i", "in.mkv", "out.dinr",
                                                            "-preset", "fast"], 1,
         "Trailing option(s) found in the command: '-preset' after the last output file; "
         "options go before the file they apply to"),
    Case("base-unknown", "`-base` naming no base codec",
         ["-i", "in.mkv", "-base", "h264", "out.dinr"], 1,
         "Invalid value 'h264' for option '-base': expected one of vvc, av1, hevc, none"),
    Case("base-unavailable", "`-base vvc` where no ffmpeg with libvvenc is found",
         ["-i", "in.mkv", "-base", "vvc", "out.dinr"], 1,
         "Error encoding 'out.dinr': the vvc base is not available here: no ffmpeg "
         "executable with libvvenc; pip install imageio-ffmpeg", setup=clip(),
         env_setup=lambda d, mp: mp.setenv("EXVC_FFMPEG", "none"), output="out.dinr"),
    Case("base-motion-value", "`-base_motion` other than 0 or 1",
         ["-i", "in.mkv", "-base_motion", "2", "out.dinr"], 1,
         "Invalid value 2 for -base_motion (choose 0 or 1)", setup=clip()),
    Case("refresh-threshold-value", "`-refresh_threshold` not a number from 0 to 10",
         ["-i", "in.mkv", "-refresh_threshold", "-1", "out.dinr"], 1,
         "Invalid value '-1' for option '-refresh_threshold': expected a number from 0 (off) "
         "to 10, e.g. 0.5", setup=clip()),
    Case("no-output", "no output file", ["-i", "in.mkv"], 1,
         "At least one output file must be specified", setup=clip()),
    # -- the output ----------------------------------------------------------------------------
    Case("output-folder-missing", "output folder does not exist",
         ["-i", "in.mkv", "nodir/out.dinr"], 1,
         "nodir/out.dinr: No such file or directory (folder '…/nodir' does not exist)",
         setup=clip()),
    Case("output-folder-readonly", "output folder not writable", ["-i", "in.mkv", "ro/out.dinr"],
         1, "ro/out.dinr: … (cannot write in folder '…/ro')", setup=clip(),
         env_setup=unwritable_folder, output="ro/out.dinr"),
    Case("disk-full-dinr", "disk full while writing a .dinr",
         ["-i", "in.mkv", "-b", "4bpp", *FAST, "full/out.dinr"], 1,
         "full/out.dinr: No space left on device", setup=clip(frames=2),
         env_setup=full_disk, output="full/out.dinr"),
    Case("disk-full-video", "disk full while writing a video",
         ["-i", "in.mkv", "full/out.mkv"], 1,
         "error writing 'full/out.mkv': No space left on device", setup=clip(frames=2),
         env_setup=full_disk, output="full/out.mkv"),
    Case("image-sequence", "an image sequence (`out_%03d.png`)",
         ["-i", "in.dinr", "out_%03d.png"], 0, "Output #0, image2, to 'out_%03d.png':",
         setup=data_file("in.dinr", DINR),
         check=lambda d: sorted(p.name for p in d.iterdir() if p.suffix == ".png")
         == [f"out_00{i}.png" for i in range(1, 5)] and _hidden(d) == []),
    Case("single-image", "one image file (`-frames:v 1 frame.jpg`)",
         ["-i", "in.mkv", "-frames:v", "1", "frame.jpg"], 0,
         "Output #0, image2, to 'frame.jpg':", setup=clip(),
         check=lambda d: _frames_of(d / "frame.jpg") == 1),
    Case("single-image-many-frames", "one image file for several frames",
         ["-i", "in.mkv", "frame.png"], 1,
         "Could not get frame filename number 2 from pattern 'frame.png'. Use '-frames:v 1' "
         "for a single image, or use a pattern such as %03d within the filename.",
         setup=clip(), output="frame.png"),
    Case("image-sequence-exists", "an image sequence of which a file exists, no `-y`",
         ["-i", "in.mkv", "out_%03d.png"], 1, "File 'out_002.png' already exists. Exiting.",
         setup=both(clip(), existing("out_002.png")), output="out_002.png",
         check=lambda d: not (d / "out_001.png").exists()),
    Case("vf-syntax", "`-vf` that does not parse", ["-i", "in.mkv", "-vf", "scale=8:6,",
                                                     "out.mkv"], 1,
         "Invalid value 'scale=8:6,' for option '-vf': Error parsing the filter graph "
         "'scale=8:6,': No such filter: ''", setup=clip(), output="out.mkv"),
    Case("vf-unknown-filter", "`-vf` naming no libavfilter filter",
         ["-i", "in.mkv", "-vf", "hflip,blurr", "out.mkv"], 1,
         "Error parsing the filter graph 'hflip,blurr': No such filter: 'blurr'",
         setup=clip(), output="out.mkv"),
    Case("vf-bad-argument", "`-vf` that libavfilter refuses for this input",
         ["-i", "in.mkv", "-vf", "crop=400:300", "out.dinr"], 1,
         "Error in the filter graph 'crop=400:300': Invalid too big or non positive size for "
         "width '400' or height '300'", setup=clip(), output="out.dinr"),
    Case("vf-not-simple", "`-vf` with more than one output",
         ["-i", "in.mkv", "-vf", "split", "out.mkv"], 1,
         "Simple filtergraph 'split' was expected to have exactly 1 input and 1 output. However, "
         "it had 1 input(s) and 2 output(s). Please adjust, or use a complex filtergraph "
         "(-filter_complex) instead.", setup=clip(), output="out.mkv"),
    Case("audio-codec-dinr", "`-c:a` other than Opus for a .dinr",
         ["-i", "in.mkv", "-c:a", "aac", "out.dinr"], 1,
         "A .dinr carries Opus audio; -c:a aac cannot be stored (use -c:a libopus, or -an)",
         setup=clip(), output="out.dinr"),
    Case("audio-channels", "`-ac` other than 1 or 2", ["-i", "in.mkv", "-ac", "6", "out.mkv"],
         1, "Invalid value 6 for -ac (choose 1 or 2: exvc carries mono or stereo)",
         setup=clip(), output="out.mkv"),
    Case("audio-rate-bpp", "`-b:a` in bits per pixel",
         ["-i", "in.mkv", "-b:a", "0.02bpp", "out.dinr"], 1,
         "Invalid value '0.02bpp' for option '-b:a': -b:a takes bits/s such as 12k; bits per "
         "pixel are for video", setup=clip(), output="out.dinr"),
    Case("map-no-match", "`-map 0:a` on an input without audio",
         ["-i", "in.mkv", "-map", "0:v", "-map", "0:a", "out.mkv"], 1,
         "Stream map '0:a' matches no streams. To ignore this, add a trailing '?' to the map.",
         setup=clip(), output="out.mkv"),
    Case("map-audio-only", "`-map` without the video", ["-i", "in.mkv", "-map", "0:a?",
                                                         "out.mkv"], 1,
         "exvc writes video: add -map 0:v (an output of audio alone is not supported)",
         setup=clip(), output="out.mkv"),
    Case("output-exists", "output exists, no `-y`, stdin not a terminal",
         ["-i", "in.mkv", "out.dinr"], 1, "File 'out.dinr' already exists. Exiting.",
         setup=both(clip(), existing("out.dinr")), output="out.dinr"),
    Case("output-exists-n", "output exists, `-n`", ["-n", "-i", "in.mkv", "out.dinr"], 1,
         "File 'out.dinr' already exists. Exiting.",
         setup=both(clip(), existing("out.dinr")), output="out.dinr"),
    Case("same-file", "output is the input (even with `-y`)", ["-y", "-i", "in.mkv", "in.mkv"],
         1, "Output in.mkv same as Input #0 - exiting (exvc cannot edit files in place)",
         setup=clip(), output="in.mkv"),
    Case("output-is-folder", "output is a directory", ["-i", "in.mkv", "sub"], 1,
         "sub: Is a directory", setup=both(clip(), lambda d: (d / "sub").mkdir())),
    # -- .dinr inputs --------------------------------------------------------------------------
    Case("dinr-truncated", ".dinr cut inside a chunk", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: truncated .dinr: chunk 1 (segment) ends early",
         setup=data_file("in.dinr", DINR[:150]), output="out.mkv"),
    Case("dinr-no-end", ".dinr cut at a chunk boundary", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: truncated .dinr: the file ends before its end chunk",
         setup=data_file("in.dinr", DINR[:-6]), output="out.mkv"),
    Case("dinr-tiny", ".dinr of 5 bytes", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: truncated .dinr: file header ends early",
         setup=data_file("in.dinr", DINR[:5]), output="out.mkv"),
    Case("dinr-bitflip", ".dinr with one bit flipped", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: chunk 1 (segment) fails its CRC",
         setup=data_file("in.dinr", _flip(DINR, 100)), output="out.mkv"),
    Case("dinr-major", ".dinr of an unknown major version", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: unsupported .dinr version 2.0 (this exvc reads 1.x): needs a newer exvc",
         setup=data_file("in.dinr", _major(DINR, 2)), output="out.mkv"),
    Case("dinr-absurd-header", ".dinr header out of range (width 10^9)",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: invalid .dinr header: width = 1000000000 (allowed 1..16384)",
         setup=data_file("in.dinr", _forge({"width": 10**9})), output="out.mkv"),
    Case("dinr-implausible", ".dinr whose size cannot describe its header (16384x16384, "
         "10^6 frames in a few hundred bytes)", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: implausible .dinr: … bytes claim 1000000 frames of 16384x16384 (decoder "
         "limit: 32768 pixels per byte of file)",
         setup=data_file("in.dinr", _forge({"width": 16384, "height": 16384,
                                            "frames": 10**6, "segment_frames": 4096})),
         output="out.mkv"),
    Case("dinr-prior", "`inr` .dinr carrying a PRIOR chunk",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: prior or adapter chunk in an inr stream",
         setup=data_file("in.dinr", _forge(after_head=[Chunk(PRIOR, _prior_record())])),
         output="out.mkv"),
    Case("dinr-codec", "`dinr` .dinr without its PRIOR chunk",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: a dinr stream needs exactly one prior chunk, has 0",
         setup=data_file("in.dinr", _forge({"codec": 1})), output="out.mkv"),
    Case("dinr-prior-mismatch", "`dinr` .dinr encoded with another prior than the one loaded",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: prior mismatch: this .dinr was encoded with prior 'someone-else' (sha256 "
         "0000000000000000...), but 'exvc-default-2' (sha256 …) is loaded; pass the "
         "encoder's prior with -prior",
         setup=data_file("in.dinr", _forge({"codec": 1},
                                           after_head=[Chunk(PRIOR, _prior_record())])),
         output="out.mkv"),
    Case("dinr-base-garbage", ".dinr whose base stream does not decode",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: the base stream of segment 0 …",
         setup=data_file("in.dinr", _garbage_base()), output="out.mkv"),
    Case("dinr-misplaced-motion", ".dinr with a MOTION chunk for a base that codes every frame",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: motion for a base with no frame between its pictures",
         setup=data_file("in.dinr", _misplaced_motion()), output="out.mkv"),
    Case("dinr-anchor-gap", ".dinr whose base lists anchors 33 frames apart (format 1.6)",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: a base anchor gap of 33 frames (1..32, inside the segment)",
         setup=data_file("in.dinr", _anchor_gap()), output="out.mkv"),
    Case("dinr-second-meta", ".dinr with two META chunks", ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: chunk 2 is a second metadata chunk",
         setup=data_file("in.dinr", _second_meta()), output="out.mkv"),
    Case("dinr-bad-audio", ".dinr whose AUDIO chunk breaks section 14",
         ["-i", "in.dinr", "out.mkv"], 1, "in.dinr: corrupt .dinr: 3 audio channels (1 or 2)",
         setup=data_file("in.dinr", _bad_audio()), output="out.mkv"),
    Case("dinr-stream-end", ".dinr whose coded stream has a word appended",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: entropy-coded stream is not the one its symbols encode to",
         setup=data_file("in.dinr", _word_appended()), output="out.mkv"),
    Case("dinr-table-budget", ".dinr of 4 KB stating 33 million entropy-table entries",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: entropy tables of 33554688 entries (the limit is … for the "
         "file's size)", setup=lambda d: (d / "in.dinr").write_bytes(_many_tables()),
         output="out.mkv"),
    Case("dinr-prior-trailing", "`dinr` .dinr with a byte after its prior record (minor 9)",
         ["-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: corrupt .dinr: 1 unexpected bytes after the prior record",
         setup=data_file("in.dinr", _prior_with_trailing_byte()), output="out.mkv"),
    Case("dinr-adapter-ancillary", "`dinr` .dinr with a META between an ADAPTER and its segment",
         ["-i", "in.dinr", "out.mkv"], 0, "Output #0, matroska, to 'out.mkv':",
         setup=_adapter_then_meta, check=lambda d: _frames_of(d / "out.mkv") == 4),
    Case("dinr-prior-missing", "`-prior` naming a folder that does not exist",
         ["-prior", "./no-such-prior", "-i", "in.dinr", "out.mkv"], 1,
         "in.dinr: prior './no-such-prior' not found (give a diffusers model folder or a hub "
         "id)", setup=data_file("in.dinr", _forge({"codec": 1},
                                                  after_head=[Chunk(PRIOR, _prior_record())])),
         output="out.mkv"),
]

SUBPROCESS_CASES = {  # rows exercised by the dedicated tests at the end of this module
    "tty-prompt-no": ("output exists, stdin is a terminal, answer n", 1,
                      "Not overwriting - exiting"),
    "tty-prompt-yes": ("output exists, stdin is a terminal, answer y", 0,
                       "File 'out.mkv' already exists. Overwrite? [y/N]"),
    "closed-pipe": ("reader of stdout goes away (`| head -c 100`)", 1, "(nothing)"),
    "interrupted": ("Ctrl-C (SIGINT) or SIGTERM during a run", 255,
                    "Exiting, received signal …."),
    "internal-error": ("a bug (unexpected exception)", 2,
                       "Error: internal error: …: … (run with -v debug for the traceback)"),
}


def _pattern(message: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(p) for p in message.split("…")) + "$")


@pytest.fixture(autouse=True)
def _unmount():
    yield
    while MOUNTS:
        subprocess.run(["umount", str(MOUNTS.pop())], capture_output=True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if case.setup is None and "in.mkv" in case.args:
        clip()(tmp_path)
    elif case.setup is not None:
        case.setup(tmp_path)
    if case.env_setup is not None:
        case.env_setup(tmp_path, monkeypatch)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = CliRunner().invoke(cli, ["-hide_banner", "-nostats", *case.args])
    err = result.stderr
    assert result.exit_code == case.code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if case.code:
        assert lines and _pattern(case.message).match(lines[-1]), lines[-1:]
    else:
        assert any(_pattern(case.message).match(line) for line in lines), err
    if case.output is not None:
        out = tmp_path / case.output
        assert before.get(out) == (out.read_bytes() if out.exists() else None)
    leftovers = [p.name for p in tmp_path.rglob("*.exvc-tmp")]
    assert leftovers == []
    if case.check is not None:
        assert case.check(tmp_path)


def test_a_traceback_only_with_loglevel_debug(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_file("in.dinr", DINR[:150])(tmp_path)
    result = CliRunner().invoke(cli, ["-v", "debug", "-i", "in.dinr", "out.mkv"])
    assert result.exit_code == 1 and "Traceback" in result.stderr


# --- rows that need a real process -----------------------------------------------------------

def _exvc(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exvc", "-hide_banner", "-nostats", *args],
                          env=ENV, capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.parametrize("answer", [b"n", b"y"])
def test_prompt_on_a_terminal(tmp_path, answer):
    """ffmpeg's prompt appears only when stdin is a terminal (here a pseudo-terminal)."""
    clip(frames=2)(tmp_path)
    out = tmp_path / "out.mkv"
    out.write_bytes(b"old")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "exvc", "-hide_banner", "-nostats", "-i",
                             "in.mkv", "out.mkv"], cwd=tmp_path, env=ENV, stdin=follower,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(follower)
    prompt = b""
    while b"[y/N]" not in prompt:
        line = proc.stderr.read1(4096)
        assert line, "no prompt"
        prompt += line
    os.write(leader, answer + b"\n")
    rest = proc.stderr.read()
    proc.wait(timeout=300)
    os.close(leader)
    assert SUBPROCESS_CASES["tty-prompt-yes"][2].encode() in prompt
    if answer == b"n":
        assert proc.returncode == SUBPROCESS_CASES["tty-prompt-no"][1]
        assert rest.decode().strip().splitlines()[-1] == SUBPROCESS_CASES["tty-prompt-no"][2]
        assert out.read_bytes() == b"old"
    else:
        assert proc.returncode == SUBPROCESS_CASES["tty-prompt-yes"][1], rest
        assert _frames_of(out) == 2


def test_closed_pipe_ends_quietly(tmp_path):
    """``exvc -i x -f yuv4mpegpipe - | head -c 100``: exit 1 (the output is incomplete, as
    ffmpeg's), and nothing on stderr: no error line, no traceback."""
    clip(frames=60, size=(64, 64))(tmp_path)  # ~370 KB of y4m: more than a pipe buffer holds
    reader = subprocess.Popen(["head", "-c", "100"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)
    proc = subprocess.run([sys.executable, "-m", "exvc", "-v", "error", "-nostats", "-i",
                           "in.mkv", "-f", "yuv4mpegpipe", "-"], cwd=tmp_path, env=ENV,
                          stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=300)
    reader.stdin.close()
    reader.wait()
    assert proc.returncode == SUBPROCESS_CASES["closed-pipe"][1]
    assert proc.stderr == ""


def test_sigterm_exits_255(tmp_path):
    """SIGINT is covered at three moments by tests/test_interrupt.py; SIGTERM here."""
    reader_fd, writer_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "exvc", "-hide_banner", "-f",
                             "yuv4mpegpipe", "-i", "-", str(tmp_path / "out.dinr")],
                            env=ENV, stdin=reader_fd, stderr=subprocess.PIPE)
    os.close(reader_fd)
    frame = b"FRAME\n" + bytes(16 * 16 * 3 // 2)
    os.write(writer_fd, b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n" + 2 * frame + frame[:99])
    seen = b""
    while b"Input #0" not in seen:  # then it blocks reading the rest of the third frame
        r, _, _ = select.select([proc.stderr], [], [], 120)
        if not r:
            proc.kill()
        assert r, "exvc did not open its input"
        seen += proc.stderr.read1(4096)
    proc.terminate()
    err = proc.stderr.read().decode()
    os.close(writer_fd)
    assert proc.wait(timeout=300) == 255
    line = err.strip().splitlines()[-1]
    assert _pattern(SUBPROCESS_CASES["interrupted"][2]).match(line) and line.endswith(" 15.")
    assert not (tmp_path / "out.dinr").exists()


def test_internal_error_is_one_line(tmp_path, monkeypatch):
    """A bug in exvc: exit 2 and one line (-v debug adds the traceback)."""
    monkeypatch.chdir(tmp_path)
    clip()(tmp_path)
    import exvc.cli.run as run_module

    def boom(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(run_module, "plan_output", boom)
    result = CliRunner().invoke(cli, ["-hide_banner", "-i", "in.mkv", "out.mkv"])
    assert result.exit_code == SUBPROCESS_CASES["internal-error"][1]
    assert _pattern(SUBPROCESS_CASES["internal-error"][2]).match(
        result.stderr.strip().splitlines()[-1])
    assert "Traceback" not in result.stderr


# --- the doc -------------------------------------------------------------------------------

def _doc_rows() -> dict[str, tuple[str, int]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) == 4 and cells[0].startswith("`") and cells[3].isdigit():
            rows[cells[0].strip("`")] = (cells[2].replace("\\|", "|").strip("`"),
                                         int(cells[3]))
    return rows


def test_the_doc_table_matches_the_cases():
    rows = _doc_rows()
    expected = {c.id: (c.message, c.code) for c in CASES}
    expected.update({k: (v[2], v[1]) for k, v in SUBPROCESS_CASES.items()})
    assert sorted(rows) == sorted(expected)
    for key, (message, code) in expected.items():
        assert rows[key] == (message, code), key

"""Audio: the AUDIO chunk (bitstream_spec.md section 14), Opus in and out, and the CLI's
round trip: a video with sound -> .dinr -> .mp4 with sound of the right duration."""

from __future__ import annotations

import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from exvc.bitstream.audio import OPUS, AudioPayload, read_audio, write_audio
from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import AUDIO, HEAD, Chunk, read_container, write_container
from exvc.media.audio import RATE, Pcm, decode_opus, encode_opus

FAST = ["-hide_banner", "-nostats", "-y"]


def _tone(seconds: float, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return np.repeat(wave[:, None], channels, axis=1)


def _snr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float), b.astype(float)
    return 10 * np.log10((a ** 2).mean() / ((a - b) ** 2).mean())


@pytest.mark.parametrize("channels", [1, 2])
def test_opus_round_trip_keeps_length_and_timing(channels):
    tone = _tone(0.5, channels=channels)
    payload = encode_opus(Pcm(tone, 44100), 24000)
    assert payload.pre_skip > 0 and payload.samples == len(tone) and payload.channels == channels
    back = decode_opus(read_audio(write_audio(payload)))
    assert back.samples.shape == tone.shape and back.source_rate == 44100
    # aligned to the sample (pre-skip applied): a shift of a few samples would cost far more
    assert _snr(tone, back.samples) > 15


def _payload(**kw) -> AudioPayload:
    fields = dict(codec=OPUS, channels=1, source_rate=48000, pre_skip=312, samples=960,
                  packets=(b"\x08" * 3, b"\x08" * 3))
    fields.update(kw)
    return AudioPayload(**fields)


@pytest.mark.parametrize("change, message", [
    (dict(codec=2), "unknown audio codec 2"),
    (dict(channels=3), "3 audio channels"),
    (dict(source_rate=0), "audio source rate 0"),
    (dict(samples=0), "bad audio pre-skip or length"),
    (dict(pre_skip=70000), "bad audio pre-skip or length"),
    (dict(samples=20000), "longer than its packets can hold"),
    (dict(packets=(b"\x08" * 4000,)), "packet size out of range"),
])
def test_bad_audio_payloads_are_refused(change, message):
    with pytest.raises(DinrError, match=message):
        read_audio(write_audio(_payload(**change)))


def test_audio_payload_bytes_must_be_exact():
    data = write_audio(_payload())
    assert read_audio(data) == _payload()
    for bad in (data + b"\x00", data[:-1]):
        with pytest.raises(DinrError, match="do not fill the payload"):
            read_audio(bad)


def test_a_second_audio_chunk_is_refused():
    head = Chunk(HEAD, b"x")
    audio = Chunk(AUDIO, write_audio(_payload()))
    read_container(write_container([head, audio]))
    with pytest.raises(DinrError, match="second audio chunk"):
        read_container(write_container([head, audio, audio]))


def _clip_with_sound(path: Path, seconds: float = 1.0, fps: int = 25) -> Path:
    """64x48 H.264 at ``fps`` with an AAC 440 Hz tone of the same length."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=44100)
        sound.codec_context.layout = "mono"
        for i in range(round(seconds * fps)):
            rgb = np.full((48, 64, 3), (10 * i) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(round(seconds * 44100)) / 44100
        pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def exvc(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "exvc", *args], capture_output=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc


def _streams(path: Path) -> dict[str, float]:
    """Duration in seconds of each stream kind, from the decoded frames and samples."""
    out = {}
    with av.open(str(path)) as c:
        for s in c.streams:
            if s.type == "audio":
                out["audio"] = sum(f.samples for f in c.decode(s)) / s.codec_context.sample_rate
    with av.open(str(path)) as c:
        if c.streams.video:
            s = c.streams.video[0]
            out["video"] = sum(1 for _ in c.decode(s)) / float(s.average_rate)
    return out


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("audio")
    clip = _clip_with_sound(folder / "in.mp4")
    out = folder / "out.dinr"
    exvc(*FAST, "-i", str(clip), "-c:v", "inr", "-b", "0.1bpp", "-preset", "ultrafast",
         str(out))
    return clip, out


@pytest.mark.slow
def test_a_dinr_keeps_the_sound_and_decodes_it_into_an_mp4(coded, tmp_path):
    _, dinr = coded
    listing = subprocess.run([sys.executable, "-m", "exvc", "-hide_banner", "-i", str(dinr)],
                             capture_output=True).stderr.decode()
    assert re.search(r"Stream #0:1: Audio: opus, 48000 Hz, mono, \d+ bytes", listing)
    assert re.search(r"audio +: +\d+ bytes", listing)
    out = tmp_path / "out.mp4"
    exvc(*FAST, "-i", str(dinr), str(out))
    from exvc.media.ffmpeg_exe import find_ffmpeg

    ffmpeg = find_ffmpeg()
    if ffmpeg is not None:  # what ffmpeg's own prober sees
        said = subprocess.run([ffmpeg.path, "-hide_banner", "-i", str(out)],
                              capture_output=True).stderr.decode()
        assert re.search(r"Stream #0:1.*: Audio: aac", said), said
    durations = _streams(out)
    assert durations["video"] == pytest.approx(1.0)
    assert abs(durations["audio"] - durations["video"]) <= 1 / 25 + 1024 / 48000


@pytest.mark.slow
def test_the_video_rate_does_not_pay_for_the_sound(coded):
    from exvc.decode.decoder import probe

    _, dinr = coded
    info = probe(dinr.read_bytes())
    assert info.audio is not None and info.audio_bytes > 0
    assert 8 * (info.file_bytes - info.audio_bytes) / (64 * 48 * 25) <= 0.1
    assert info.bpp <= 0.1 < 8 * info.file_bytes / (64 * 48 * 25)


@pytest.mark.slow
def test_an_drops_the_sound_and_windows_cut_it(coded, tmp_path):
    from exvc.decode.decoder import probe

    clip, dinr = coded
    silent = tmp_path / "silent.dinr"
    exvc(*FAST, "-i", str(dinr), "-an", "-c:v", "inr", "-b", "0.1bpp", "-preset", "ultrafast",
         str(silent))
    assert probe(silent.read_bytes()).audio is None
    cut = tmp_path / "cut.mkv"
    exvc(*FAST, "-ss", "0.2", "-i", str(dinr), "-t", "0.4", str(cut))
    durations = _streams(cut)
    assert durations["video"] == pytest.approx(0.4)
    assert abs(durations["audio"] - 0.4) <= 1 / 25 + 1536 / 48000
    y4m = tmp_path / "out.y4m"  # a format without audio: the video alone, as in ffmpeg
    exvc(*FAST, "-i", str(clip), str(y4m))
    assert set(_streams(y4m)) == {"video"}


@pytest.mark.slow
def test_a_transcode_keeps_the_sound(tmp_path):
    clip = _clip_with_sound(tmp_path / "in.mp4")
    out = tmp_path / "out.webm"
    exvc(*FAST, "-i", str(clip), "-c:a", "libopus", "-b:a", "32k", str(out))
    durations = _streams(out)
    assert abs(durations["audio"] - 1.0) <= 1 / 25


@pytest.mark.slow
def test_a_dinr_takes_only_opus(tmp_path):
    clip = _clip_with_sound(tmp_path / "in.mp4")
    proc = subprocess.run([sys.executable, "-m", "exvc", *FAST, "-i", str(clip), "-c:a", "aac",
                           str(tmp_path / "o.dinr")], capture_output=True)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines()[-1] == (
        "A .dinr carries Opus audio; -c:a aac cannot be stored (use -c:a libopus, or -an)")
    assert not (tmp_path / "o.dinr").exists()


def test_a_dinr_of_format_1_4_with_sound_decodes():
    """The compat corpus's AUDIO file: 4 frames and 0.16 s of a 440 Hz tone."""
    from exvc.decode.decoder import probe

    path = Path(__file__).parent / "data" / "compat" / "v1.4" / "audio_opus_16x16_4f.dinr"
    info = probe(path.read_bytes())
    assert info.audio is not None and info.audio.samples == round(0.16 * RATE)
    pcm = decode_opus(info.audio).samples[:, 0]
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.argmax(spectrum) * RATE / len(pcm) - 440) < 10
    assert Fraction(info.video.frames, 25) == Fraction(4, 25)


@pytest.mark.parametrize("text, kind, optional", [
    ("0", None, False), ("0:v", "v", False), ("0:v:0", "v", False), ("0:a?", "a", True),
    ("0:a:0", "a", False),
])
def test_map_forms(text, kind, optional):
    from exvc.cli.maps import parse_map

    spec = parse_map(text)
    assert (spec.kind, spec.optional) == (kind, optional)


@pytest.mark.parametrize("text, message", [
    ("1", "Invalid input file index: 1"), ("0:v:1", "first video and the first audio"),
    ("-0:a", "negative maps"), ("0:s", "no subtitles"), ("v", "expected a stream map"),
])
def test_map_forms_exvc_cannot_honour(text, message):
    from exvc.cli.maps import parse_map
    from exvc.cli.values import BadValue

    with pytest.raises(BadValue, match=message):
        parse_map(text)


@pytest.mark.slow
@pytest.mark.parametrize("maps, streams", [
    ([], {"video", "audio"}), (["-map", "0"], {"video", "audio"}),
    (["-map", "0:v"], {"video"}), (["-map", "0:v:0", "-map", "0:a?"], {"video", "audio"}),
])
def test_map_selects_the_streams_of_a_transcode(tmp_path, maps, streams):
    clip = _clip_with_sound(tmp_path / "in.mp4", seconds=0.4)
    out = tmp_path / "out.mkv"
    exvc(*FAST, "-i", str(clip), *maps, str(out))
    assert set(_streams(out)) == streams


@pytest.mark.slow
def test_c_a_copy_keeps_the_coded_audio(tmp_path):
    clip = _clip_with_sound(tmp_path / "in.mp4")
    out = tmp_path / "out.mkv"
    exvc(*FAST, "-ss", "0.4", "-i", str(clip), "-c:a", "copy", str(out))
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"  # copied, not re-encoded
    durations = _streams(out)
    assert durations["video"] == pytest.approx(0.6)
    assert abs(durations["audio"] - 0.6) <= 1024 / 44100 + 1 / 25


@pytest.mark.slow
def test_c_a_copy_from_a_dinr_is_refused(coded, tmp_path):
    _, dinr = coded
    proc = subprocess.run([sys.executable, "-m", "exvc", *FAST, "-i", str(dinr), "-c:a", "copy",
                           str(tmp_path / "o.mkv")], capture_output=True)
    assert proc.returncode == 1 and "-c:a copy takes coded audio from a video input" in (
        proc.stderr.decode())
    assert not (tmp_path / "o.mkv").exists()


def test_a_dinr_copy_keeps_its_sound_unless_told(tmp_path):
    """.dinr -> .dinr copies the bytes; -an (or a -map without audio) drops the AUDIO chunk
    and keeps every other byte of the file."""
    from exvc.decode.decoder import probe

    src = Path(__file__).parent / "data" / "compat" / "v1.4" / "audio_opus_16x16_4f.dinr"
    basic = src.with_name("basic_16x16_4f.dinr").read_bytes()
    exvc(*FAST, "-i", str(src), str(tmp_path / "same.dinr"))
    assert (tmp_path / "same.dinr").read_bytes() == src.read_bytes()
    for args in (["-an"], ["-map", "0:v"]):
        out = tmp_path / "silent.dinr"
        exvc(*FAST, "-i", str(src), *args, str(out))
        assert probe(out.read_bytes()).audio is None
        assert out.read_bytes() == basic  # the file it was made from, byte for byte


def test_b_a_and_ac_on_a_dinr_copy_code_the_sound_again_and_keep_the_video(tmp_path):
    """-b:a and -ac set the audio alone: the video's chunks are copied byte for byte (no
    re-encode of the pictures), and the AUDIO chunk is coded again at that rate or layout."""
    from exvc.bitstream.container import without_chunks
    from exvc.decode.decoder import probe

    src = Path(__file__).parent / "data" / "compat" / "v1.4" / "audio_opus_16x16_4f.dinr"
    basic = src.with_name("basic_16x16_4f.dinr").read_bytes()
    old = probe(src.read_bytes()).audio
    for args, channels in ((["-b:a", "32k"], 1), (["-ac", "2"], 2),
                           (["-b:a", "24k", "-ac", "2"], 2)):
        out = tmp_path / "resound.dinr"
        exvc(*FAST, "-i", str(src), *args, str(out))
        data = out.read_bytes()
        assert without_chunks(data, AUDIO) == basic, args  # the video as it was
        audio = probe(data).audio
        assert audio.channels == channels and audio.samples == old.samples, args
        assert audio.packets != old.packets, args
    mono = _tone(0.5, channels=2)
    assert Pcm(mono, RATE).with_channels(1).samples.shape == (len(mono), 1)
    assert Pcm(mono[:, :1], RATE).with_channels(2).samples.tolist() == \
        np.repeat(mono[:, :1], 2, axis=1).tolist()

"""Audio beside the video: captured while the video is demuxed, coded as Opus for a .dinr,
decoded back, and muxed into video outputs.

Audio travels between these steps as 16-bit PCM at 48 kHz, ``(samples, channels)``: Opus's
own rate, so a .dinr round trip resamples once. It is held in memory (11.5 MB a minute of
stereo), which bounds the length of audio exvc carries by the machine's memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from exvc.bitstream.audio import OPUS, OPUS_RATE, AudioPayload

from .scheduling import kept_scheduling

log = logging.getLogger(__name__)

RATE = OPUS_RATE
# Opus at 12 kbit/s mono is intelligible speech and usable music at a cost of 1.5 kB a
# second: at 0.02 bpp a 320x240 25 fps video has 4.8 kB a second, so better audio would
# cost more than the picture. -b:a and -ac ask for more.
DEFAULT_BITRATE = 12000
DEFAULT_CHANNELS = 1


@dataclass(frozen=True)
class AudioInfo:
    """An input's first audio stream, as listed."""

    codec: str
    rate: int
    channels: int


def describe_stream(stream) -> AudioInfo | None:
    """The codec, rate and channels of an audio stream (None for no stream)."""
    if stream is None:
        return None
    ctx = stream.codec_context
    return AudioInfo(ctx.name, int(ctx.sample_rate or 0), int(ctx.channels or 0))


@dataclass
class Pcm:
    """16-bit PCM at ``RATE``: ``samples`` is (n, channels)."""

    samples: np.ndarray
    source_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    def with_channels(self, channels: int) -> Pcm:
        """This PCM as mono (the channels' mean) or stereo (mono on both sides)."""
        if channels == self.channels:
            return self
        if channels == 1:
            mono = self.samples.astype(np.int32).mean(axis=1, keepdims=True)
            return Pcm(np.rint(mono).astype(np.int16), self.source_rate)
        return Pcm(np.repeat(self.samples[:, :1], channels, axis=1), self.source_rate)

    def window(self, start: float, duration: float | None) -> Pcm:
        """The part from ``start`` seconds, ``duration`` long (None: to the end)."""
        a = max(0, round(start * RATE))
        b = None if duration is None else a + max(0, round(duration * RATE))
        return Pcm(self.samples[a:b], self.source_rate)


class AudioCapture:
    """Collects the decoded audio of a stream, placed by time from a given origin (the
    video's -ss origin), resampled to ``RATE`` and at most ``channels`` channels."""

    def __init__(self, stream, channels: int | None = None, copy: bool = False) -> None:
        self.info = describe_stream(stream)
        self.stream = stream
        self.copy = copy  # keep the coded packets (-c:a copy) instead of decoding them
        self.packets: list[tuple[float, av.Packet]] = []  # (seconds from the origin, packet)
        self.channels = min(2, channels or self.info.channels or 1)
        layout = "mono" if self.channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="s16", layout=layout, rate=RATE)
        self._chunks: list[np.ndarray] = []
        self._start: float | None = None  # time of the first kept sample

    def add(self, packet, origin: Fraction) -> None:
        """Decode ``packet``; a broken audio packet loses only itself."""
        if self.copy:
            if packet.pts is not None and packet.time_base and packet.size:
                seconds = float(Fraction(packet.pts) * packet.time_base - origin)
                self.packets.append((seconds, packet))
            return
        try:
            frames = packet.decode()
            for frame in frames:
                if self._start is None and frame.pts is not None and frame.time_base:
                    self._start = float(Fraction(frame.pts) * frame.time_base - origin)
                for out in self._resampler.resample(frame):
                    self._chunks.append(out.to_ndarray().reshape(-1, self.channels))
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("audio: skipping an undecodable packet (%s)", exc)

    def pcm(self) -> Pcm | None:
        """All the audio, its first sample at time 0 of the origin (silence is inserted
        before a late start, samples before the origin are cut); None when there is none."""
        try:
            for out in self._resampler.resample(None):
                self._chunks.append(out.to_ndarray().reshape(-1, self.channels))
        except (av.error.FFmpegError, ValueError):
            pass
        if not self._chunks:
            return None
        samples = np.concatenate(self._chunks)
        shift = round((self._start or 0.0) * RATE)
        if shift > 0:
            samples = np.concatenate([np.zeros((shift, self.channels), np.int16), samples])
        elif shift < 0:
            samples = samples[-shift:]
        return Pcm(samples, self.info.rate or RATE)


def encode_opus(pcm: Pcm, bitrate: int | None = None) -> AudioPayload | None:
    """Opus packets of ``pcm`` (20 ms each) at ``bitrate`` bits/s; None for no samples."""
    if len(pcm.samples) == 0:
        return None
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.format = RATE, "s16"
    ctx.layout = "mono" if pcm.channels == 1 else "stereo"
    ctx.bit_rate = int(bitrate or DEFAULT_BITRATE)
    ctx.options = {"application": "audio"}
    size = ctx.frame_size or 960
    packets = []
    with kept_scheduling():
        for start in range(0, len(pcm.samples), size):
            block = np.ascontiguousarray(pcm.samples[start:start + size])
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16",
                                               layout=ctx.layout.name)
            frame.sample_rate, frame.pts = RATE, start
            packets += ctx.encode(frame)
        packets += ctx.encode(None)
    # libopus's look-ahead (its pre-skip): the first packet starts that far before sample 0
    pre_skip = max(0, -(packets[0].pts or 0)) if packets else 0
    return AudioPayload(OPUS, pcm.channels, pcm.source_rate, int(pre_skip), len(pcm.samples),
                        tuple(bytes(p) for p in packets))


def decode_opus(payload: AudioPayload) -> Pcm:
    """The PCM an AUDIO payload holds: its packets decoded, ``pre_skip`` dropped, cut (or
    padded with silence) to ``samples``."""
    ctx = av.CodecContext.create("opus", "r")
    ctx.sample_rate = RATE
    ctx.layout = "mono" if payload.channels == 1 else "stereo"
    resampler = av.AudioResampler(format="s16", layout=ctx.layout.name, rate=RATE)
    chunks = []
    for data in payload.packets:
        try:
            frames = ctx.decode(av.Packet(data))
        except (av.error.FFmpegError, ValueError):
            frames = []  # a packet that does not decode becomes silence below
        for frame in frames:
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, payload.channels))
    samples = np.concatenate(chunks) if chunks else np.zeros((0, payload.channels), np.int16)
    samples = samples[payload.pre_skip:payload.pre_skip + payload.samples]
    if len(samples) < payload.samples:
        pad = np.zeros((payload.samples - len(samples), payload.channels), np.int16)
        samples = np.concatenate([samples, pad])
    return Pcm(samples, payload.source_rate)

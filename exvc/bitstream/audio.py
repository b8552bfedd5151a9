"""AUDIO chunk payload (since 1.4): the video's first audio stream as Opus packets.

bitstream_spec.md section 14. Ancillary: a reader that predates it skips it and decodes the
video. One Opus packet per 20 ms frame, stored back to back after their sizes:

    codec        u8    1 = Opus (RFC 6716 packets, 48 kHz)
    channels     u8    1 or 2
    source_rate  uleb  the source's sample rate, 1..384000 (informative: outputs may use it)
    pre_skip     uleb  samples (48 kHz) the decoder drops at the start, 0..65535
    samples      uleb  samples (48 kHz) kept after pre_skip: the audio's duration, >= 1
    count        uleb  number of packets, 1..MAX_PACKETS
    size         uleb x count, each 1..MAX_PACKET_BYTES
    packets      the packets, sum(size) bytes, nothing after
"""

from __future__ import annotations

from dataclasses import dataclass

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError

OPUS = 1
CODECS = {OPUS: "opus"}
OPUS_RATE = 48000
MAX_PACKET_BYTES = 1275 * 3  # RFC 6716: at most 1275 bytes a frame, 3 frames of 20 ms
MAX_PACKETS = 1 << 24  # 93 hours of 20 ms packets
MAX_PRE_SKIP = 0xFFFF


@dataclass(frozen=True)
class AudioPayload:
    codec: int
    channels: int
    source_rate: int
    pre_skip: int
    samples: int
    packets: tuple[bytes, ...]

    @property
    def seconds(self) -> float:
        return self.samples / OPUS_RATE

    @property
    def codec_name(self) -> str:
        return CODECS.get(self.codec, f"codec {self.codec}")


def write_audio(p: AudioPayload) -> bytes:
    w = ByteWriter().u8(p.codec).u8(p.channels).uleb(p.source_rate).uleb(p.pre_skip)
    w.uleb(p.samples).uleb(len(p.packets))
    for packet in p.packets:
        w.uleb(len(packet))
    for packet in p.packets:
        w.raw(packet)
    return w.getvalue()


def read_audio(data: bytes) -> AudioPayload:
    """Parse and check an AUDIO payload (DinrError on any violation of section 14)."""
    r = ByteReader(data, "audio")
    codec, channels = r.u8(), r.u8()
    if codec not in CODECS:
        raise DinrError(f"corrupt .dinr: unknown audio codec {codec}")
    if channels not in (1, 2):
        raise DinrError(f"corrupt .dinr: {channels} audio channels (1 or 2)")
    source_rate, pre_skip, samples, count = r.uleb(), r.uleb(), r.uleb(), r.uleb()
    if not 1 <= source_rate <= 384000:
        raise DinrError(f"corrupt .dinr: audio source rate {source_rate} out of range")
    if pre_skip > MAX_PRE_SKIP or samples < 1:
        raise DinrError("corrupt .dinr: bad audio pre-skip or length")
    if not 1 <= count <= min(MAX_PACKETS, r.remaining):
        raise DinrError(f"corrupt .dinr: {count} audio packets")
    sizes = [r.uleb() for _ in range(count)]
    if any(not 1 <= s <= MAX_PACKET_BYTES for s in sizes):
        raise DinrError("corrupt .dinr: an audio packet size out of range")
    if sum(sizes) != r.remaining:
        raise DinrError("corrupt .dinr: audio packets do not fill the payload")
    # 20 ms or more a packet: the duration cannot outrun what the packets can hold
    if pre_skip + samples > count * 120 * OPUS_RATE // 1000:
        raise DinrError("corrupt .dinr: audio longer than its packets can hold")
    packets = tuple(r.raw(s) for s in sizes)
    return AudioPayload(codec, channels, source_rate, pre_skip, samples, packets)

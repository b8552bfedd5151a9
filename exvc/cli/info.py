"""ffmpeg-style stream descriptions: the ``Input #0, ...`` block printed before work starts,
and alone (then exit 1) when no output file is given.

Functions here return lines; they take a ``DinrInfo`` by its attributes only, so they work
(and are tested) without the decoder.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from exvc.bitstream.prior_chunk import MIX_ONE
from exvc.media.image_names import is_image_name
from exvc.media.types import ColourInfo, VideoInfo
from exvc.prior.bundled import bundled_prior_for

# H.273 code points -> FFmpeg's names (libavutil/pixdesc.c).
MATRIX_NAMES = {
    0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
    9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
    13: "chroma-derived-c", 14: "ictcp",
}
PRIMARIES_NAMES = {
    1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
    9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213",
}
TRANSFER_NAMES = {
    1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "linear",
    9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
    14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67",
}
UNSPECIFIED = 2
CODEC_LONG_NAMES = {"inr": "exvc INR", "dinr": "exvc diffusion INR"}
# what a file's frames are, by HEAD codec: with base layers, codec 0 frames are the condition
# itself (no prior) and codec 1 frames are the condition refined by the prior
LAYERED_NAMES = {"inr": "exvc layers, no prior", "dinr": "exvc layers + diffusion prior"}


def describe_pix_fmt(pix_fmt: str, colour: ColourInfo) -> str:
    """``yuv420p(tv, bt709)`` as ffmpeg writes it: range, then the colour space, or
    space/primaries/transfer when they differ."""
    parts = ["pc" if colour.full_range else "tv"]
    codes = (colour.matrix, colour.primaries, colour.transfer)
    if any(c != UNSPECIFIED for c in codes):
        names = (MATRIX_NAMES.get(colour.matrix, "unknown"),
                 PRIMARIES_NAMES.get(colour.primaries, "unknown"),
                 TRANSFER_NAMES.get(colour.transfer, "unknown"))
        parts.append(names[0] if len(set(codes)) == 1 else "/".join(names))
    return f"{pix_fmt}({', '.join(parts)})"


def format_fps(fps: Fraction | float) -> str:
    """``29.97``, ``25``, ``120k``-style, as ffmpeg's print_fps."""
    v = round(float(fps) * 100)
    if v % 100:
        return f"{float(fps):3.2f}"
    if v % (100 * 1000):
        return f"{float(fps):1.0f}"
    return f"{float(fps) / 1000:1.0f}k"


def format_duration(seconds: float | None) -> str:
    """``HH:MM:SS.cc`` rounded to the nearest centisecond, or ``N/A``."""
    if seconds is None:
        return "N/A"
    cs = int((seconds * 1_000_000 + 5000) // 10_000)
    return f"{cs // 360000:02d}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def format_kbps(bits_per_second: float) -> str:
    kbps = bits_per_second / 1000
    return f"{kbps:.0f}" if kbps >= 10 else f"{kbps:.1f}"


def duration_of(video: VideoInfo) -> float | None:
    if video.frames is None or not video.fps:
        return None
    return video.frames / float(video.fps)


def format_name(url: str, fmt: str | None) -> str:
    """The format to show for a file: ``-f``, else a guess from the extension."""
    if fmt:
        return fmt
    if url in ("-", "pipe:", "pipe:0", "pipe:1"):
        return "pipe"
    if is_image_name(url):
        return "image2"
    ext = url.rsplit(".", 1)[-1].lower() if "." in url else ""
    return {"mkv": "matroska", "y4m": "yuv4mpegpipe", "mov": "mov,mp4", "mp4": "mov,mp4",
            "m4v": "mov,mp4"}.get(ext, ext or "video")


def _metadata_lines(metadata: dict[str, str], indent: str = "  ") -> list[str]:
    if not metadata:
        return []
    lines = [f"{indent}Metadata:"]
    for key, value in metadata.items():
        for j, part in enumerate(str(value).splitlines() or [""]):
            lines.append(f"{indent}  {key if j == 0 else '':<16}: {part}")
    return lines


def _duration_line(duration: float | None, size_bytes: int | None) -> str:
    rate = "N/A"
    if duration and size_bytes is not None:
        rate = f"{format_kbps(8 * size_bytes / duration)} kb/s"
    return f"  Duration: {format_duration(duration)}, start: 0.000000, bitrate: {rate}"


def _video_props(video: VideoInfo) -> str:
    return (f"{describe_pix_fmt(video.pix_fmt, video.colour)}, {video.width}x{video.height}, "
            f"{format_fps(video.fps)} fps")


def _prior_label(record: Any) -> str:
    """The record's label, with the bundled prior's name where it is one (since format 1.2 a
    file records only 8 bytes of the identity, no name)."""
    folder = None if record.name else bundled_prior_for(record.matches)
    return record.label if folder is None else f"{folder.name} (bundled, {record.label})"


def dinr_info_lines(info: Any, url: str, index: int = 0) -> list[str]:
    """The block for a .dinr input, from a ``DinrInfo`` (video, codec, version, file_bytes,
    sections, metadata, bpp)."""
    video: VideoInfo = info.video
    if getattr(info, "layers", None):  # written by the dinr encoder, with or without prior
        codec = f"dinr ({LAYERED_NAMES.get(info.codec, 'exvc')})"
    else:
        codec = f"{info.codec} ({CODEC_LONG_NAMES.get(info.codec, 'exvc')})"
    stream = f"  Stream #{index}:0: Video: {codec}, {_video_props(video)}"
    if video.frames is not None:
        stream += f", {video.frames} frames"
    stream += f", {info.bpp:.4f} bpp"
    lines = [f"Input #{index}, dinr, from '{url}':"]
    lines += _metadata_lines(dict(info.metadata))
    lines.append(_duration_line(duration_of(video), info.file_bytes))
    lines.append(stream)
    prior = getattr(info, "prior", None)
    if prior is not None:
        lines.append(f"  Prior: {_prior_label(prior)}, "
                     f"{prior.sampler_name} {prior.run_steps} of {prior.grid_steps} steps"
                     + (f", mixed {prior.mix}/{MIX_ONE} with its condition"
                        if prior.mix < MIX_ONE else ""))
    for layer in getattr(info, "layers", []):
        lines.append(f"  Layers: {layer}")
    audio = getattr(info, "audio", None)
    if audio is not None:
        kbps = 8 * info.audio_bytes / audio.seconds / 1000
        lines.append(f"  Stream #{index}:1: Audio: {audio.codec_name}, 48000 Hz, "
                     f"{'mono' if audio.channels == 1 else 'stereo'}, {info.audio_bytes} bytes "
                     f"({kbps:.1f} kb/s)")
    lines.append(f"  Sections (dinr {info.version}):")
    total = max(int(info.file_bytes), 1)
    framing = info.file_bytes - sum(size for _, size in info.sections)
    for name, size in [*info.sections, ("magic, end", framing)]:
        lines.append(f"    {name:<16}: {size:>9} bytes {100 * size / total:5.1f}%")
    lines.append(f"    {'total':<16}: {info.file_bytes:>9} bytes")
    return lines


def video_info_lines(video: VideoInfo, url: str, fmt: str, size_bytes: int | None,
                     index: int = 0, audio: Any = None) -> list[str]:
    """The block for a video input (what the media layer's VideoInfo tells, and its first
    audio stream's ``AudioInfo``, if any)."""
    stream = f"  Stream #{index}:0: Video: {_video_props(video)}"
    if video.frames is not None:
        stream += f", {video.frames} frames"
    lines = [f"Input #{index}, {fmt}, from '{url}':",
             _duration_line(duration_of(video), size_bytes), stream]
    if audio is not None:
        layout = {1: "mono", 2: "stereo"}.get(audio.channels, f"{audio.channels} channels")
        lines.append(f"  Stream #{index}:1: Audio: {audio.codec}, {audio.rate} Hz, {layout}")
    return lines


def output_info_lines(video: VideoInfo, url: str, fmt: str, codec: str | None,
                      metadata: dict[str, str], extra: str = "", index: int = 0) -> list[str]:
    """``Output #0, fmt, to 'url':`` and its stream line, printed before work starts."""
    stream = f"  Stream #{index}:0: Video: {codec + ', ' if codec else ''}{_video_props(video)}"
    if video.frames is not None:
        stream += f", {video.frames} frames"
    if extra:
        stream += f", {extra}"
    return [f"Output #{index}, {fmt}, to '{url}':", *_metadata_lines(metadata), stream]

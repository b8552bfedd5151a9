"""The audio of a command: the input's first audio stream, cut to the output's frames.

A .dinr output stores it as Opus (an AUDIO chunk, outside the video's ``-b`` budget); a
.dinr input gives it back; a video output gets it encoded by the muxer's default audio
encoder (or ``-c:a``), as ffmpeg does. ``-an`` drops it. The audio is cut to the time span
of the frames written: from the output's first frame (after every -ss) for as many seconds
as the video lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import CliError
from .frames import Window
from .maps import audio_is_mapped
from .options import OutputSpec

OPUS_NAMES = ("libopus", "opus")


@dataclass
class AudioPlan:
    """Where the audio comes from and where the output's time 0 lies in it (seconds)."""

    capture: Any = None  # exvc.media.audio.AudioCapture of a video input
    payload: Any = None  # exvc.bitstream.audio.AudioPayload of a .dinr input
    source_start: float = 0.0  # the input's -ss: the source time of the input's frame 0
    channels: int = 1

    def pcm(self, first_frame: int, frames: int, fps: Fraction):
        """The PCM that goes with output frames [first_frame, first_frame + frames)."""
        from exvc.media.audio import decode_opus

        pcm = self.capture.pcm() if self.capture is not None else decode_opus(self.payload)
        if pcm is None:
            return None
        pcm = pcm.with_channels(self.channels)  # -ac; a capture is already mixed
        return pcm.window(self.source_start + float(first_frame / fps), float(frames / fps))


def check_audio_options(out: OutputSpec) -> None:
    """Audio options that cannot work, refused before any file is opened."""
    if out.audio_channels is not None and out.audio_channels not in (1, 2):
        raise CliError(f"Invalid value {out.audio_channels} for -ac (choose 1 or 2: exvc "
                       "carries mono or stereo)")
    if out.is_dinr and out.audio_codec not in (None,) + OPUS_NAMES:
        raise CliError(f"A .dinr carries Opus audio; -c:a {out.audio_codec} cannot be "
                       "stored (use -c:a libopus, or -an)")


def plan_audio(source: Any, out: OutputSpec) -> AudioPlan | None:
    """What audio the output gets, or None. A video input starts collecting its audio
    here, so call this before the first frame is read."""
    from exvc.media.audio import DEFAULT_CHANNELS

    if source.kind == "dinr":
        has_audio = getattr(source.dinr, "audio", None) is not None
    else:
        has_audio = source.source.audio_stream is not None
    if not audio_is_mapped(out.maps, has_audio) or out.no_audio or out.is_null:
        return None
    if out.audio_codec == "copy" and source.kind == "dinr" and has_audio:
        raise CliError("-c:a copy takes coded audio from a video input; a .dinr's Opus is "
                       "decoded (use -c:a libopus)")
    channels = out.audio_channels
    if source.kind == "dinr":
        payload = getattr(source.dinr, "audio", None)
        if payload is None:
            return None
        start = source.window.start or 0.0
        return AudioPlan(payload=payload, source_start=start,
                         channels=channels or payload.channels)
    if out.is_dinr and channels is None:
        channels = DEFAULT_CHANNELS
    capture = source.source.capture_audio(channels, copy=out.audio_codec == "copy")
    if capture is None:
        return None
    return AudioPlan(capture=capture, source_start=float(source.source.start),
                     channels=capture.channels)


def first_output_frame(out: OutputSpec, fps: Fraction) -> int:
    """Index of the output's first frame on the input's time line (its -ss)."""
    return Window.of(out.start, out.duration, out.end, out.max_frames).index_range(fps)[0]

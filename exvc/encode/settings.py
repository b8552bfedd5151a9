"""What the caller asks of the encoder, and what it reports back while it works."""

from __future__ import annotations

from dataclasses import dataclass, field

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")


@dataclass
class EncodeSettings:
    """Encoder settings. ``bpp`` is the target rate in bits per pixel per frame, counted over the
    whole file (8 x file bytes / (width x height x frames)); the CLI converts ``-b 64k`` to it.
    ``codec`` is ``dinr`` (a standard-codec base and/or INR condition, refined by the
    diffusion prior where that pays: the default) or ``inr`` (the INR's frames as they are).
    """

    bpp: float
    preset: str = "medium"
    seed: int = 0
    segment_frames: int = 64
    # also start a segment at each hard cut whose mean change exceeds this many 8-bit levels
    # (exvc.encode.segments); 0: only fixed-length segments
    scene_cut_levels: int = 24
    codec: str = "dinr"
    prior: str | None = None  # diffusers folder or hub id for dinr; None = the bundled prior
    metadata: dict[str, str] = field(default_factory=dict)
    threads: int | None = None  # torch's and the base codecs' threads for each segment
    # Segments coded as Ray tasks on this many workers at once (0: here, one after another).
    # A file does not depend on it (exvc.encode.runners).
    workers: int = 0
    # Where fitting, adapter training and sampling run: cpu, cuda or auto (exvc.models.device).
    # The CLI's default is auto; a library caller opts in.
    hwaccel: str = "cpu"
    # The base layer (dinr only): a codec name, "none" (the INR alone, as in v1) or None
    # (the encoder measures and chooses); the size divisor and frame step pin those choices.
    base: str | None = None
    base_scale: int | None = None
    base_framestep: int | None = None
    # Whether the frames between a base's pictures may be predicted by global motion and
    # masks (a MOTION chunk, kept where it measures better; False: blended by time; None: as
    # the preset says, on at slow and slower presets).
    base_motion: bool | None = None
    # The perceptual threshold that places the base's anchors where prediction fails
    # (exvc.encode.refresh; a candidate kept where it measures better): a share, 0 = off,
    # None = the default.
    refresh_threshold: float | None = None
    # Frames read ahead to share bytes between segments by their size at one quantiser
    # (exvc.encode.complexity; dinr with a base only); 0 or 1: by frame count.
    lookahead: int = 256


@dataclass
class EncodeProgress:
    """A progress report: ``frames_done`` counts frames whose segment is fully coded."""

    frames_read: int
    frames_done: int
    total_frames: int | None
    bytes_written: int
    segment: int
    step: int
    steps: int
    stage: str

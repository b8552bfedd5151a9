"""What the command line asked for: global settings, the input and the output, as plain data.

``argv.parse_args`` fills these from ffmpeg-style arguments; ``run`` acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .bitrate import RateSpec
from .log import INFO
from .maps import MapSpec
from .scale import ScaleSpec, VideoFilterSpec

STDIN_URLS = ("-", "pipe:0", "pipe:")
STDOUT_URLS = ("-", "pipe:1", "pipe:")


@dataclass
class GlobalOptions:
    overwrite: bool = False  # -y
    no_overwrite: bool = False  # -n
    loglevel: int = INFO
    hide_banner: bool = False
    stats: bool | None = None  # -stats / -nostats; None: shown at log level info and up
    progress_url: str | None = None
    stdin_interaction: bool = True  # -nostdin turns off the overwrite prompt
    show_help: bool = False
    show_version: bool = False
    workers: int | None = None  # -workers: segments as Ray tasks
    hwaccel: str = "auto"


@dataclass
class FileSpec:
    """Options shared by inputs and outputs. ``given`` lists the options as typed, in order."""

    url: str
    fmt: str | None = None
    start: float | None = None
    duration: float | None = None
    end: float | None = None
    size: tuple[int, int] | None = None
    pix_fmt: str | None = None
    rate: Fraction | None = None
    threads: int | None = None  # 0 = automatic
    prior: str | None = None  # dinr prior folder / hub id
    given: list[str] = field(default_factory=list)


@dataclass
class InputSpec(FileSpec):
    @property
    def is_stdin(self) -> bool:
        return self.url in STDIN_URLS


@dataclass
class OutputSpec(FileSpec):
    codec: str | None = None
    bitrate: RateSpec | None = None
    crf: str | None = None
    preset: str | None = None
    max_frames: int | None = None
    vf: VideoFilterSpec | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    sc_threshold: int | None = None
    rc_lookahead: int | None = None
    gop: int | None = None  # -g: frames per segment
    base: str | None = None
    base_scale: int | None = None
    base_framestep: int | None = None
    base_motion: int | None = None
    refresh_threshold: float | None = None
    no_audio: bool = False
    maps: list[MapSpec] = field(default_factory=list)
    audio_bitrate: int | None = None
    audio_codec: str | None = None
    audio_channels: int | None = None

    @property
    def scale(self) -> ScaleSpec | None:
        """``-vf`` when it is a plain scale=W:H (exvc's own resize)."""
        return self.vf.scale if self.vf is not None else None

    @property
    def filter_graph(self) -> str | None:
        """``-vf`` when libavfilter runs it."""
        return self.vf.text if self.vf is not None and self.vf.scale is None else None

    @property
    def is_stdout(self) -> bool:
        return self.url in STDOUT_URLS

    @property
    def is_dinr(self) -> bool:
        """``-f dinr``, or no ``-f`` and a ``.dinr`` file name."""
        if self.fmt is not None:
            return self.fmt == "dinr"
        return self.url.lower().endswith(".dinr")

    @property
    def is_null(self) -> bool:
        """``-f null``: frames are produced and thrown away (to time a decode, say)."""
        return self.fmt == "null"


@dataclass
class CommandLine:
    options: GlobalOptions
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    warnings: list[str] = field(default_factory=list)

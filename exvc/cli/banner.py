"""The version banner (stderr, at info level, unless -hide_banner) and ``-version`` text.

Library versions come from package metadata, so printing them imports neither torch nor av.
"""

from __future__ import annotations

import platform
from importlib import metadata

from exvc import __version__

LIBRARIES = ("torch", "av", "numpy", "constriction", "click", "rich")


def library_versions() -> str:
    parts = []
    for name in LIBRARIES:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (missing)")
    return ", ".join(parts)


def banner() -> str:
    """Two lines, as ffmpeg's first lines: who we are, and what we were built with."""
    return (f"exvc version {__version__} Copyright (c) the exvc developers\n"
            f"  built with Python {platform.python_version()}; {library_versions()}")


def version_text() -> str:
    return banner() + "\n"

"""Which prior decodes a dinr file: the one it names, checked against its record.

Split from the decoder so that the choice (and its error) can be used without rendering
anything: the prior is loaded lazily, and this module imports neither torch nor diffusers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.prior_chunk import PriorRecord

if TYPE_CHECKING:
    from exvc.prior.loader import Prior


class PriorMismatchError(DinrError):
    """The loaded prior is not the one the file was encoded with."""


def resolve_prior(record: PriorRecord, prior: Prior | str | Path | None = None) -> Prior:
    """The prior to decode a dinr file with: ``prior`` (a loaded Prior, a folder, hub id or
    bundled name), checked against the file's record. None picks the bundled prior that the
    record names (a file from an older default decodes with that default), else the default."""
    from exvc.prior.bundled import bundled_prior_for
    from exvc.prior.loader import Prior, load_prior

    if prior is None:
        prior = bundled_prior_for(record.matches)
    loaded = prior if isinstance(prior, Prior) else load_prior(prior)
    if not record.matches(loaded.digest):
        raise PriorMismatchError(
            f"prior mismatch: this .dinr was encoded with prior {record.label}, but "
            f"'{loaded.name}' (sha256 "
            f"{loaded.digest.hex()[:16]}...) is loaded; pass the encoder's prior with -prior")
    return loaded

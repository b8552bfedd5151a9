"""PRIOR chunk payloads: which diffusion prior a dinr file needs, and how to sample it.

Two forms (bitstream_spec.md section 10). The short one, written since format 1.2, is 39
bytes smaller: at 0.005 bpp the long form took 6 % of a 176x144 file.

    long (PRIOR, 1.0 and 1.1)          short (PRIOR_SHORT, since 1.2)
    digest      32 bytes  SHA-256      digest   8 bytes: the first 8 of the SHA-256
    name        string    informative  (none)
    sampler     u8        0 = DDIM, eta 0; 1 = the same, then mixed with the INR frame (v1.1)
    grid_steps  uleb      steps of the trailing timestep grid, 1..1000
    run_steps   uleb      how many of its last steps run, 1..grid_steps
    mix         u8        sampler 1 only: the output is INR + mix/16 x (sampled - INR), 0..15

Eight bytes of SHA-256 still tell priors apart: two different priors share them with
probability 2^-64, and the record only has to catch a user decoding with the wrong model.
"""

from __future__ import annotations

from dataclasses import dataclass

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError

DIGEST_BYTES = 32
SHORT_DIGEST_BYTES = 8
MAX_NAME_BYTES = 255
SAMPLER_DDIM, SAMPLER_DDIM_MIXED = 0, 1
SAMPLERS = {SAMPLER_DDIM: "ddim", SAMPLER_DDIM_MIXED: "ddim-mixed"}
MIX_ONE = 16  # mix is in 16ths; sampler 0 is mix 16 (the sampled frame as it is)


@dataclass(frozen=True)
class PriorRecord:
    digest: bytes  # the whole SHA-256 (long form) or its first 8 bytes (short form)
    name: str  # "" in the short form
    sampler: int
    grid_steps: int
    run_steps: int
    mix: int = MIX_ONE

    @property
    def sampler_name(self) -> str:
        return SAMPLERS.get(self.sampler, f"sampler {self.sampler}")

    @property
    def label(self) -> str:
        """How messages name the recorded prior: its name if recorded, and its identity."""
        ident = f"sha256 {self.digest.hex()[:16]}" + ("..." if len(self.digest) > 8 else "")
        return f"'{self.name}' ({ident})" if self.name else ident

    def matches(self, digest: bytes) -> bool:
        """Whether a prior whose full SHA-256 identity is ``digest`` is the recorded one."""
        return digest[:len(self.digest)] == self.digest


def _write_sampling(w: ByteWriter, p: PriorRecord) -> bytes:
    if (p.sampler == SAMPLER_DDIM_MIXED) != (p.mix < MIX_ONE) or not 0 <= p.mix <= MIX_ONE:
        raise ValueError(f"mix {p.mix} does not fit sampler {p.sampler}")
    w.u8(p.sampler).uleb(p.grid_steps).uleb(p.run_steps)
    if p.sampler == SAMPLER_DDIM_MIXED:
        w.u8(p.mix)
    return w.getvalue()


def write_prior(p: PriorRecord) -> bytes:
    """The long form (PRIOR, formats 1.0 and 1.1): kept for tests and tools."""
    if len(p.digest) != DIGEST_BYTES:
        raise ValueError("prior digest must be 32 bytes")
    name = p.name.encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    return _write_sampling(ByteWriter().raw(p.digest).string(name), p)


def write_prior_short(p: PriorRecord) -> bytes:
    """The short form (PRIOR_SHORT, since 1.2): the first 8 digest bytes, no name."""
    if len(p.digest) < SHORT_DIGEST_BYTES:
        raise ValueError("prior digest must be at least 8 bytes")
    return _write_sampling(ByteWriter().raw(p.digest[:SHORT_DIGEST_BYTES]), p)


def read_prior(data: bytes) -> PriorRecord:
    """Parse a long-form PRIOR payload."""
    r = ByteReader(data, "prior")
    return _read_sampling(r, r.raw(DIGEST_BYTES), r.string(MAX_NAME_BYTES))


def read_prior_short(data: bytes) -> PriorRecord:
    """Parse a short-form PRIOR_SHORT payload."""
    r = ByteReader(data, "prior")
    return _read_sampling(r, r.raw(SHORT_DIGEST_BYTES), "")


def _read_sampling(r: ByteReader, digest: bytes, name: str) -> PriorRecord:
    sampler, grid, run = r.u8(), r.uleb(), r.uleb()
    if sampler not in SAMPLERS:
        raise DinrError(f"this .dinr needs a newer exvc: unknown sampler {sampler}")
    if not 1 <= run <= grid <= 1000:
        raise DinrError(f"corrupt .dinr: bad sampler steps {run} of {grid}")
    mix = r.u8() if sampler == SAMPLER_DDIM_MIXED else MIX_ONE
    if mix > MIX_ONE - (sampler == SAMPLER_DDIM_MIXED):
        raise DinrError(f"corrupt .dinr: bad sampler mix {mix}/{MIX_ONE}")
    if not r.at_end():
        raise DinrError(f"corrupt .dinr: {r.remaining} unexpected bytes after the prior record")
    return PriorRecord(digest, name, sampler, grid, run, mix)

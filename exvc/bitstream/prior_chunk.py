"""PRIOR chunk payload: which diffusion prior a dinr file needs, and how to sample it.

Layout (bitstream_spec.md section 10):

    digest      32 bytes  SHA-256 identity of the prior's weights and configs
    name        string    the prior's name when encoded (informative only)
    sampler     u8        0 = DDIM, eta 0; 1 = the same, then mixed with the INR frame (v1.1)
    grid_steps  uleb      steps of the trailing timestep grid, 1..1000
    run_steps   uleb      how many of its last steps run, 1..grid_steps
    mix         u8        sampler 1 only: the output is INR + mix/16 x (sampled - INR), 0..15
"""

from __future__ import annotations

from dataclasses import dataclass

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError

DIGEST_BYTES = 32
MAX_NAME_BYTES = 255
SAMPLER_DDIM, SAMPLER_DDIM_MIXED = 0, 1
SAMPLERS = {SAMPLER_DDIM: "ddim", SAMPLER_DDIM_MIXED: "ddim-mixed"}
MIX_ONE = 16  # mix is in 16ths; sampler 0 is mix 16 (the sampled frame as it is)


@dataclass(frozen=True)
class PriorRecord:
    digest: bytes
    name: str
    sampler: int
    grid_steps: int
    run_steps: int
    mix: int = MIX_ONE

    @property
    def sampler_name(self) -> str:
        return SAMPLERS.get(self.sampler, f"sampler {self.sampler}")


def write_prior(p: PriorRecord) -> bytes:
    if len(p.digest) != DIGEST_BYTES:
        raise ValueError("prior digest must be 32 bytes")
    name = p.name.encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    if (p.sampler == SAMPLER_DDIM_MIXED) != (p.mix < MIX_ONE) or not 0 <= p.mix <= MIX_ONE:
        raise ValueError(f"mix {p.mix} does not fit sampler {p.sampler}")
    w = ByteWriter().raw(p.digest).string(name).u8(p.sampler).uleb(p.grid_steps).uleb(p.run_steps)
    if p.sampler == SAMPLER_DDIM_MIXED:
        w.u8(p.mix)
    return w.getvalue()


def read_prior(data: bytes) -> PriorRecord:
    r = ByteReader(data, "prior")
    digest = r.raw(DIGEST_BYTES)
    name = r.string(MAX_NAME_BYTES)
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

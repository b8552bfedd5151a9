"""ADAPTER chunk payload: quantised LoRA deltas for the SEGMENT chunk that follows.

Only the B matrices are coded. Each A is drawn from the portable noise generator (seed
``seed + index``) and frozen, as in LoRA-FA: the adapter costs ``out * r`` coefficients per
layer instead of ``(in * kh * kw + out) * r``, which is what makes adapters affordable at
a few hundred bytes.

Layout (bitstream_spec.md section 10):

    rank      u8       LoRA rank r, 1..64
    alpha     u8       scale = alpha / rank, 1..255
    seed      uleb     seed of the A matrices, < 2**32
    count     uleb     adapted layers, 1..256
    per layer:
      index   uleb     position among the prior UNet's Linear/Conv2d modules, < 65536
      kind    u8       0 = Linear, 1 = Conv2d
      in, out uleb     input / output features (channels), 1..65536
      kh, kw  u8       kernel size (1, 1 for Linear), 1..15
      step_b  u8       B step = 2 ** (-step_b / 4)
    symbols   rest     exvc.bitstream.entropy stream of B_0, B_1, ... with |B_i| = out * r,
                       C order (shape out x r x 1 x 1 for Conv2d)

Every size follows from integers in the payload: it parses without the prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError
from exvc.bitstream.entropy import TableBudget, decode_symbols, encode_symbols

MAX_RANK = 64
MAX_LAYERS = 256
MAX_INDEX = 1 << 16
MAX_FEATURES = 1 << 16
MAX_KERNEL = 15
MAX_ADAPTER_SYMBOLS = 1 << 22


@dataclass(frozen=True)
class AdapterTarget:
    index: int
    kind: int
    in_features: int
    out_features: int
    kh: int
    kw: int
    step_b: int = 0

    def shape_key(self) -> tuple[int, ...]:
        return (self.index, self.kind, self.in_features, self.out_features, self.kh, self.kw)

    def __eq__(self, other: object) -> bool:  # steps are not part of a layer's identity
        return isinstance(other, AdapterTarget) and self.shape_key() == other.shape_key()

    def __hash__(self) -> int:
        return hash(self.shape_key())

    def a_shape(self, rank: int) -> tuple[int, ...]:
        return (rank, self.in_features, self.kh, self.kw) if self.kind else (rank,
                                                                             self.in_features)

    def b_size(self, rank: int) -> int:
        return self.out_features * rank


@dataclass
class AdapterPayload:
    rank: int
    alpha: int
    seed: int
    targets: list[AdapterTarget]
    b: list[np.ndarray]


def write_adapter(p: AdapterPayload) -> bytes:
    w = ByteWriter().u8(p.rank).u8(p.alpha).uleb(p.seed).uleb(len(p.targets))
    for t in p.targets:
        w.uleb(t.index).u8(t.kind).uleb(t.in_features).uleb(t.out_features).u8(t.kh).u8(t.kw)
        w.u8(t.step_b)
    return w.raw(encode_symbols(list(p.b))).getvalue()


def read_adapter(data: bytes, tables: TableBudget | None = None) -> AdapterPayload:
    """Parse an ADAPTER payload, checking every limit before sizing anything. ``tables``: the
    file's entropy-table budget."""
    r = ByteReader(data, "adapter")
    rank, alpha, seed, count = r.u8(), r.u8(), r.uleb(), r.uleb()
    if not (1 <= rank <= MAX_RANK and alpha >= 1 and seed < 1 << 32
            and 1 <= count <= MAX_LAYERS):
        raise DinrError(f"corrupt .dinr: bad adapter (rank {rank}, alpha {alpha}, "
                        f"{count} layers)")
    targets, sizes, seen = [], [], set()
    for _ in range(count):
        t = AdapterTarget(r.uleb(), r.u8(), r.uleb(), r.uleb(), r.u8(), r.u8(), r.u8())
        ok = (t.index < MAX_INDEX and t.kind in (0, 1) and t.index not in seen
              and 1 <= t.in_features <= MAX_FEATURES and 1 <= t.out_features <= MAX_FEATURES
              and 1 <= t.kh <= MAX_KERNEL and 1 <= t.kw <= MAX_KERNEL
              and (t.kind == 1 or t.kh == t.kw == 1))
        if not ok:
            raise DinrError(f"corrupt .dinr: bad adapter layer {t.shape_key()}")
        seen.add(t.index)
        targets.append(t)
        sizes.append(t.b_size(rank))
    if sum(sizes) > MAX_ADAPTER_SYMBOLS:
        raise DinrError(f"corrupt .dinr: adapter asks for {sum(sizes)} coefficients "
                        f"(limit {MAX_ADAPTER_SYMBOLS})")
    tensors = decode_symbols(r.rest(), sizes, max_symbols=MAX_ADAPTER_SYMBOLS,
                             tables=tables)
    return AdapterPayload(rank, alpha, seed, targets, tensors)

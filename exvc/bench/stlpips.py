"""ST-LPIPS (shift-tolerant LPIPS, Ghildyal and Liu, ECCV 2022), loaded offline.

The ``stlpips_pytorch`` wheel ships the network code and its complete weights, AlexNet trunk
included (``weights/vST0.0/alex_shift_tolerant.pth``), so nothing is downloaded. Its modules
import ``torchvision``, ``torchsummary`` and ``IPython`` at the top but the shift-tolerant
AlexNet never uses them; PyPI's torchvision does not import beside the CPU torch pinned here.
While the package is imported, any of the three that is missing or fails to import is replaced
by an empty placeholder module, removed again afterwards, and the weights are then checked to
cover every parameter of the network (the package itself loads them with ``strict=False``).

Scores: 0 for identical frames, larger is worse. Frames are RGB in [0, 1].
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

NET = "alex"
VARIANT = "shift_tolerant"
_PLACEHOLDERS = {"torchvision": ("models",), "torchsummary": ("summary",), "IPython": ("embed",)}


class MetricUnavailable(RuntimeError):
    """A metric's package or weights are not installed; the benchmark reports it as absent."""


def _unused(*_args, **_kwargs):
    raise MetricUnavailable("ST-LPIPS placeholder called: this trunk needs the real package")


@contextlib.contextmanager
def _import_placeholders() -> Iterator[None]:
    added = []
    for name, attrs in _PLACEHOLDERS.items():
        if name in sys.modules:
            continue
        if importlib.util.find_spec(name) is not None:
            try:  # installed and importable: the real one is used
                importlib.import_module(name)
                continue
            except Exception:  # installed but broken (torchvision built for another torch)
                for loaded in [m for m in sys.modules if m.split(".")[0] == name]:
                    sys.modules.pop(loaded, None)
        module = types.ModuleType(name)
        for attr in attrs:
            setattr(module, attr, _unused)
        sys.modules[name] = module
        added.append(name)
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def weights_path() -> Path:
    """The wheel's shift-tolerant AlexNet weights."""
    spec = importlib.util.find_spec("stlpips_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable("stlpips_pytorch is not installed (pip install -e '.[bench]')")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "weights" / "vST0.0" / f"{NET}_{VARIANT}.pth"


class STLPIPS:
    """The AlexNet shift-tolerant ST-LPIPS metric, in eval mode on the CPU."""

    def __init__(self) -> None:
        path = weights_path()
        with _import_placeholders():
            stlpips = importlib.import_module("stlpips_pytorch.stlpips")
            model = stlpips.LPIPS(net=NET, variant=VARIANT, pretrained=False, verbose=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        # The checkpoint must hold every parameter and blur filter. ``lins.k`` are aliases
        # of ``link`` (the same modules, listed twice), so only those may be missing.
        result = model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.startswith("lins.")]
        if missing or result.unexpected_keys:
            raise MetricUnavailable(f"ST-LPIPS weights in {path} do not match the network "
                                    f"(missing {missing}, unexpected {result.unexpected_keys})")
        self.model = model.eval()

    @torch.no_grad()
    def distances(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Per-image distances (N,) of batches (N, 3, H, W) in [0, 1]."""
        if ref.shape != dist.shape or ref.dim() != 4 or ref.shape[1] != 3:
            raise ValueError(f"expected two (N, 3, H, W) batches, got {tuple(ref.shape)} "
                             f"and {tuple(dist.shape)}")
        out = self.model(ref.float(), dist.float(), normalize=True)
        return out.flatten()

    def clip(self, ref: Sequence[np.ndarray], dist: Sequence[np.ndarray],
             batch: int = 8) -> float:
        """Mean distance over the frames of a clip, (3, H, W) float arrays in [0, 1]."""
        if len(ref) != len(dist) or not ref:
            raise ValueError(f"{len(ref)} reference and {len(dist)} decoded frames")
        total = 0.0
        for i in range(0, len(ref), batch):
            a = torch.from_numpy(np.stack(ref[i:i + batch]))
            b = torch.from_numpy(np.stack(dist[i:i + batch]))
            total += float(self.distances(a, b).sum())
        return total / len(ref)

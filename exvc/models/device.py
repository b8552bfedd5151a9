"""Where torch computes: ``-hwaccel cuda|cpu|auto``, held for one encode or decode.

Only the heavy kernels move to the device: INR fitting (``exvc.encode.fit``), and the prior's
sampling and adapter training (``exvc.prior.sampler``, through ``Prior.to``). Their inputs and
outputs stay on the CPU, so everything that reaches the bitstream (quantisation, rate control,
entropy coding) and every parse stays on the CPU, integer-only as before. A file does depend on
where it was encoded (float results differ between devices), but it decodes anywhere.

The device is a context variable, so a scope set by one encode does not leak into another
(or into a Ray task that runs in the same worker afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HWACCELS = ("auto", "cpu", "cuda")

_device: ContextVar[str] = ContextVar("exvc_device", default="cpu")


class DeviceError(ValueError):
    """The device asked for is not there (``-hwaccel cuda`` without CUDA)."""


def resolve_device(hwaccel: str | None) -> str:
    """``cpu`` or ``cuda`` for ``-hwaccel``: ``auto`` (or None) picks CUDA when torch sees a
    device, silently the CPU otherwise; ``cuda`` without one is a ``DeviceError``."""
    name = (hwaccel or "auto").lower()
    if name not in HWACCELS:
        raise DeviceError(f"unknown -hwaccel '{hwaccel}' (choose {', '.join(HWACCELS)})")
    if name == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        why = ("this torch was built without CUDA" if torch.version.cuda is None
               else "no CUDA device is visible")
        raise DeviceError(f"-hwaccel cuda: {why} (torch {torch.__version__}); use -hwaccel "
                          "auto or cpu")
    return "cpu"


def compute_device() -> str:
    """The device of the current scope (``cpu`` outside any)."""
    return _device.get()


@contextmanager
def on_device(device: str) -> Iterator[None]:
    """Run the block with ``device`` (``cpu`` or ``cuda``, already resolved) as the compute
    device, and restore the previous one on the way out."""
    token = _device.set(device)
    try:
        yield
    finally:
        _device.reset(token)

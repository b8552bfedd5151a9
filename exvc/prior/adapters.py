"""Per-video LoRA adapters on the prior's UNet (peft), and their integer form.

An adapter adds ``scale * B @ A`` to chosen Linear / Conv2d layers of the UNet (A: rank x
in [x kh x kw], B: out x rank). A is frozen and drawn from the portable generator, so only
B is trained and coded (LoRA-FA). Layers are named in the bitstream by their index among the
UNet's Linear and Conv2d modules in registration order, with their shapes, so an ADAPTER
chunk parses without the prior and is checked against it. The encoder trains through the
same peft layers the decoder loads.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from exvc.bitstream.adapter import AdapterPayload, AdapterTarget
from exvc.prior.noise import gaussian_field

ADAPTER_NAME = "default"


def adaptable_modules(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Linear and Conv2d of ``unet``: the indices the bitstream uses.
    Must be called on the plain UNet (before peft wraps layers)."""
    return [(n, m) for n, m in unet.named_modules() if type(m) in (nn.Linear, nn.Conv2d)]


def target_of(index: int, module: nn.Module) -> AdapterTarget:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return AdapterTarget(index, 1, module.in_channels, module.out_channels, kh, kw)
    return AdapterTarget(index, 0, module.in_features, module.out_features, 1, 1)


def check_targets(unet: nn.Module, targets: list[AdapterTarget]) -> list[str]:
    """Module names of ``targets``, refusing any that do not match the prior's layers."""
    mods = adaptable_modules(unet)
    names = []
    for t in targets:
        if t.index >= len(mods) or target_of(t.index, mods[t.index][1]) != t:
            raise ValueError(f"adapter layer {t.index} does not match the prior's UNet")
        names.append(mods[t.index][0])
    return names


def frozen_a(target: AdapterTarget, rank: int, seed: int) -> torch.Tensor:
    """A of one layer: the portable Gaussian field of seed ``seed + index``, scaled by
    1 / sqrt(fan-in) so that every rank component has unit gain."""
    shape = target.a_shape(rank)
    fan_in = target.in_features * target.kh * target.kw
    field = gaussian_field(seed + target.index, shape)
    return torch.from_numpy(field) / float(np.sqrt(fan_in))


@torch.no_grad()
def attach(unet: nn.Module, names: list[str], targets: list[AdapterTarget], rank: int,
           alpha: int, seed: int) -> list[nn.Parameter]:
    """Wrap the named layers in peft LoRA layers with frozen generated A and zero B (the UNet
    is unchanged until B moves); returns the B weights, the only trainable tensors."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=names, lora_dropout=0.0,
                        init_lora_weights=False)
    inject_adapter_in_model(config, unet, adapter_name=ADAPTER_NAME)
    bs = []
    for (a, b), t in zip(lora_pairs(unet, names), targets, strict=True):
        a.weight.copy_(frozen_a(t, rank, seed).reshape(a.weight.shape))
        a.weight.requires_grad_(False)
        b.weight.zero_()
        b.weight.requires_grad_(True)
        bs.append(b.weight)
    return bs


def detach(unet: nn.Module) -> None:
    """Remove every LoRA layer again, restoring the prior exactly."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(unet.named_modules()):
        if isinstance(module, LoraLayer):
            parent = unet.get_submodule(name.rsplit(".", 1)[0]) if "." in name else unet
            setattr(parent, name.rsplit(".", 1)[-1], module.get_base_layer())
    if hasattr(unet, "peft_config"):
        del unet.peft_config

def lora_pairs(unet: nn.Module, names: list[str]) -> list[tuple[nn.Module, nn.Module]]:
    """(lora_A, lora_B) submodules of the attached layers, in ``names`` order."""
    out = []
    for n in names:
        layer = unet.get_submodule(n)
        out.append((layer.lora_A[ADAPTER_NAME], layer.lora_B[ADAPTER_NAME]))
    return out


def step_of(code: int) -> float:
    return 2.0 ** (-code / 4)


@torch.no_grad()
def load_payload(unet: nn.Module, payload: AdapterPayload) -> list[str]:
    """Attach the decoded adapter to the (plain) UNet; returns the adapted layer names."""
    names = check_targets(unet, payload.targets)
    bs = attach(unet, names, payload.targets, payload.rank, payload.alpha, payload.seed)
    for b, t, q in zip(bs, payload.targets, payload.b, strict=True):
        b.copy_(torch.from_numpy(q.astype(np.float32)).reshape(b.shape) * step_of(t.step_b))
        b.requires_grad_(False)
    return names

"""Finding, loading and identifying a diffusion prior.

A prior is a diffusers model directory (or hub id) with the usual component folders:
``unet/`` (``UNet2DModel`` or ``UNet2DConditionModel``), ``scheduler/`` (any diffusers
scheduler config; exvc samples with DDIM built from it) and optionally ``vae/``
(``AutoencoderKL`` or ``AutoencoderTiny``: diffusion then runs in its latent space). An
optional ``exvc_prior.json`` says how frames enter the UNet (``unshuffle``: pixel-unshuffle
factor in pixel space; ``name``). The UNet is conditioned by concatenation: its input is the
noisy sample followed by the condition, either the condition in the sample's own space
(``in_channels == 2 * out_channels``) or RGB at the sample's resolution
(``in_channels == out_channels + 3``, as in Stable Diffusion's x4 upscaler).

The identity of a prior is the SHA-256 of its weights and configs (:func:`prior_digest`);
a ``.dinr`` records it, so a file never decodes silently against another prior. The package
bundles every default prior it has shipped (:mod:`exvc.prior.bundled`): a file made with an
older default finds its own prior by that identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from exvc.prior.bundled import DEFAULT_DIR, bundled_priors

SPEC_FILE = "exvc_prior.json"
_UNETS = ("UNet2DModel", "UNet2DConditionModel")
_VAES = ("AutoencoderKL", "AutoencoderTiny")


class PriorError(ValueError):
    """The prior cannot be found, loaded or used with exvc."""


@dataclass
class Prior:
    """A loaded prior: the UNet, its scheduler config, the optional VAE and how frames map
    into the UNet's sample space."""

    unet: torch.nn.Module
    scheduler_config: dict
    vae: torch.nn.Module | None
    unshuffle: int
    name: str
    source: str
    digest: bytes
    bf16: bool = False  # inference runs the UNet in bfloat16 on a CPU (see ``predict``)

    @property
    def device(self) -> torch.device:
        """Where the UNet (and the VAE) compute."""
        return next(self.unet.parameters()).device

    def to(self, device: str | torch.device) -> Prior:
        """Move the UNet and VAE to ``device`` (in place; the sampler moves its inputs there
        and its outputs back)."""
        self.unet.to(device)
        if self.vae is not None:
            self.vae.to(device)
        return self

    @property
    def sample_channels(self) -> int:
        return int(self.unet.config.out_channels)

    @property
    def cond_is_rgb(self) -> bool:
        return int(self.unet.config.in_channels) == self.sample_channels + 3

    @property
    def multiple(self) -> int:
        """Frame sizes are padded to a multiple of this (the UNet's total downsampling)."""
        downs = len(self.unet.config.block_out_channels) - 1
        vae_factor = 1
        if self.vae is not None:
            vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return self.unshuffle * vae_factor * 2**downs

    def to_sample_space(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] (H, W multiples of ``multiple``) -> UNet sample space."""
        x = rgb * 2 - 1
        if self.vae is not None:
            latent = self.vae.encode(x)
            latent = latent.latent_dist.mode() if hasattr(latent, "latent_dist") else latent.latents
            x = latent * float(getattr(self.vae.config, "scaling_factor", 1.0))
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        return x

    def from_sample_space(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_shuffle(x, self.unshuffle)
        if self.vae is not None:
            x = self.vae.decode(x / float(getattr(self.vae.config, "scaling_factor", 1.0))).sample
        return (x + 1) / 2

    def condition(self, rgb: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """The UNet's conditioning input for INR frames ``rgb`` and a sample-space tensor."""
        if self.cond_is_rgb:
            return F.interpolate(rgb * 2 - 1, size=sample.shape[-2:], mode="area")
        return sample

    def predict(self, x: torch.Tensor, t: int, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's output (whatever its scheduler's ``prediction_type`` says) at step t."""
        inp = torch.cat([x, cond], dim=1)
        ts = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
        with self._precision(x.device):
            if type(self.unet).__name__ == "UNet2DConditionModel":
                ctx = torch.zeros(x.shape[0], 1, int(self.unet.config.cross_attention_dim),
                                  device=x.device)
                kwargs = {}
                if (self.unet.config.class_embed_type is not None
                        or self.unet.config.num_class_embeds):
                    kwargs["class_labels"] = torch.zeros(x.shape[0], dtype=torch.long,
                                                         device=x.device)
                out = self.unet(inp, ts, encoder_hidden_states=ctx, **kwargs).sample
            else:
                out = self.unet(inp, ts).sample
        return out.float()

    def _precision(self, device: torch.device) -> contextlib.AbstractContextManager:
        """bfloat16 autocast for inference on a CPU when ``bf16`` is set, else nothing.

        On a CPU with native bfloat16 (AVX512-BF16 or AMX) the UNet's convolutions run twice
        as fast, and a frame differs from float32's by about 64 dB PSNR (docs/prior.md,
        "Decoding speed"). Training (gradients on) stays float32; the encoder judges its
        candidates without gradients, so it measures what the decoder will give."""
        if self.bf16 and device.type == "cpu" and not torch.is_grad_enabled():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere autocast
    would emulate it, slower than float32."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _canonical(config: dict) -> bytes:
    public = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    return json.dumps(public, sort_keys=True, separators=(",", ":"), default=str).encode()


def prior_digest(unet: torch.nn.Module, scheduler_config: dict, vae: torch.nn.Module | None,
                 unshuffle: int) -> bytes:
    """SHA-256 identifying a prior: its configs, then every tensor of the UNet (and VAE) in
    name order as (name, dtype, shape, little-endian bytes). Independent of the file format
    the weights came in (safetensors or bin, sharded or not)."""
    h = hashlib.sha256()
    h.update(b"exvc-prior-1")
    h.update(_canonical(scheduler_config))
    h.update(f"unshuffle={unshuffle}".encode())
    for label, module in (("unet", unet), ("vae", vae)):
        if module is None:
            continue
        h.update(label.encode())
        h.update(_canonical(module.config))
        state = module.state_dict()
        for name in sorted(state):
            t = state[name].detach().cpu().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.digest()


def _load_component(source: str, subfolder: str, allowed: tuple[str, ...]):
    import diffusers

    try:
        # any model class reads any model config (config.json); the class name is inside
        config = diffusers.UNet2DModel.load_config(source, subfolder=subfolder)
    except Exception as exc:  # noqa: BLE001 - any loader failure is one clear message
        raise PriorError(f"cannot load prior '{source}': no readable {subfolder}/config.json "
                         f"({type(exc).__name__})") from None
    cls_name = config.get("_class_name", "")
    if cls_name not in allowed:
        raise PriorError(f"prior '{source}': {subfolder} is a {cls_name or 'unknown model'}, "
                         f"exvc needs one of {', '.join(allowed)}")
    try:
        return getattr(diffusers, cls_name).from_pretrained(source, subfolder=subfolder)
    except Exception as exc:  # noqa: BLE001
        raise PriorError(f"cannot load prior '{source}': {subfolder} weights failed to load "
                         f"({type(exc).__name__})") from None


def load_prior(source: str | Path | None = None, bf16: bool | None = None) -> Prior:
    """Load the prior at ``source``: a directory, a hub id, or the name of a bundled prior
    (``exvc-default-1``); None is the bundled default. ``bf16``: run inference in bfloat16
    on a CPU (None: where the CPU computes it natively, :func:`native_bf16`)."""
    import diffusers

    bundled = bundled_priors()
    if source is not None and str(source) in bundled:
        source = bundled[str(source)][0]
    src = str(DEFAULT_DIR if source is None else source)
    path = Path(src)
    if source is not None and not path.exists() and (src.startswith((".", "/", "~"))
                                                     or src.count("/") != 1):
        raise PriorError(f"prior '{src}' not found (give a diffusers model folder or a hub id)")
    spec: dict = {}
    if path.is_dir() and (path / SPEC_FILE).is_file():
        try:
            spec = json.loads((path / SPEC_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise PriorError(f"prior '{src}': unreadable {SPEC_FILE} ({exc})") from None
    unet = _load_component(src, "unet", _UNETS).eval()
    try:
        sched = diffusers.DDIMScheduler.load_config(src, subfolder="scheduler")
    except Exception:  # noqa: BLE001
        raise PriorError(f"cannot load prior '{src}': no scheduler/scheduler_config.json") from None
    vae = None
    if (path / "vae").is_dir() or (not path.exists() and spec.get("vae", False)):
        vae = _load_component(src, "vae", _VAES).eval()
    unshuffle = int(spec.get("unshuffle", 1))
    if unshuffle not in (1, 2, 4, 8):
        raise PriorError(f"prior '{src}': unshuffle must be 1, 2, 4 or 8, not {unshuffle}")
    for module in (unet, vae):
        if module is not None:
            module.requires_grad_(False)
    name = str(spec.get("name", path.name if path.exists() else src))
    prior = Prior(unet, dict(sched), vae, unshuffle, name, src,
                  prior_digest(unet, dict(sched), vae, unshuffle),
                  native_bf16() if bf16 is None else bf16)
    _check_shapes(prior)
    return prior


def _check_shapes(prior: Prior) -> None:
    out, inp = prior.sample_channels, int(prior.unet.config.in_channels)
    space = (int(prior.vae.config.latent_channels) if prior.vae is not None else 3)
    space *= prior.unshuffle**2
    if out != space or inp not in (2 * out, out + 3):
        raise PriorError(
            f"prior '{prior.source}' does not fit exvc's conditioning: its UNet maps "
            f"{inp} -> {out} channels, exvc needs {space} sample channels plus {space} "
            f"(or 3 RGB) condition channels in, {space} out")

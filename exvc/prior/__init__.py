"""The diffusion prior of the ``dinr`` codec: a diffusers UNet conditioned on the INR output.

``loader`` finds and identifies a prior (the bundled default or any compatible diffusers
directory / hub id), ``sampler`` runs the few-step seeded sampler, ``noise`` is the portable
generator behind it, ``adapters`` holds the per-video LoRA deltas (peft), and ``train``
(``python -m exvc.prior.train``) reproduces the bundled default from still photographs.
Everything here imports torch and diffusers, so callers import it lazily.
"""

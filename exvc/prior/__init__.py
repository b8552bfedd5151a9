"""The diffusion prior of the ``dinr`` codec: a diffusers UNet conditioned on the INR output.

``bundled`` lists the priors shipped in the package, ``loader`` finds and identifies a prior
(a bundled one or any compatible diffusers directory / hub id), ``sampler`` runs the
few-step seeded sampler, ``noise`` is the portable generator behind it, ``adapters`` holds
the per-video LoRA deltas (peft), and ``train`` (``python -m exvc.prior.train``) reproduces
the bundled priors from still photographs. Everything here but ``bundled`` imports torch and
diffusers, so callers import it lazily.
"""

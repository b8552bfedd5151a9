"""The codec's neural models: the per-clip INR (and, later, the diffusion prior)."""

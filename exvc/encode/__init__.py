"""Encode pipeline: frames in, .dinr bytes out, at the requested size."""

"""Decode pipeline: .dinr bytes in, frames out."""

"""The .dinr container and the range coding of quantised tensors."""

"""Converted model weights that ship inside the package."""

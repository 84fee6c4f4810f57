"""Upstream SPARSE import path ``sparse.encoder_kws``: :class:`sparse.encoders.KWSEncoder`."""

from .encoders.kws import KWSEncoder

__all__ = ["KWSEncoder"]

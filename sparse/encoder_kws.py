"""Upstream SPARSE import path ``sparse.encoder_kws``: alias of :class:`sparse.encoders.KWSEncoder`."""

from .encoders.kws import KWSEncoder

__all__ = ["KWSEncoder"]

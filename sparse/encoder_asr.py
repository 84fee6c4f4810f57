"""Upstream SPARSE import path ``sparse.encoder_asr``: :class:`sparse.encoders.ASREncoder`."""

from .encoders.asr import ASREncoder

__all__ = ["ASREncoder"]

"""Upstream SPARSE import path ``sparse.encoder_kws``: the ``KWSEncoder`` of upstream's API.

Upstream's encoder always returned ``(out, all_spikes)``; :class:`sparse.KWSEncoder` returns
``out`` unless asked (``return_spikes``), so that it drops into a SpeechBrain YAML in place
of another encoder. The class here is :class:`sparse.encoders.KWSEncoder` with
``return_spikes=True`` by default, so that code written for upstream runs unchanged; its
parameters and ``state_dict`` are the same.
"""

from .encoders.kws import KWSEncoder as _KWSEncoder

__all__ = ["KWSEncoder"]


class KWSEncoder(_KWSEncoder):
    """:class:`sparse.encoders.KWSEncoder` returning ``(out, all_spikes)`` by default (upstream)."""

    def __init__(self, *args, return_spikes: bool = True, **kwargs) -> None:
        super().__init__(*args, return_spikes=return_spikes, **kwargs)

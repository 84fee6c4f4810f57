"""Upstream SPARSE import path ``sparse.encoder_asr``: the ``ASREncoder`` of upstream's API.

Upstream's encoder always returned ``(out, all_spikes)``; :class:`sparse.ASREncoder` returns
``out`` unless asked (``return_spikes``), so that it drops into a SpeechBrain YAML in place
of another encoder. The class here is :class:`sparse.encoders.ASREncoder` with
``return_spikes=True`` by default, so that code written for upstream runs unchanged; its
parameters and ``state_dict`` are the same.
"""

from .encoders.asr import ASREncoder as _ASREncoder

__all__ = ["ASREncoder"]


class ASREncoder(_ASREncoder):
    """:class:`sparse.encoders.ASREncoder` returning ``(out, all_spikes)`` by default (upstream)."""

    def __init__(self, *args, return_spikes: bool = True, **kwargs) -> None:
        super().__init__(*args, return_spikes=return_spikes, **kwargs)

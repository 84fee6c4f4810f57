"""Use a trained model: load its folder, transcribe or classify audio, read its spikes.

>>> from sparse.inference import SpikingASR, SpikingKWS, load_model
>>> SpikingKWS.KIND, SpikingASR.KIND
('kws', 'asr')

See :mod:`sparse.inference.interfaces` (the interfaces and the SpeechBrain signatures they
keep), :mod:`sparse.inference.inputs` (what they accept), :mod:`sparse.inference.folder` (what
a model folder holds) and :mod:`sparse.inference.export` (how training runs write one).
"""

from .folder import InferenceError
from .inputs import ShortAudioWarning
from .interfaces import (
    Classification,
    Encoding,
    SpArchClassifier,
    SpikingASR,
    SpikingKWS,
    SpikingModel,
    load_model,
)

__all__ = ["Classification", "Encoding", "InferenceError", "ShortAudioWarning",
           "SpArchClassifier", "SpikingASR", "SpikingKWS", "SpikingModel", "load_model"]

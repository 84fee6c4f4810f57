"""SPARSE encoders: multilayer spiking cortex, ASR and KWS encoders."""

from .asr import ASREncoder
from .frontend import AuditoryNerve, SpikingFrontEnd
from .kws import KWSEncoder
from .multilayer import MultilayeredSpiking, SpikingFCLayer

__all__ = ["ASREncoder", "AuditoryNerve", "KWSEncoder", "MultilayeredSpiking", "SpikingFCLayer",
           "SpikingFrontEnd"]

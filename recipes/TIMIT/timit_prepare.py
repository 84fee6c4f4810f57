"""TIMIT preparation where SpeechBrain recipes keep it: ``prepare_timit(data_folder, save_folder)``.

The code is corpus data code of the package, :mod:`sparse.data.timit` (manifests, 61 -> 39
folding, speaker lists, manifest validation); this module re-exports it for scripts that
import the recipe folder's preparer.
"""

from sparse.data.timit import (
    FOLD_61_TO_39,
    SPLITS,
    TIMIT39_PHONES,
    prepare_timit,
    validate_manifest,
)

__all__ = ["FOLD_61_TO_39", "SPLITS", "TIMIT39_PHONES", "prepare_timit", "validate_manifest"]

"""Deprecated: moved to :mod:`sparse.recipe.sparch` (``SpArchBrain``, ``run_sparch_recipe``) and
:mod:`sparse.models.build` (``build_model``, ``layer_sizes``, ``MODEL_TYPES``).

This module only re-exports them, and only because the Speech Commands SpArch recipe
(``recipes/SpeechCommands/run_sparch.py``, ``hparams/speech_commands_sparch.yaml``) still
imports it while another issue works on those files; the next stage of the architecture pass
(#16) moves them to the new paths and removes this module. Model folders exported before the
move name ``sparse.models.training.build_model`` in their ``hyperparams.yaml`` and load through
it too. Importing it imports SpeechBrain; ``sparse.models`` itself does not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from ..recipe import sparch
from ..recipe.sparch import SpArchBrain
from .build import MODEL_TYPES, build_model, layer_sizes

__all__ = ["MODEL_TYPES", "build_model", "layer_sizes", "SpArchBrain", "run_sparch_recipe"]

warnings.warn("sparse.models.training is deprecated: import build_model from sparse.models and "
              "SpArchBrain, run_sparch_recipe from sparse.recipe.sparch",
              DeprecationWarning, stacklevel=2)


def run_sparch_recipe(argv: Sequence[str] | None, make_fixture: Callable[[Path], Path],
                      make_datasets: Callable[[dict, Path], dict], task: str) -> SpArchBrain:
    """The former signature: one task, named ``task`` in logs (its YAML has no ``task`` key).

    New code calls :func:`sparse.recipe.sparch.run_sparch_recipe` with its tasks.
    """
    return sparch.run_sparch_recipe(argv, {"": sparch.SpArchTask(task, make_fixture,
                                                                 make_datasets)})

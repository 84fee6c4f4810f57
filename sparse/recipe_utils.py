"""Deprecated: the recipe helpers moved to :mod:`sparse.recipe` and :mod:`sparse.data`.

This module only re-exports them, and only because the Speech Commands recipe
(``recipes/SpeechCommands/run_training.py``, ``run_sparch.py``) and
``hparams/speech_commands_train.yaml`` still import it while another issue works on them; the
next stage of the architecture pass (#16) moves them to the new paths and removes this module.
New code imports from:

* :mod:`sparse.recipe` (errors, hparams, checkpoints, distributed, metrics);
* :mod:`sparse.data.audio` (``check_audio_files``, ``audio_file_problem``);
* :mod:`sparse.data.noise` (``white_noise_like``, ``pink_noise_like``,
  ``generated_noise_like``).
"""

from __future__ import annotations

import warnings

from .data.audio import AUDIO_CHECK_VERSION, audio_file_problem, check_audio_files
from .data.noise import generated_noise_like, pink_noise_like, white_noise_like
from .recipe import (
    FiringRateMeter,
    MeanMeter,
    RecipeError,
    SkipIncompleteCheckpoints,
    check_override_types,
    checkpoint_is_complete,
    close_process_group,
    load_analysis_hparams,
    load_recipe_hparams,
    override_keys,
    recipe_overrides,
    run_recipe,
    set_aside_incomplete_checkpoints,
    split_overrides,
    wrap_ddp_cpu,
)

__all__ = [
    "RecipeError", "run_recipe", "override_keys", "load_recipe_hparams", "recipe_overrides",
    "check_override_types", "split_overrides", "load_analysis_hparams", "white_noise_like",
    "pink_noise_like", "generated_noise_like", "AUDIO_CHECK_VERSION", "audio_file_problem",
    "check_audio_files", "FiringRateMeter", "MeanMeter", "checkpoint_is_complete",
    "close_process_group", "set_aside_incomplete_checkpoints", "SkipIncompleteCheckpoints",
    "wrap_ddp_cpu",
]

warnings.warn("sparse.recipe_utils is deprecated: import from sparse.recipe, sparse.data.audio "
              "and sparse.data.noise", DeprecationWarning, stacklevel=2)

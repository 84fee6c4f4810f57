"""What the training and analysis recipes share; nothing here knows a particular corpus.

* :mod:`.errors`: :class:`RecipeError` and :func:`run_recipe` (one clear line and exit
  status 2 for a problem the user can fix), :func:`no_empty_folders_left`.
* :mod:`.hparams`: HyperPyYAML with checked overrides and the ``sample:`` block.
* :mod:`.experiment`: the start of every training recipe (:func:`load_recipe`: command line,
  YAML, sample block; :func:`start_experiment`: threads, ``torchrun`` process group, output
  folder with the hyperparameters the run used).
* :mod:`.checkpoints`: torn checkpoints set aside before recovery.
* :mod:`.distributed`: torchrun teardown and DDP on CPU.
* :mod:`.metrics`: per-epoch means of logged values (firing rates in Hz).
* :mod:`.logs`: SpeechBrain and matplotlib log records that are noise for sparse.
* :mod:`.brain` (:class:`~.brain.RecipeBrain`, the ``Brain`` base of every training recipe),
  :mod:`.resume` (random states in checkpoints, the train log cut back on resume),
  :mod:`.analysis` (the start of every analysis recipe), :mod:`.sparch` (SpArch ``Brain`` and
  recipe driver, every SpArch corpus), :mod:`.timit` and
  :mod:`.speech_commands` (the steps that each corpus' training and analysis share) import
  SpeechBrain: import them by name.

Corpus data code (audio reading and checks, noise, TIMIT and Speech Commands preparation)
lives in :mod:`sparse.data`.
"""

from .checkpoints import (
    SkipIncompleteCheckpoints,
    checkpoint_is_complete,
    set_aside_incomplete_checkpoints,
)
from .distributed import close_process_group, wrap_ddp_cpu
from .errors import RecipeError, no_empty_folders_left, run_recipe
from .experiment import RecipeRun, load_recipe, start_experiment
from .hparams import (
    check_override_types,
    load_analysis_hparams,
    load_recipe_hparams,
    override_keys,
    recipe_overrides,
    split_overrides,
)
from .logs import drop_speechbrain_noise
from .metrics import MeanMeter

__all__ = [
    "RecipeError", "run_recipe", "no_empty_folders_left", "override_keys",
    "check_override_types", "recipe_overrides", "load_recipe_hparams", "split_overrides",
    "load_analysis_hparams", "checkpoint_is_complete", "set_aside_incomplete_checkpoints",
    "SkipIncompleteCheckpoints", "close_process_group", "wrap_ddp_cpu",
    "drop_speechbrain_noise", "MeanMeter", "RecipeRun", "load_recipe", "start_experiment",
]

"""The start of every analysis recipe: check the trained model, then open its folder.

Imports SpeechBrain (through :mod:`sparse.analysis.brain`): import it by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import speechbrain as sb

from ..analysis.brain import check_before_writing
from ..analysis.pipeline import analysis_folder
from .errors import no_empty_folders_left
from .hparams import split_overrides

__all__ = ["open_analysis_folder"]


def open_analysis_folder(
    hparams_file: str,
    overrides: str | None,
    cfg: Mapping[str, Any],
    train_hp: Mapping[str, Any],
    splits: Mapping[str, str],
) -> Path:
    """Check the checkpoint and the split before anything is written, then create the folder.

    Parameters
    ----------
    hparams_file : str
        The analysis YAML (saved as the folder's ``hyperparams.yaml``).
    overrides : str or None
        The command line's overrides; those of analysis keys are saved with it.
    cfg, train_hp : mapping
        The analysis settings and the training hyperparameters
        (:func:`~sparse.recipe.load_analysis_hparams`).
    splits : mapping
        ``split`` of the analysis YAML -> the training YAML's manifest key.

    Returns
    -------
    Path
        ``<output_folder>/analysis/``, holding ``log.txt``, ``hyperparams.yaml`` and
        ``env.log`` as a training run's folder does.

    Raises
    ------
    sparse.errors.UserError
        No usable checkpoint or manifest; loading the training YAML may have created
        ``save/``, which is removed again if it is empty.
    """
    with no_empty_folders_left(train_hp["save_folder"], train_hp["output_folder"]):
        check_before_writing(train_hp, cfg, splits)
    folder = analysis_folder(train_hp)
    sb.create_experiment_directory(
        experiment_directory=str(folder), hyperparams_to_save=hparams_file,
        overrides=split_overrides(overrides, set(cfg))[0],
    )
    return folder

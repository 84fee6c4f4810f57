#!/usr/bin/env python3
"""Train and test a SpArch model (LIF/RLIF/adLIF/RadLIF/MLP/RNN/LiGRU/GRU) on SHD.

Usage (from the repository root)::

    python recipes/SHD/run_training.py hparams/shd_train.yaml --data_folder=/path/to/shd
    python recipes/SHD/run_training.py hparams/shd_train.yaml      # tiny generated fixture

Every option is a key of the YAML and can be overridden, e.g. ``--model_type=adLIF
--nb_layers=4 --bidirectional=True --valid_protocol=test_as_valid``. See README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sparse.data import make_spike_fixture, spike_datasets
from sparse.recipe import run_recipe
from sparse.recipe.sparch import SpArchBrain, run_sparch_recipe

TASK = "shd"


def make_datasets(hparams: dict, data_folder: Path) -> dict:
    """Train / valid / test datasets of the spike files in ``data_folder``."""
    return spike_datasets(
        data_folder, TASK, hparams["nb_steps"], hparams["max_time"], hparams["valid_protocol"],
        hparams["valid_fraction"], hparams["valid_speakers"], hparams["seed"],
        hparams["binary_spikes"],
    )


def main(argv: Sequence[str] | None = None) -> SpArchBrain:
    """Run the recipe; ``argv`` defaults to the command line."""
    return run_sparch_recipe(argv, lambda folder: make_spike_fixture(folder, TASK), make_datasets,
                             TASK.upper())


if __name__ == "__main__":
    run_recipe(main, prog="recipes/SHD/run_training.py")

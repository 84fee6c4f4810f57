#!/usr/bin/env python3
"""Train and test a SpArch model (LIF/RLIF/adLIF/RadLIF/MLP/RNN/LiGRU/GRU) on Heidelberg Digits.

Usage (from the repository root)::

    python recipes/HD/run_training.py hparams/hd_train.yaml --data_folder=/path/to/hd
    python recipes/HD/run_training.py hparams/hd_train.yaml      # tiny generated fixture

Every option is a key of the YAML and can be overridden (``--model_type=GRU --lr=0.001``,
``--valid_protocol=test_as_valid`` for upstream's protocol). See README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sparse.data import hd_datasets, make_hd_fixture
from sparse.recipe import run_recipe
from sparse.recipe.sparch import SpArchBrain, run_sparch_recipe


def make_datasets(hparams: dict, data_folder: Path) -> dict:
    """Train / valid / test datasets of the HD folder (features computed on the fly)."""
    return hd_datasets(data_folder, hparams["valid_protocol"], hparams["valid_fraction"],
                       hparams["valid_speakers"], hparams["seed"], hparams["n_mels"])


def main(argv: Sequence[str] | None = None) -> SpArchBrain:
    """Run the recipe; ``argv`` defaults to the command line."""
    return run_sparch_recipe(argv, make_hd_fixture, make_datasets, "HD")


if __name__ == "__main__":
    run_recipe(main, prog="recipes/HD/run_training.py")

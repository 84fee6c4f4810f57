#!/usr/bin/env python3
"""SpArch baselines (spiking LIF/RLIF/adLIF/RadLIF; MLP/RNN/LiGRU/GRU) on
the Spiking Heidelberg Digits (SHD): train and test one model.

Usage (from the repository root)::

    python recipes/SHD/run_training.py hparams/shd_train.yaml --data_folder=/path/to/shd
    python recipes/SHD/run_training.py hparams/shd_train.yaml   # tiny generated fixture

The training code is shared with the other SpArch corpora (:mod:`sparse.recipe.sparch`). Every
option is a key of the YAML and can be overridden, e.g. ``--model_type=adLIF --nb_layers=4``.
See ``recipes/SHD/README.md``.
"""

from sparse.recipe import run_recipe
from sparse.recipe.sparch import corpus_main

main = corpus_main("shd")

if __name__ == "__main__":
    run_recipe(main, prog="recipes/SHD/run_training.py")

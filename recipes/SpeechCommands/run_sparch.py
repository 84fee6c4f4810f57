#!/usr/bin/env python3
"""SpArch baselines on Google Speech Commands v0.02: 35 words (SC35) or the 12-class task.

Usage (from the repository root)::

    python recipes/SpeechCommands/run_sparch.py hparams/speech_commands_sparch.yaml \\
        --data_folder=/path/to/speech_commands_v0.02
    # 10 keywords + _unknown_ + _silence_, as the SPARSE KWS recipe
    python recipes/SpeechCommands/run_sparch.py hparams/speech_commands_sparch.yaml \\
        --data_folder=/path/to/speech_commands_v0.02 --prepare_task=kws12 \\
        --unknown_fraction=0.1 --silence_fraction=0.1 --nb_outputs=12
    python recipes/SpeechCommands/run_sparch.py hparams/speech_commands_sparch.yaml  # fixture

Data preparation is :mod:`sparse.data.speech_commands` (the recipe folder's preparer) with
``task="all"`` and no ``_unknown_``/``_silence_`` classes: splits from the official
``validation_list.txt`` and ``testing_list.txt``, classes = the word folders in sorted order.
Then 40 Kaldi log-mel bands and a SpArch ``SNN``/``ANN`` (:func:`sparse.models.build_model`);
the training code is the one of SHD, SSC and HD (:mod:`sparse.recipe.sparch`, task
``speech_commands``).
"""

from sparse.recipe import run_recipe
from sparse.recipe.sparch import corpus_main

main = corpus_main("speech_commands")

if __name__ == "__main__":
    run_recipe(main, prog="recipes/SpeechCommands/run_sparch.py")

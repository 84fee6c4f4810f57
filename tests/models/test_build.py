"""The YAML factory of the SpArch networks, and ``sparse.models`` free of SpeechBrain."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sparse.models import ANN, SNN, build_model, layer_sizes


def test_build_model_by_name():
    assert isinstance(build_model("adLIF", 4, 3, nb_layers=3, nb_hiddens=5), SNN)
    assert isinstance(build_model("MLP", 4, 3), ANN)
    assert layer_sizes(2, 7, 3) == [7, 3]
    with pytest.raises(ValueError, match=r"model_type must be one of .*got 'LSTM'"):
        build_model("LSTM", 4, 3)
    with pytest.raises(ValueError, match="nb_layers counts the readout"):
        layer_sizes(1, 7, 3)


IMPORT_CHECK = """
import sys

import torch

import sparse.models
from sparse.models import build_model

for model_type in ("RadLIF", "GRU"):
    y, _ = build_model(model_type, 5, 3, nb_hiddens=4)(torch.rand(2, 6, 5))
    assert y.shape == (2, 3), y.shape
loaded = sorted(m for m in sys.modules
                if m.split(".")[0] == "speechbrain" or m.startswith("sparse.recipe"))
print(loaded)
"""


def test_models_build_and_run_without_importing_speechbrain_or_recipe_code():
    """``sparse.models`` (and the YAML factory ``build_model``) stays free of SpeechBrain."""
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

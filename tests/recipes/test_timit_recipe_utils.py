"""Shared recipe helpers used by the TIMIT recipe: YAML with a sample block, noise, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sparse.recipe_utils import (
    RecipeError,
    generated_noise_like,
    load_recipe_hparams,
    pink_noise_like,
    run_recipe,
    set_aside_incomplete_checkpoints,
)

YAML = """
seed: 3
data_folder: null
epochs: 10
lr: 0.001
name: run
out: !ref results/<name>/<seed>
sample:
    epochs: 2
    lr: 0.01
    out: !ref results/<name>_sample/<seed>
"""


@pytest.fixture
def hp_file(tmp_path) -> Path:
    path = tmp_path / "hp.yaml"
    path.write_text(YAML)
    return path


def no_data(hp) -> bool:
    return hp.get("data_folder") is None


def test_sample_block_applies_only_without_data_and_cli_wins(hp_file):
    hp, sample = load_recipe_hparams(hp_file, "", use_sample=no_data)
    assert sample and (hp["epochs"], hp["lr"], hp["out"]) == (2, 0.01, "results/run_sample/3")
    hp, sample = load_recipe_hparams(hp_file, "epochs: 5\nseed: 4", use_sample=no_data)
    assert (hp["epochs"], hp["lr"], hp["out"]) == (5, 0.01, "results/run_sample/4")
    hp, sample = load_recipe_hparams(hp_file, "data_folder: /data", use_sample=no_data)
    assert not sample and (hp["epochs"], hp["out"]) == (10, "results/run/3")


@pytest.mark.parametrize(
    "override,pattern",
    [
        ("epochs: many", r"--epochs='many': expected int"),
        ("lrate: 1", r"unknown hyperparameter --lrate"),
    ],
)
def test_bad_overrides_raise_recipe_error(hp_file, override, pattern):
    with pytest.raises(RecipeError, match=pattern):
        load_recipe_hparams(hp_file, override, use_sample=no_data)


def test_run_recipe_prints_one_line_and_exits_2(capsys):
    def main():
        raise RecipeError(
            "Caught RecipeError in DataLoader worker process 0.\nOriginal Traceback "
            "(most recent call last):\n  File x\nRecipeError: cannot read audio file a.flac"
        )

    with pytest.raises(SystemExit) as stop:
        run_recipe(main, prog="prog")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "prog: error: cannot read audio file a.flac\n"


def _band_power(noise: torch.Tensor) -> tuple[float, float]:
    power = torch.fft.rfft(noise, dim=1).abs().pow(2).mean(0)
    n = power.shape[0]
    return float(power[1 : n // 16].mean()), float(power[n // 2 :].mean())


def test_pink_noise_has_falling_spectrum_white_is_flat():
    torch.manual_seed(0)
    x = torch.zeros(16, 8000)
    low, high = _band_power(pink_noise_like(x))
    assert low / high > 10
    low, high = _band_power(generated_noise_like(x, pink_probability=0.0))
    assert 0.7 < low / high < 1.4
    assert torch.allclose(pink_noise_like(x).std(dim=1), torch.ones(16), atol=1e-3)


def test_incomplete_checkpoints_are_set_aside(tmp_path):
    good, partial = tmp_path / "CKPT+1", tmp_path / "CKPT+2"
    for folder, names in ((good, ["model", "brain"]), (partial, ["model"])):
        folder.mkdir()
        (folder / "CKPT.yaml").write_text("end-of-epoch: false\n")
        for name in names:
            (folder / f"{name}.ckpt").write_bytes(b"x")
    set_aside_incomplete_checkpoints(tmp_path, {"model": None, "brain": None})
    assert good.is_dir() and not partial.exists()
    assert (tmp_path / "incomplete-CKPT+2").is_dir()

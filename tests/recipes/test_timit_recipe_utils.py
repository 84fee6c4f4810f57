"""Shared recipe helpers used by the TIMIT recipe: YAML with a sample block, noise, errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sparse.data.noise import generated_noise_like, pink_noise_like
from sparse.recipe import (
    RecipeError,
    checkpoint_is_complete,
    close_process_group,
    load_recipe_hparams,
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

    with pytest.raises(SystemExit, match="^2$") as stop:
        run_recipe(main, prog="prog")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "prog: error: cannot read audio file a.flac\n"


def test_run_recipe_drops_speechbrains_torchvision_warning_for_every_recipe(caplog,
                                                                           monkeypatch):
    import logging

    logger = logging.getLogger("speechbrain.utils.train_logger")
    monkeypatch.setattr(logger, "filters", [])  # as in a fresh process

    def main():
        logger.warning("torchvision is not available - cannot save figures")
        logger.warning("a warning that stays")

    with caplog.at_level(logging.WARNING):
        run_recipe(main, prog="prog")
    assert [r.getMessage() for r in caplog.records] == ["a warning that stays"]


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
    names = {"model": None, "brain": None}

    def checkpoint(label: str, model: bytes | None, brain: bytes = b"step: 3\n") -> Path:
        folder = tmp_path / f"CKPT+{label}"
        folder.mkdir()
        (folder / "CKPT.yaml").write_text("end-of-epoch: false\n")
        (folder / "brain.ckpt").write_bytes(brain)
        if model is not None:
            (folder / "model.ckpt").write_bytes(model)
        return folder

    buffer = io.BytesIO()
    torch.save({"w": torch.arange(1000.0)}, buffer)
    whole = buffer.getvalue()
    good = checkpoint("1", whole)
    bad = [checkpoint("2", None), checkpoint("3", whole[: len(whole) // 2]),
           checkpoint("4", whole, brain=b""), checkpoint("5", b"")]  # fmt: skip
    assert checkpoint_is_complete(good, names)
    assert not any(checkpoint_is_complete(folder, names) for folder in bad)
    set_aside_incomplete_checkpoints(tmp_path, names)
    assert good.is_dir() and not any(folder.exists() for folder in bad)
    assert sorted(p.name for p in tmp_path.glob("incomplete-*")) == [
        f"incomplete-CKPT+{i}" for i in range(2, 6)
    ]


def test_run_recipe_destroys_the_process_group(tmp_path):
    def main():
        store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
        torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
        assert torch.distributed.is_initialized()

    run_recipe(main, prog="t")
    assert not torch.distributed.is_initialized()
    close_process_group()  # nothing to close: a no-op


WORKER = """
import atexit, logging, pathlib, sys
import torch
from sparse.recipe import run_recipe

out = pathlib.Path(sys.argv[1])
logging.basicConfig(filename=out / "log.txt", level=logging.INFO)
atexit.register(lambda: (out / "teardown").write_text("ran"))

def main():
    store = torch.distributed.FileStore(str(out / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    logging.getLogger("recipe").info("results written")

run_recipe(main, prog="worker")
"""


@pytest.mark.slow
@pytest.mark.parametrize("torchrun", [False, True])
def test_a_finished_torchrun_worker_exits_without_teardown(tmp_path, torchrun):
    env = {k: v for k, v in os.environ.items() if k != "LOCAL_RANK"}
    if torchrun:
        env["LOCAL_RANK"] = "0"
    done = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "results written" in (tmp_path / "log.txt").read_text()  # flushed before exiting
    assert (tmp_path / "teardown").exists() != torchrun  # atexit skipped only for workers

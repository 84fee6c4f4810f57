"""The recipe Brain base and the recipe start every training recipe shares (fast, in-process)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import speechbrain as sb
import torch

from sparse.recipe import RecipeError, recipe_overrides
from sparse.recipe.brain import RecipeBrain
from sparse.recipe.resume import RandomStates

REPO = Path(__file__).resolve().parents[2]
SPARCH_YAMLS = ("shd_train.yaml", "ssc_train.yaml", "hd_train.yaml", "speech_commands_sparch.yaml")
TRAINING_YAMLS = (*SPARCH_YAMLS, "speech_commands_train.yaml", "timit_train.yaml")


class Projected(torch.nn.Module):
    """A module with a parameter projection that counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))
        self.projections = 0

    def forward(self, x):
        return x * self.weight

    def project_parameters_(self) -> None:
        self.projections += 1


def _brain(**modules) -> RecipeBrain:
    return RecipeBrain(modules=modules, run_opts={"device": "cpu", "noprogressbar": True})


def test_module_access_and_projection_see_through_the_ddp_wrapper(tmp_path):
    inner = Projected()
    brain = _brain(model=inner, other=torch.nn.Linear(2, 2))
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}",
                                         rank=0, world_size=1)
    try:
        brain.modules["model"] = torch.nn.parallel.DistributedDataParallel(inner)
        assert brain.model is inner and brain.raw_module("model") is inner
        brain.on_fit_batch_end(None, None, None, should_step=False)
        assert inner.projections == 0
        brain.on_fit_batch_end(None, None, None, should_step=True)  # Linear has no projection
        assert inner.projections == 1
    finally:
        torch.distributed.destroy_process_group()


def test_stage_statistics_count_examples_and_give_accuracy_in_percent():
    brain = _brain(model=Projected())
    brain.on_stage_start(sb.Stage.VALID)
    brain.count_correct(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3]))
    brain.count_correct(torch.tensor([4]), torch.tensor([0]))
    brain.record_rates({"a": torch.tensor([10.0, 30.0])}, weight=3)
    brain.record_rates({"a": torch.tensor([40.0])}, weight=1)
    brain.record_means({"ctc": 2.0}, weight=1)
    stats = brain.stage_stats(sb.Stage.VALID, 1.5)
    assert stats == {"loss": 1.5, "accuracy": 50.0,
                     "rate_hz_a": pytest.approx((3 * 20.0 + 40.0) / 4), "ctc": 2.0}
    assert list(stats) == ["loss", "accuracy", "rate_hz_a", "ctc"]  # the order logged


def test_an_intra_epoch_checkpoint_keeps_the_stage_counters(tmp_path):
    """Saved mid-epoch, they are back when the resumed epoch starts (and only then)."""
    brain = _brain(model=Projected())
    brain.on_stage_start(sb.Stage.TRAIN)
    brain.count_correct(torch.tensor([1, 1]), torch.tensor([1, 0]))
    brain.record_rates({"a": 0.1}, weight=7)
    brain.step, brain.avg_train_loss = 3, 0.1 + 0.2
    brain._save(tmp_path / "brain.ckpt")
    expected = brain.stage_stats(sb.Stage.TRAIN, 0.0)

    again = _brain(model=Projected())
    again._recover(tmp_path / "brain.ckpt", end_of_epoch=False)
    assert (again.step, again.avg_train_loss) == (3, 0.1 + 0.2)
    again.on_stage_start(sb.Stage.TRAIN)
    assert again.stage_stats(sb.Stage.TRAIN, 0.0) == expected
    again.on_stage_start(sb.Stage.TRAIN)  # the next epoch starts from zero
    assert again.stage_stats(sb.Stage.TRAIN, 0.0) == {"loss": 0.0}
    again._recover(tmp_path / "brain.ckpt", end_of_epoch=True)
    again.on_stage_start(sb.Stage.TRAIN)
    assert again.stage_stats(sb.Stage.TRAIN, 0.0) == {"loss": 0.0}


def test_random_states_of_python_numpy_and_torch_come_back(tmp_path):
    states = RandomStates()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    states.save(tmp_path / "rng.ckpt")
    draws = (random.random(), np.random.rand(), torch.rand(2))
    states.load(tmp_path / "rng.ckpt", end_of_epoch=False)  # mid-epoch: held back
    assert random.random() != draws[0]
    assert states.apply_pending() and not states.apply_pending()
    assert random.random() == draws[0] and np.random.rand() == draws[1]
    assert torch.equal(torch.rand(2), draws[2])


@pytest.mark.parametrize("name", TRAINING_YAMLS)
def test_every_training_yaml_names_its_settings_alike(name):
    """number_of_epochs (SpeechBrain's name), num_threads and intra-epoch checkpoints."""
    text = (REPO / "hparams" / name).read_text()
    for key in ("number_of_epochs", "num_threads", "ckpt_interval_minutes"):
        assert re.search(rf"^{key}:", text, flags=re.MULTILINE), (name, key)
    assert "nb_epochs:" not in text and "limit: !ref <number_of_epochs>" in text


def test_the_old_nb_epochs_override_is_read_with_a_deprecation_warning():
    path = REPO / "hparams" / "shd_train.yaml"
    with pytest.warns(FutureWarning, match="--nb_epochs is deprecated: use --number_of_epochs"):
        text, sample = recipe_overrides(path, "nb_epochs: 3", use_sample=lambda h: False)
    assert text == "number_of_epochs: 3" and not sample
    with pytest.raises(RecipeError, match="--nb_epochs and --number_of_epochs name the same"):
        recipe_overrides(path, "nb_epochs: 3\nnumber_of_epochs: 4")


def test_a_yaml_that_still_defines_nb_epochs_keeps_it(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("nb_epochs: 5\nlr: 0.1\n")
    text, _ = recipe_overrides(old, "nb_epochs: 2")
    assert text == "nb_epochs: 2"

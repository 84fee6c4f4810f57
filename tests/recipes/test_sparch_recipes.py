"""Short end-to-end runs of the SpArch recipes on their generated fixtures (in-process)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sparse.recipe import RecipeError

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--nb_epochs=1", "--nb_hiddens=8", "--noprogressbar", "--device=cpu"]


def load_main(script: Path, monkeypatch):
    """Import a recipe script under a unique module name (not kept in ``sys.modules``).

    Its folder is on ``sys.path`` for this test only: ``run_sparch.py`` imports the Speech
    Commands preparer next to it.
    """
    monkeypatch.syspath_prepend(str(script.parent))
    name = f"recipe_{script.parent.name}_{script.stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


SPARCH = "SpArch/run_training.py"
CASES = [
    (SPARCH, "shd_train.yaml", ["--model_type=RadLIF", "--nb_steps=20",
                                "--use_regularizers=True"]),
    (SPARCH, "ssc_train.yaml", ["--model_type=LIF", "--nb_steps=10", "--bidirectional=True"]),
    (SPARCH, "hd_train.yaml", ["--model_type=adLIF"]),
    ("SpeechCommands/run_sparch.py", "speech_commands_sparch.yaml", ["--model_type=GRU"]),
]


@pytest.mark.parametrize("script,yaml,extra", CASES, ids=["SHD", "SSC", "HD", "SpeechCommands"])
def test_recipe_runs_on_its_fixture(script, yaml, extra, tmp_path, monkeypatch):
    main = load_main(ROOT / "recipes" / script, monkeypatch)
    out = tmp_path / "out"
    brain = main([str(ROOT / "hparams" / yaml), f"--output_folder={out}", *SMALL, *extra])
    assert 0.0 <= brain.test_stats["accuracy"] <= 1.0
    assert "TINY GENERATED FIXTURE" in (out / "log.txt").read_text()
    log = (out / "train_log.txt").read_text()
    assert "epoch: 1" in log and "test accuracy" in log
    assert any((out / "save").glob("CKPT+*/lr_scheduler.ckpt"))


def test_the_yaml_task_picks_the_data_and_an_unknown_one_is_named(tmp_path, monkeypatch):
    main = load_main(ROOT / "recipes" / SPARCH, monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(RecipeError, match=r"shd_train\.yaml: task must be one of shd, ssc, hd, "
                                          r"got 'timit'"):
        main([str(ROOT / "hparams" / "shd_train.yaml"), f"--output_folder={out}", "--task=timit"])
    assert not out.exists()  # the save folder the YAML made is removed again


def test_resume_sets_a_torn_scheduler_checkpoint_aside(tmp_path, plant_torn_checkpoint,
                                                       monkeypatch):
    """The scheduler is registered last (in ``init_optimizers``); its file is checked too."""
    main = load_main(ROOT / "recipes" / SPARCH, monkeypatch)
    out = tmp_path / "out"
    small = [arg for arg in SMALL if not arg.startswith("--nb_epochs")]
    args = [str(ROOT / "hparams" / "hd_train.yaml"), f"--output_folder={out}", *small,
            "--model_type=LIF"]
    main([*args, "--nb_epochs=1"])
    _, torn = plant_torn_checkpoint(out / "save", "lr_scheduler")
    main([*args, "--nb_epochs=2"])
    assert not torn.exists() and (out / "save" / f"incomplete-{torn.name}").is_dir()
    assert "epoch: 2" in (out / "train_log.txt").read_text()

"""Short end-to-end runs of the SpArch recipes on their generated fixtures (in-process)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--nb_epochs=1", "--nb_hiddens=8", "--noprogressbar", "--device=cpu"]


def load_main(script: Path):
    """Import a recipe script under a unique module name (they are all run_training.py)."""
    sys.path.insert(0, str(script.parent))
    name = f"recipe_{script.parent.name}_{script.stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


CASES = [
    ("SHD/run_training.py", "shd_train.yaml", ["--model_type=RadLIF", "--nb_steps=20",
                                                "--use_regularizers=True"]),
    ("SSC/run_training.py", "ssc_train.yaml", ["--model_type=LIF", "--nb_steps=10",
                                                "--bidirectional=True"]),
    ("HD/run_training.py", "hd_train.yaml", ["--model_type=adLIF"]),
    ("SpeechCommands/run_sparch.py", "speech_commands_sparch.yaml", ["--model_type=GRU"]),
]


@pytest.mark.parametrize("script,yaml,extra", CASES, ids=[c[0].split("/")[0] for c in CASES])
def test_recipe_runs_on_its_fixture(script, yaml, extra, tmp_path):
    main = load_main(ROOT / "recipes" / script)
    out = tmp_path / "out"
    brain = main([str(ROOT / "hparams" / yaml), f"--output_folder={out}", *SMALL, *extra])
    assert 0.0 <= brain.test_stats["accuracy"] <= 1.0
    assert "TINY GENERATED FIXTURE" in (out / "log.txt").read_text()
    log = (out / "train_log.txt").read_text()
    assert "epoch: 1" in log and "test accuracy" in log
    assert any((out / "save").glob("CKPT+*/lr_scheduler.ckpt"))


def test_resume_sets_a_torn_scheduler_checkpoint_aside(tmp_path, plant_torn_checkpoint):
    """The scheduler is registered last (in ``init_optimizers``); its file is checked too."""
    main = load_main(ROOT / "recipes" / "HD" / "run_training.py")
    out = tmp_path / "out"
    small = [arg for arg in SMALL if not arg.startswith("--nb_epochs")]
    args = [str(ROOT / "hparams" / "hd_train.yaml"), f"--output_folder={out}", *small,
            "--model_type=LIF"]
    main([*args, "--nb_epochs=1"])
    _, torn = plant_torn_checkpoint(out / "save", "lr_scheduler")
    main([*args, "--nb_epochs=2"])
    assert not torn.exists() and (out / "save" / f"incomplete-{torn.name}").is_dir()
    assert "epoch: 2" in (out / "train_log.txt").read_text()

"""Short end-to-end runs of the SpArch recipes on their generated fixtures (in-process)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sparse.recipe import RecipeError

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--number_of_epochs=1", "--nb_hiddens=8", "--noprogressbar", "--device=cpu"]


def load_main(script: Path):
    """Import a recipe script under a unique module name (not kept in ``sys.modules``)."""
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


@pytest.mark.slow
@pytest.mark.parametrize("script,yaml,extra", CASES, ids=["SHD", "SSC", "HD", "SpeechCommands"])
def test_recipe_runs_on_its_fixture(script, yaml, extra, tmp_path):
    main = load_main(ROOT / "recipes" / script)
    out = tmp_path / "out"
    brain = main([str(ROOT / "hparams" / yaml), f"--output_folder={out}", *SMALL, *extra])
    n_test = brain.n_examples  # accuracy in percent, as in every recipe
    assert brain.test_stats["accuracy"] == pytest.approx(100.0 * brain.n_correct / n_test)
    assert "TINY GENERATED FIXTURE" in (out / "log.txt").read_text()
    log = (out / "train_log.txt").read_text()
    assert "epoch: 1" in log and "test accuracy" in log
    assert any((out / "save").glob("CKPT+*/lr_scheduler.ckpt"))
    saved = (out / "hyperparams.yaml").read_text()  # the values used: sample block + overrides
    assert "\nnb_hiddens: 8\n" in saved and "\nnumber_of_epochs: 1\n" in saved
    assert "\nbatch_size: 16\n" in saved  # from the sample block


def test_a_corpus_script_refuses_the_yaml_of_another_corpus(tmp_path):
    main = load_main(ROOT / "recipes" / "SHD" / "run_training.py")
    out = tmp_path / "out"
    with pytest.raises(RecipeError, match=r"ssc_train\.yaml: task must be one of shd, "
                                          r"got 'ssc'"):
        main([str(ROOT / "hparams" / "ssc_train.yaml"), f"--output_folder={out}"])
    assert not out.exists()  # the save folder the YAML made is removed again


@pytest.mark.slow
def test_resume_sets_a_torn_scheduler_checkpoint_aside(tmp_path, plant_torn_checkpoint):
    """The scheduler is registered last (in ``init_optimizers``); its file is checked too."""
    main = load_main(ROOT / "recipes" / "HD" / "run_training.py")
    out = tmp_path / "out"
    small = [arg for arg in SMALL if not arg.startswith("--number_of_epochs")]
    args = [str(ROOT / "hparams" / "hd_train.yaml"), f"--output_folder={out}", *small,
            "--model_type=LIF"]
    main([*args, "--number_of_epochs=1"])
    _, torn = plant_torn_checkpoint(out / "save", "lr_scheduler")
    main([*args, "--number_of_epochs=2"])
    assert not torn.exists() and (out / "save" / f"incomplete-{torn.name}").is_dir()
    assert "epoch: 2" in (out / "train_log.txt").read_text()


def test_the_brains_penalty_is_sparchs_and_rates_are_logged_in_hz():
    """Loss = NLL + reg_factor * SpArch's per-step penalty (bounds given in Hz)."""
    from types import SimpleNamespace

    import speechbrain as sb
    import torch
    import torch.nn.functional as F

    from sparse.models import build_model
    from sparse.recipe.sparch import SpArchBrain

    torch.manual_seed(0)
    dt = 14.0
    model = build_model("RadLIF", 6, 3, nb_hiddens=16, normalization="none", dt=dt).eval()
    x = torch.rand(4, 30, 6) * torch.linspace(0.0, 200.0, 6)
    labels = torch.tensor([0, 1, 2, 1])
    hparams = {"use_regularizers": True, "reg_factor": 0.5, "reg_fmin_hz": 10.0 / dt,
               "reg_fmax_hz": 500.0 / dt}
    brain = SpArchBrain(modules={"model": model}, hparams=hparams,
                        run_opts={"device": "cpu", "noprogressbar": True})
    brain.on_stage_start(sb.Stage.TRAIN)
    probs, rates_hz = model(x)
    loss = brain.compute_objectives((probs, rates_hz), SimpleNamespace(
        label=SimpleNamespace(data=labels)), sb.Stage.TRAIN)
    per_step = rates_hz.detach() * dt / 1000.0
    sparch = torch.relu(0.01 - per_step).sum() + torch.relu(per_step - 0.5).sum()
    assert sparch > 0
    nll = F.nll_loss(torch.log(probs.clamp_min(1e-12)), labels)
    assert torch.allclose(loss, nll + 0.5 * sparch, rtol=1e-6)
    logged = brain.rate_meter.summary(prefix="rate_hz_")
    assert list(logged) == ["rate_hz_layer1", "rate_hz_layer2"]
    assert logged["rate_hz_layer1"] == pytest.approx(float(rates_hz[:16].detach().mean()))


def test_every_sparch_yaml_gives_its_rate_bounds_in_hz_at_its_dt():
    """SpArch's bounds (0.01 and 0.5 spikes per step) in Hz, and the model's dt from the YAML."""
    from hyperpyyaml import load_hyperpyyaml

    for name in ("shd_train.yaml", "ssc_train.yaml", "hd_train.yaml",
                 "speech_commands_sparch.yaml"):
        text = (ROOT / "hparams" / name).read_text()
        hp = load_hyperpyyaml(text, {"output_folder": "unused", "nb_hiddens": 4,
                                     "__set_seed": None, "checkpointer": None,
                                     "train_logger": None}, overrides_must_match=False)
        dt = float(hp["dt_ms"])
        assert hp["model"].dt == dt, name
        assert (hp["reg_fmin_hz"] * dt / 1000, hp["reg_fmax_hz"] * dt / 1000) == \
            pytest.approx((0.01, 0.5)), name
        assert "reg_fmin:" not in text and "sparse.models.training" not in text, name

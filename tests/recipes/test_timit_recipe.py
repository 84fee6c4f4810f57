"""Short real runs of recipes/TIMIT/run_training.py on a slice of the bundled sample.

A tiny encoder and dt = 10 ms keep each run to seconds; the recipe code path is the real one.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sparse.recipe import checkpoint_is_complete, run_recipe

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "recipes" / "TIMIT" / "run_training.py"
HPARAMS = REPO / "hparams" / "timit_train.yaml"
SAMPLE = REPO / "recipes" / "TIMIT" / "sample"

TINY = [
    "--auditory_channels=[2]", "--cortex_layer_sizes=[16,16,16]", "--phoneme_features=16",
    "--hop_length=10", "--batch_size=2", "--num_workers=0", "--noprogressbar",
    "--concat_original=False", "--ckpt_interval_minutes=0", "--num_threads=1",
]  # fmt: skip


def _load_script():
    spec = importlib.util.spec_from_file_location("timit_run_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rt = _load_script()


def make_slice(folder: Path, train: int) -> Path:
    """Manifests with the shortest utterances of each bundled split (audio stays in SAMPLE)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("dev", 2), ("test", 2)):
        manifest = json.loads((SAMPLE / f"{split}.json").read_text())
        keys = sorted(manifest, key=lambda k: manifest[k]["duration"])[:count]
        (folder / f"{split}.json").write_text(json.dumps({k: manifest[k] for k in keys}))
    return folder


@pytest.fixture(scope="module")
def sample_slice(tmp_path_factory) -> Path:
    """Four train, two dev and two test utterances."""
    return make_slice(tmp_path_factory.mktemp("slice"), train=4)


def slice_args(folder: Path, out: Path, *extra: str) -> list[str]:
    """Command line for a run on the manifests in ``folder``; ``extra`` wins over ``TINY``."""
    named = {arg.split("=")[0] for arg in extra}
    tiny = [arg for arg in TINY if arg.split("=")[0] not in named]
    return [
        str(HPARAMS), f"--data_folder={SAMPLE}", "--skip_prep=True",
        f"--train_annotation={folder / 'train.json'}", f"--valid_annotation={folder / 'dev.json'}",
        f"--test_annotation={folder / 'test.json'}", f"--output_folder={out}", *tiny, *extra,
    ]  # fmt: skip


def valid_values(train_log: Path, key: str) -> list[str]:
    """Per-epoch dev values of ``key`` (as printed) from train_log.txt."""
    return re.findall(rf"valid {key}: ([^,\s]+)", train_log.read_text())


def run_in_process(argv: list[str], capsys) -> tuple[int, str]:
    """Run the recipe's entry point as the CLI does; return (exit code, stderr)."""
    try:
        run_recipe(lambda: rt.main(argv), prog="run_training.py")
        code = 0
    except SystemExit as stop:
        code = stop.code
    finally:  # SpeechBrain's log handlers hold this test's captured streams: drop them
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_and_same_seed_same_dev_per(sample_slice, tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        code, err = run_in_process(slice_args(sample_slice, out, "--number_of_epochs=1"), capsys)
        assert code == 0, err
    first = outs[0]
    assert list((first / "save").glob("CKPT+*/model.ckpt")), "no checkpoint saved"
    assert len(valid_values(first / "train_log.txt", "PER")) == 1
    assert "rate_hz_cortex3" in (first / "train_log.txt").read_text()
    assert "PER" in (first / "test_per.txt").read_text()
    assert (first / "save" / "label_encoder.txt").is_file()
    for key in ("PER", "loss"):
        assert valid_values(first / "train_log.txt", key) == valid_values(
            outs[1] / "train_log.txt", key
        )


@pytest.mark.slow
def test_resume_sets_a_torn_checkpoint_aside(sample_slice, tmp_path, capsys, plant_torn_checkpoint):
    """A newer checkpoint whose optimizer file was cut short by a kill is not loaded."""
    out = tmp_path / "run"
    code, err = run_in_process(slice_args(sample_slice, out, "--number_of_epochs=1"), capsys)
    assert code == 0, err
    whole, torn = plant_torn_checkpoint(out / "save", "optimizer")
    code, err = run_in_process(slice_args(sample_slice, out, "--number_of_epochs=2"), capsys)
    assert code == 0, err
    assert not torn.exists() and (out / "save" / f"incomplete-{torn.name}").is_dir()
    assert f"Loading a checkpoint from {whole}" in (out / "log.txt").read_text()
    assert len(valid_values(out / "train_log.txt", "PER")) == 2


def _manifest_with(folder: Path, tmp: Path, change) -> Path:
    """Copy of the slice with ``change(entry)`` applied to the first train utterance."""
    target = tmp / "manifests"
    shutil.copytree(folder, target)
    manifest = json.loads((target / "train.json").read_text())
    change(manifest[next(iter(manifest))])
    (target / "train.json").write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize(
    "case,pattern",
    [
        ("missing_folder", r"TIMIT data folder not found"),
        ("empty_folder", r"TIMIT data folder is empty"),
        ("missing_audio", r"audio file of '.*' not found"),
        ("corrupt_audio", r"corrupt or unreadable"),
        ("corrupt_audio_late", r"cannot read audio file .*broken\.flac"),
        ("truncated_audio", r"audio file of '.*' is corrupt or unreadable: .*cut\.flac"),
        ("unknown_phone", r"unknown phone label\(s\) \['xx'\]"),
        ("unknown_key", r"no_such_key"),
        ("wrong_type", r"--lr='fast'.*expected float"),
    ],
)
def test_user_errors_give_one_clear_message(case, pattern, sample_slice, tmp_path, capsys):
    out = tmp_path / "out"
    if case in ("missing_folder", "empty_folder"):
        data = tmp_path / "timit"
        if case == "empty_folder":
            data.mkdir()
        argv = [str(HPARAMS), f"--data_folder={data}", f"--output_folder={out}", *TINY]
    elif case in ("unknown_key", "wrong_type"):
        extra = "--no_such_key=1" if case == "unknown_key" else "--lr=fast"
        argv = slice_args(sample_slice, out, extra)
    else:
        broken = tmp_path / "broken.flac"
        broken.write_bytes(b"fLaC" + b"\x00" * 64)
        cut = tmp_path / "cut.flac"  # a real FLAC whose end is lost: the header reads fine
        data = next((SAMPLE / "audio" / "train").glob("*.flac")).read_bytes()
        cut.write_bytes(data[: len(data) // 2])
        changes = {
            "missing_audio": lambda e: e.update(wav="{data_root}/audio/nope.flac"),
            "corrupt_audio": lambda e: e.update(wav=str(broken)),
            "corrupt_audio_late": lambda e: e.update(wav=str(broken)),
            "truncated_audio": lambda e: e.update(wav=str(cut)),
            "unknown_phone": lambda e: e.update(phn="sil xx sil"),
        }
        folder = _manifest_with(sample_slice, tmp_path, changes[case])
        extra = ["--check_audio=False"] if case == "corrupt_audio_late" else []
        argv = slice_args(folder, out, *extra)
    code, err = run_in_process(argv, capsys)
    assert code == 2
    assert re.search(pattern, err), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_several_bad_files_are_all_named_before_training(sample_slice, tmp_path, capsys):
    folder = tmp_path / "manifests"
    shutil.copytree(sample_slice, folder)
    for split in ("train", "test"):
        manifest = json.loads((folder / f"{split}.json").read_text())
        manifest[next(iter(manifest))]["wav"] = f"{{data_root}}/audio/{split}-nope.flac"
        (folder / f"{split}.json").write_text(json.dumps(manifest))
    code, err = run_in_process(slice_args(folder, tmp_path / "out"), capsys)
    assert code == 2 and "Traceback" not in err
    assert re.search(r"train\.json: audio file of '.*' not found: .*train-nope\.flac", err), err
    assert re.search(r"test\.json: audio file of '.*' not found: .*test-nope\.flac", err), err
    assert not (tmp_path / "out" / "save" / "CKPT.yaml").exists()


@pytest.mark.slow
def test_saved_hyperparams_record_the_sample_block_and_overrides(tmp_path, capsys):
    """A sample-mode run (no data folder) saves the values it ran with, not the file's own."""
    out = tmp_path / "sample_run"
    argv = [str(HPARAMS), f"--output_folder={out}", "--debug", "--debug_batches=1",
            "--debug_epochs=1", *TINY, "--lr=0.0123"]
    code, err = run_in_process(argv, capsys)
    assert code == 0, err
    saved = yaml.safe_load(
        re.sub(r"!\S+", "", (out / "hyperparams.yaml").read_text())  # tags are not plain YAML
    )
    plain = yaml.safe_load(re.sub(r"!\S+", "", HPARAMS.read_text()))
    for key in ("number_of_epochs", "augment"):  # from the sample block
        assert saved[key] == plain["sample"][key], key
    assert saved["lr"] == 0.0123 and saved["batch_size"] == 2  # the command line wins
    assert saved["output_folder"] == str(out)
    assert saved["data_folder"] == str(SAMPLE)
    assert (out / "save" / "audio_check.json").is_file()


@pytest.mark.slow
def test_a_manifest_folder_trains_without_timit_layout(sample_slice, tmp_path, capsys):
    """--manifest_folder: manifests copied, audio under --data_folder, no sample block."""
    out = tmp_path / "manifests_run"
    argv = [str(HPARAMS), f"--manifest_folder={sample_slice}", f"--data_folder={SAMPLE}",
            f"--output_folder={out}", "--number_of_epochs=1", *TINY]
    code, err = run_in_process(argv, capsys)
    assert code == 0, err
    for split in ("train", "dev", "test"):
        assert (out / "save" / f"{split}.json").read_text() == (
            sample_slice / f"{split}.json").read_text()
    assert len(valid_values(out / "train_log.txt", "PER")) == 1
    saved = (out / "hyperparams.yaml").read_text()
    assert "number_of_epochs: 1\n" in saved and f"manifest_folder: {sample_slice}" in saved
    code, err = run_in_process([*argv[:1], f"--manifest_folder={tmp_path / 'none'}", *argv[2:]],
                               capsys)
    assert code == 2 and "manifest folder not found" in err


@pytest.mark.slow
@pytest.mark.parametrize("below,annealed", [(1000.0, True), (0.0, False)])
def test_newbob_waits_until_dev_per_is_below_anneal_below_per(sample_slice, tmp_path, capsys,
                                                              below, annealed):
    out = tmp_path / "anneal"
    # a threshold no change can meet: NewBob anneals at every step it is given
    argv = slice_args(sample_slice, out, "--number_of_epochs=3", "--annealing_threshold=10.0",
                      f"--anneal_below_per={below}", "--lr=0.001")
    code, err = run_in_process(argv, capsys)
    assert code == 0, err
    lrs = re.findall(r"lr: ([\d.e+-]+)", (out / "train_log.txt").read_text())
    # (the log shows the lr each epoch ran with; NewBob's first call only records the PER)
    assert lrs == ["1.00e-03", "1.00e-03", "8.00e-04" if annealed else "1.00e-03"]


def _cli(args: list[str], **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_cli_bad_override_exits_nonzero_without_traceback(tmp_path):
    proc = _cli([str(HPARAMS), "--batch_size=many", f"--output_folder={tmp_path}"])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "batch_size" in err and "Traceback" not in err


#: Files of a whole checkpoint of the recipe (YAML recoverables, then Brain's own).
CKPT_FILES = ("model", "classifier", "scheduler", "normalizer", "counter", "optimizer", "brain",
              "dataloader-TRAIN")  # fmt: skip


def _intra_epoch_checkpoint(save: Path) -> Path | None:
    """The checkpoint recovery loads: the newest complete intra-epoch folder, if any.

    SpeechBrain saves the new checkpoint before deleting the old one, so a kill can leave two;
    it loads the one with the latest ``unixtime`` (folder suffixes ``+00``/``+01`` are reused
    within a second and say nothing about order).
    """
    newest, newest_time = None, -1.0
    for folder in save.glob("CKPT+*"):
        if not checkpoint_is_complete(folder, CKPT_FILES):
            continue
        fields = yaml.safe_load((folder / "CKPT.yaml").read_text()) or {}
        if fields.get("end-of-epoch") is False and fields.get("unixtime", -1.0) > newest_time:
            newest, newest_time = folder, fields["unixtime"]
    return newest


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_completes(tmp_path):
    out = tmp_path / "run"
    # one step per utterance: a long epoch (with the compiled neuron loops ten steps took only
    # about 0.6 s after the first checkpoint, too short a window to kill the run reliably)
    folder = make_slice(tmp_path / "slice", train=48)
    args = slice_args(folder, out, "--number_of_epochs=1", "--batch_size=1", "--hop_length=4",
                      "--ckpt_interval_steps=1")
    proc = _cli(args)
    try:
        deadline = time.time() + 90
        ckpt = None
        while time.time() < deadline and proc.poll() is None and ckpt is None:
            time.sleep(0.05)
            ckpt = _intra_epoch_checkpoint(out / "save")
        assert ckpt is not None, "no intra-epoch checkpoint appeared"
        time.sleep(0.2)  # let the last file be flushed
    finally:  # killed whatever happened: no run outlives the test
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    left = _intra_epoch_checkpoint(out / "save")
    assert left is not None, "the run was not killed in the middle of the epoch"
    resumed = _cli(args)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-2000:]
    assert "torchvision" not in err  # run_recipe drops SpeechBrain's import-time warning
    second_run = (out / "log.txt").read_text().split("Beginning experiment")[-1]
    assert f"Loading a checkpoint from {left}" in second_run
    assert len(valid_values(out / "train_log.txt", "PER")) == 1
    assert (out / "test_per.txt").is_file()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_gloo(sample_slice, tmp_path):
    out = tmp_path / "ddp"
    args = slice_args(sample_slice, out, "--number_of_epochs=1", "--device=cpu",
                      "--distributed_backend=gloo")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(SCRIPT), *args]
    env = dict(os.environ, PYTHONFAULTHANDLER="1")  # a crashing rank prints its stacks
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180, env=env)
    # torchrun's own report fills the tail; keep the ranks' error lines in the message too
    errors = [line for line in done.stderr.splitlines()
              if re.search(r"Error|error:|terminate|Fatal|Terminating|File \"", line)]
    assert done.returncode == 0, "\n".join(errors[:60]) + "\n...\n" + done.stderr[-1500:]
    assert len(valid_values(out / "train_log.txt", "PER")) == 1
    assert (out / "test_per.txt").is_file()


def test_saved_yaml_comments_state_no_number_the_sample_block_changes():
    """hyperparams.yaml keeps the YAML's comments next to the sample block's values."""
    from hyperpyyaml.core import resolve_references

    from sparse.recipe import recipe_overrides
    from sparse.recipe.timit import uses_sample

    text, sample_mode = recipe_overrides(HPARAMS, "", use_sample=uses_sample)
    assert sample_mode
    with open(HPARAMS, encoding="utf-8") as stream:  # what create_experiment_directory saves
        saved = resolve_references(stream, text).getvalue()
    line = next(line for line in saved.splitlines() if line.startswith("hop_length:"))
    value, comment = line.split("#", 1)
    assert value.split() == ["hop_length:", "10"]
    assert re.findall(r"\d+", comment) == ["1000"]  # "1000 / hop_length", not "500 steps"

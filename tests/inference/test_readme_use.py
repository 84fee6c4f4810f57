"""The README's "Use a trained model" calls run as written (on tiny models in the same place)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sparse.cli import main
from sparse.recipe import load_recipe_hparams

REPO = Path(__file__).resolve().parents[2]
KWS_SAMPLE = "results/SpeechCommands/KWS_digits_1986/model"
ASR_SAMPLE = "results/Encoder_2ms_16chan_3x512_ff1_rnn5_sfa5_sample/1986/model"


def section() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## Use a trained model")[1].split("\n## ")[0]


def test_readme_names_the_sample_runs_model_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # building the YAML objects creates (relative) save folders
    kws, _ = load_recipe_hparams(REPO / "hparams" / "speech_commands_train.yaml",
                                 use_sample=lambda hp: not hp.get("data_folder"))
    asr, _ = load_recipe_hparams(REPO / "hparams" / "timit_train.yaml",
                                 use_sample=lambda hp: hp.get("data_folder") is None)
    assert f"{kws['output_folder']}/model" == KWS_SAMPLE
    assert f"{asr['output_folder']}/model" == ASR_SAMPLE
    text = section()
    assert KWS_SAMPLE in text and ASR_SAMPLE in text


def test_readme_python_and_command_line_calls_run(kws_run, asr_run, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # the README's paths are relative to the repository root

    def swap(code: str) -> str:
        return code.replace(KWS_SAMPLE, str(kws_run / "model")).replace(
            ASR_SAMPLE, str(asr_run / "model"))

    text = section()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    scopes = []
    for code in blocks:
        scope: dict = {}
        exec(compile(swap(code), "README.md", "exec"), scope)  # noqa: S102
        scopes.append(scope)
    kws = scopes[0]
    assert kws["text_lab"] == [kws["label"]] and kws["label"] in kws["posteriors"]
    assert kws["out_prob"].shape == (1, 10) and kws["enc"].dt_ms == 10.0
    assert float(kws["score"].exp()) == pytest.approx(kws["probability"], rel=1e-5)
    printed = capsys.readouterr().out
    assert f"{kws['text_lab']} {kws['probability']:.3f}\n" in printed
    assert list(kws["enc"].spikes) == ["nerve", "cortex1", "cortex2"]
    assert "\ntotal " in printed  # the printed efficiency table
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
                for line in block.splitlines() if line.startswith("python -m sparse ")]
    assert [c.split()[3] for c in commands] == ["classify", "info", "efficiency"]
    for command in commands:
        assert main(shlex.split(swap(command))[3:]) == 0, command
    out = capsys.readouterr().out
    assert "\ttheo_nohash_0.flac" not in out and "eight/theo_nohash_0.flac\t" in out
    assert "kind: kws" in out and "\ntotal " in out

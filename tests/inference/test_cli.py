"""``python -m sparse``: one line per file, JSON Lines, info, efficiency, errors per file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sparse.cli import expand_inputs, main

REPO = Path(__file__).resolve().parents[2]
FSDD = REPO / "recipes" / "SpeechCommands" / "sample_fsdd"


def run_cli(capsys, *argv) -> tuple[int, list[str], list[str]]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_transcribe_one_line_per_file(asr_run, speech_file, capsys):
    code, lines, _ = run_cli(capsys, "transcribe", asr_run / "model", speech_file)
    assert code == 0 and len(lines) == 1
    path, text = lines[0].split("\t")
    assert path == str(speech_file) and set(text.split()) <= {
        ln.split("'")[1] for ln in (asr_run / "model" / "label_encoder.txt").read_text()
        .splitlines() if ln.startswith("'")}


def test_classify_folder_and_json(kws_run, capsys):
    folder = FSDD / "eight"
    n = len(list(folder.glob("*.flac")))
    code, lines, _ = run_cli(capsys, "classify", kws_run / "model", folder, "--no-progress")
    assert code == 0 and len(lines) == n
    assert all(len(line.split("\t")) == 3 for line in lines)
    code, lines, _ = run_cli(capsys, "classify", kws_run / "model", folder / "theo_nohash_1.flac",
                             "--json")
    record = json.loads(lines[0])
    assert set(record) == {"file", "label", "probability", "posteriors"}
    assert record["file"].endswith("theo_nohash_1.flac") and record["label"] in record["posteriors"]
    assert record["probability"] == max(record["posteriors"].values())
    assert sum(record["posteriors"].values()) == pytest.approx(1.0, abs=1e-5)


def test_list_file_paths_are_relative_to_the_current_directory(kws_run, tmp_path, capsys,
                                                               monkeypatch):
    lists = tmp_path / "lists"
    lists.mkdir()
    listing = lists / "files.txt"
    listing.write_text("# two clips\nrecipes/SpeechCommands/sample_fsdd/five/theo_nohash_0.flac\n"
                       f"\n{FSDD / 'eight' / 'theo_nohash_0.flac'}  # absolute\n")
    monkeypatch.chdir(REPO)
    files, problems = expand_inputs([str(listing)])
    assert [str(p) for p in files] == ["recipes/SpeechCommands/sample_fsdd/five/theo_nohash_0.flac",
                                       str(FSDD / "eight" / "theo_nohash_0.flac")]
    assert problems == []
    code, lines, _ = run_cli(capsys, "classify", kws_run / "model", listing, "--no-progress")
    assert code == 0 and len(lines) == 2
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert ("Paths inside a list file are relative to the current directory, like the paths on "
            "the command line") in help_text
    assert "Exit status: 0 when every input gave a result, 1 when any failed, 2" in help_text


def test_every_input_gives_a_result_or_one_error_line(kws_run, digit_file, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....junk")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'gone.flac'}\nhttps://example.com/x.wav\n")
    url = "https://example.com/a.wav"
    code, lines, err = run_cli(capsys, "classify", kws_run / "model", tmp_path / "absent.wav",
                               bad, url, digit_file, listing, "--no-progress")
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"{digit_file}\t")
    assert len(err) == 5 and err[:3] == [  # what names no file first, then file by file
        f"{tmp_path / 'absent.wav'}: error: input not found",
        f"{url}: error: a URL: files are read locally, nothing is downloaded; download it and "
        "give its path",
        f"https://example.com/x.wav: error: a URL (line 2 of {listing}): files are read "
        "locally, nothing is downloaded; download it and give its path"]
    assert err[3].startswith(f"{bad}: error: cannot read audio file {bad}: ")
    assert err[4] == f"{tmp_path / 'gone.flac'}: error: audio file not found: " \
                     f"{tmp_path / 'gone.flac'}"
    (tmp_path / "empty_dir").mkdir()
    code, lines, err = run_cli(capsys, "classify", kws_run / "model", tmp_path / "empty_dir")
    assert code == 1 and lines == [] and err == [
        f"{tmp_path / 'empty_dir'}: error: no audio file in this folder (extensions: those "
        "soundfile reads, e.g. .wav .flac)"]


def test_short_audio_warns_with_the_minimum_and_still_gives_its_result(asr_run, tmp_path,
                                                                       capsys):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(320, dtype=np.float32), 16000)  # 0.02 s
    code, lines, err = run_cli(capsys, "transcribe", asr_run / "model", short)
    assert code == 0 and len(lines) == 1 and lines[0].startswith(f"{short}\t")
    assert err == [f"{short}: warning: 0.020 s of audio is shorter than this model's minimum of "
                   "0.040 s (one output frame of 4 steps of 10 ms); its result says little"]


def test_efficiency_and_info(kws_run, digit_file, capsys):
    code, lines, _ = run_cli(capsys, "efficiency", kws_run / "model", digit_file, digit_file,
                             "--per-file", "--mac-pj", "3.0", "--no-progress")
    assert code == 0
    assert lines[0].startswith(str(digit_file)) and "spikes/s" in lines[0]
    assert "(2.00 s analysed)" in lines[2] and any(ln.startswith("total ") for ln in lines)
    assert "3.0 pJ per MAC (given on the command line)" in "\n".join(lines)
    code, lines, _ = run_cli(capsys, "efficiency", kws_run / "model", digit_file, "--json")
    (report,) = [json.loads(line) for line in lines]
    assert report["file"] is None and report["duration_s"] == pytest.approx(1.0)
    assert report["energy_model"]["mac_pj"] == 4.6
    code, lines, _ = run_cli(capsys, "efficiency", kws_run / "model", digit_file, digit_file,
                             "--json", "--per-file")
    records = [json.loads(line) for line in lines]  # one record shape in the stream
    assert [r["file"] for r in records] == [str(digit_file), str(digit_file), None]
    assert len({tuple(r) for r in records}) == 1 and records[2]["duration_s"] == 2.0
    assert records[2]["total"]["spikes_per_s"] == pytest.approx(records[0]["total"]["spikes_per_s"])
    code, lines, _ = run_cli(capsys, "info", kws_run / "model")
    assert code == 0 and "kind: kws" in lines and "interface: SpikingKWS" in lines
    assert "clip_s: 1.0" in lines and "min_duration_s: 0.025" in lines


def test_model_and_option_errors_exit_2_in_one_line(kws_run, digit_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "classify", tmp_path / "none", digit_file)
    assert code == 2 and len(err) == 1
    assert err[0].endswith(f" classify: error: model folder not found: {tmp_path / 'none'}")
    code, _, err = run_cli(capsys, "transcribe", kws_run / "model", digit_file)
    assert code == 2 and len(err) == 1 and err[0].endswith("use 'classify'")
    code, _, err = run_cli(capsys, "classify", kws_run / "model", digit_file, "--device", "cuda:3")
    assert code == 2 and len(err) == 1
    assert "error: device 'cuda:3' is not available on this machine" in err[0]
    code, _, err = run_cli(capsys, "classify", kws_run / "model", digit_file, "--backend", "x")
    assert code == 2 and len(err) == 1 and "unknown backend 'x'" in err[0]


def test_a_bug_in_the_model_keeps_its_traceback(kws_run, digit_file, monkeypatch):
    from sparse.inference import SpikingKWS

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(SpikingKWS, "label_file", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["classify", str(kws_run / "model"), str(digit_file)])


def test_python_dash_m_sparse(asr_run):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "sparse", "info", str(asr_run / "model"),
                           "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["kind"] == "asr" and info["dt_ms"] == 10.0 and info["labels"] == 40
    proc = subprocess.run([sys.executable, "-m", "sparse", "info", "https://example.com/m"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stderr == (
        "python -m sparse info: error: https://example.com/m is a URL: sparse loads local model "
        "folders only (nothing is downloaded); download the folder and give its path\n")


def test_a_reader_that_stops_early_gets_no_traceback(kws_run):
    """``python -m sparse classify ... | head -1``: the broken pipe ends the run quietly."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    inputs = [str(FSDD / "eight")] * 20  # 600 files: far more than are read before the close
    proc = subprocess.Popen([sys.executable, "-m", "sparse", "classify", str(kws_run / "model"),
                             *inputs, "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # as `head -1` does
        proc.wait(timeout=300)
        err = proc.stderr.read()
    finally:
        proc.kill()
    assert first.startswith(str(FSDD / "eight")) and "Traceback" not in err
    assert proc.returncode == 1

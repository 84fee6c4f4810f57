"""``python -m sparse``: one line per file, JSON Lines, info, efficiency, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparse.cli import expand_inputs, main

REPO = Path(__file__).resolve().parents[2]
FSDD = REPO / "recipes" / "SpeechCommands" / "sample_fsdd"


def run_cli(capsys, *argv) -> tuple[int, list[str], str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


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
    assert record["file"].endswith("theo_nohash_1.flac") and record["label"] in record["posteriors"]
    assert sum(record["posteriors"].values()) == pytest.approx(1.0, abs=1e-5)


def test_list_file_paths_are_relative_to_the_list(kws_run, tmp_path, capsys):
    listing = tmp_path / "files.txt"
    rel = os.path.relpath(FSDD / "five" / "theo_nohash_0.flac", tmp_path)
    listing.write_text(f"# two clips\n{rel}\n\n{FSDD / 'eight' / 'theo_nohash_0.flac'}\n")
    assert [p.name for p in expand_inputs([str(listing)])] == ["theo_nohash_0.flac"] * 2
    code, lines, _ = run_cli(capsys, "classify", kws_run / "model", listing, "--no-progress")
    assert code == 0 and len(lines) == 2


def test_efficiency_and_info(kws_run, digit_file, capsys):
    code, lines, _ = run_cli(capsys, "efficiency", kws_run / "model", digit_file, digit_file,
                             "--per-file", "--mac-pj", "3.0", "--no-progress")
    assert code == 0
    assert lines[0].startswith(str(digit_file)) and "spikes/s" in lines[0]
    assert "(2.00 s analysed)" in lines[2] and any(ln.startswith("total ") for ln in lines)
    assert "3.0 pJ per MAC (given on the command line)" in "\n".join(lines)
    code, lines, _ = run_cli(capsys, "efficiency", kws_run / "model", digit_file, "--json")
    report = json.loads(lines[0])
    assert report["duration_s"] == pytest.approx(1.0) and report["energy_model"]["mac_pj"] == 4.6
    code, lines, _ = run_cli(capsys, "info", kws_run / "model")
    assert code == 0 and "kind: kws" in lines and "interface: SpikingKWS" in lines


def test_errors_exit_status_and_one_line(asr_run, kws_run, digit_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "classify", tmp_path / "none", digit_file)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.strip().endswith(f"classify: error: model folder not found: {tmp_path / 'none'}")
    code, _, err = run_cli(capsys, "transcribe", kws_run / "model", digit_file)
    assert code == 2 and "use 'classify'" in err
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....junk")
    code, lines, err = run_cli(capsys, "classify", kws_run / "model", bad, digit_file,
                               "--no-progress")
    assert code == 1 and len(lines) == 1 and f"{bad}: error: cannot read audio file" in err
    code, _, err = run_cli(capsys, "classify", kws_run / "model", tmp_path / "absent.wav")
    assert code == 2 and "input not found" in err and "Traceback" not in err


def test_python_dash_m_sparse(asr_run):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "sparse", "info", str(asr_run / "model"),
                           "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["kind"] == "asr" and info["dt_ms"] == 10.0 and info["labels"] == 40

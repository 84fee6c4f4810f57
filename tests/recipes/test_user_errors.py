"""The recipes' boundary: a user's mistake is one line and exit 2, a bug keeps its traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparse.data.shd import spike_datasets
from sparse.errors import ConfigError, DataError, UserError
from sparse.recipe import RecipeError, load_recipe_hparams, run_recipe

REPO = Path(__file__).resolve().parents[2]

#: A module whose objects fail the way bugs do, importable from a YAML tag.
BUGGY_MODULE = '''
class Broken:
    def __init__(self, size=1):
        table = {}
        self.value = table["size"]      # a KeyError inside a constructor: a bug


def typo(size=1):
    return len(size)                    # a TypeError inside an !apply: function: a bug


def refuse(size=1):
    raise ValueError("size must be even")   # a ValueError of the object itself
'''


@pytest.fixture
def buggy(tmp_path, monkeypatch) -> Path:
    (tmp_path / "buggy_objects.py").write_text(BUGGY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("body,error", [
    ("x: !new:buggy_objects.Broken\n  size: 2\n", KeyError),
    ("x: !apply:buggy_objects.typo\n  size: 2\n", TypeError),
    ("x: !apply:buggy_objects.refuse\n  size: 3\n", ValueError),
], ids=["KeyError", "TypeError", "ValueError"])
def test_an_error_inside_a_constructor_keeps_its_traceback(buggy, body, error):
    path = buggy / "hp.yaml"
    path.write_text(body)
    with pytest.raises(error) as raised:
        load_recipe_hparams(path, "")
    assert not isinstance(raised.value, UserError)
    assert raised.traceback[-1].path.name == "buggy_objects.py"  # raised where the bug is


@pytest.mark.parametrize("body,override,pattern", [
    ("a: [1, 2\nb: 3\n", "", r"cannot parse .*hp\.yaml or an override: YAML syntax"),
    ("a: 1\n", "a: [1,", r"cannot parse .*hp\.yaml or an override: YAML syntax"),
    ("a: 1\n", "b: 2", r"unknown hyperparameter --b \(not a key of"),
    ("a: 1\n", "a: one", r"override --a='one': expected int"),
    ("a: !new:no_such_module.Thing\n", "", r"hp\.yaml: There is no such class as no_such_module"),
    ("a: !new:fractions.Fraction\n  numerator: 1\n  bogus: 2\n", "",
     r"hp\.yaml: Invalid argument to class fractions\.Fraction: .*unexpected keyword .*'bogus'"),
    ("a: !PLACEHOLDER\n", "", r"'a' is a !PLACEHOLDER and must be replaced"),
    ("a: 1\nb: !ref <c>\n", "", r'The reference "c" is not valid'),
], ids=["syntax", "override-syntax", "unknown-key", "wrong-type", "no-such-class",
        "wrong-argument", "placeholder", "bad-reference"])
def test_a_mistake_in_the_yaml_or_an_override_is_a_recipe_error(tmp_path, body, override,
                                                                 pattern):
    path = tmp_path / "hp.yaml"
    path.write_text(body)
    with pytest.raises(RecipeError, match=pattern):
        load_recipe_hparams(path, override)


def test_a_missing_yaml_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="hyperparameter file not found: .*none.yaml"):
        load_recipe_hparams(tmp_path / "none.yaml", "")


def test_run_recipe_reports_every_user_error_and_lets_bugs_through(capsys):
    def fails(err):
        def main():
            raise err
        return main

    for err in (DataError("missing SHD file(s): x.h5"), ConfigError("task must be one of a")):
        with pytest.raises(SystemExit) as stop:
            run_recipe(fails(err), prog="prog")
        assert stop.value.code == 2
        assert capsys.readouterr().err == f"prog: error: {err}\n"
    with pytest.raises(KeyError, match="a bug"):
        run_recipe(fails(KeyError("a bug")), prog="prog")


def test_the_data_readers_raise_user_errors_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing SHD file\(s\): .*shd_train\.h5"):
        spike_datasets(tmp_path, "shd", 10, 1.4)
    with pytest.raises(ConfigError, match="valid_protocol 'official' is not one of"):
        spike_datasets(tmp_path, "shd", 10, 1.4, valid_protocol="official")


def test_a_recipe_on_a_folder_without_data_ends_in_one_line(tmp_path):
    """SHD on an empty folder: exit 2, the missing files named, no traceback."""
    done = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "SHD" / "run_training.py"),
         str(REPO / "hparams" / "shd_train.yaml"), f"--data_folder={tmp_path}",
         f"--output_folder={tmp_path / 'out'}", "--device=cpu"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "recipes/SHD/run_training.py: error: missing SHD file(s): ")

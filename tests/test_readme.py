"""The README's Python examples run and print the shapes its comments state."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run_and_match_their_shape_comments():
    text = README.read_text().split("## Use a trained model")[0]  # later: needs a trained model
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    for code in blocks:
        scope: dict = {}
        exec(compile(code, str(README), "exec"), scope)  # noqa: S102
        assert tuple(scope["y"].shape) == (8, 500, 10)
        assert tuple(scope["out"].shape) == (2, 12, 512)
        assert [tuple(s.shape) for s in scope["spikes"]] == [(2, 258, 1184)] + [(2, 258, 512)] * 3

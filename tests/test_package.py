"""Package-level behaviour: public names and coexistence with SciPy."""

from pathlib import Path

import numpy as np
import pytest

import sparse


def test_public_api():
    for name in ("ASREncoder", "KWSEncoder", "MultilayeredSpiking", "ReadoutLayer", "SNN", "ANN"):
        assert hasattr(sparse, name), name


def test_scipy_signal_works_after_importing_sparse():
    # scipy looks up sys.modules["sparse"].SparseArray (pydata sparse shares our import name)
    from scipy.signal import resample_poly

    assert resample_poly(np.ones(100), 2, 1).shape == (200,)


def _modules(package: str):
    import importlib.util
    import pkgutil

    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf == "__main__":
            continue  # runs the command when executed, not a library module
        if leaf.startswith("triton_") and importlib.util.find_spec("triton") is None:
            continue
        if leaf == "cpu_kernels" and importlib.util.find_spec("numba") is None:
            continue
        yield importlib.import_module(info.name)


@pytest.mark.parametrize("package", ["sparse.neurons", "sparse.models", "sparse.bench"])
def test_every_module_declares_its_public_names(package):
    for module in _modules(package):
        names = getattr(module, "__all__", None)
        assert isinstance(names, list) and names, f"{module.__name__} has no __all__"
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{module.__name__}.__all__ names undefined {missing}"


def test_constraints_pin_one_tested_version_inside_every_declared_range():
    """pyproject.toml declares ranges, constraints.txt the tested set the README installs."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    for req in map(Requirement, project["dependencies"] + extras):
        assert req.name.lower() in pins, f"{req.name} is not pinned in constraints.txt"
        assert pins[req.name.lower()] in req.specifier, f"{req.name}=={pins[req.name.lower()]}"
    assert pins["torch"] == pins["torchaudio"]  # torchaudio needs its own torch exactly
    readme = (root / "README.md").read_text()
    assert readme.count("-c constraints.txt") >= 2  # both set-up commands (CI runs one)

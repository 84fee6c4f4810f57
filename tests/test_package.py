"""Package-level behaviour: public names and coexistence with SciPy."""

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

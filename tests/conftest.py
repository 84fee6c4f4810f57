"""Shared fixtures: deterministic seeding and a CPU/GPU device option."""

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="torch device for the tests (cpu, cuda)")


@pytest.fixture
def device(request) -> torch.device:
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA requested but not available")
    return dev


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

"""Distributed runs on CPU: process-group teardown and DDP without SyncBatchNorm.

Two SpeechBrain 1.1.2 / PyTorch gaps of CPU (gloo) runs are worked around here: a torchrun
worker that aborts in the interpreter's teardown after finishing, and SpeechBrain's
automatic ``SyncBatchNorm``, which PyTorch runs on GPUs only.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

import torch

__all__ = ["close_process_group", "exit_without_teardown", "wrap_ddp_cpu"]


def close_process_group() -> bool:
    """Wait for every process, then destroy the default process group, if there is one.

    Returns whether there was one.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return False
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    return True


def exit_without_teardown() -> NoReturn:
    """End a finished torchrun worker with status 0, skipping the interpreter's teardown.

    Two-process CPU (gloo) runs were seen to abort in that teardown, after every output was
    written: ``terminate called without an active exception`` (SIGABRT) on the main thread,
    with no Python frame left, in about one run of ten to twenty under load, with or
    without the process group destroyed. torchrun then reports the run as failed and stops
    the other ranks, which may still be writing. Logs and streams are flushed first.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def wrap_ddp_cpu(modules: torch.nn.ModuleDict, *, find_unused_parameters: bool = False) -> None:
    """Wrap trainable modules in DDP for CPU (gloo) without converting BatchNorm.

    SpeechBrain 1.1.2 turns every BatchNorm into ``SyncBatchNorm`` under DDP, which PyTorch runs
    on GPUs only; on CPU each process keeps its own batch statistics instead. Use it from a
    ``Brain._wrap_distributed`` override when ``torch.device(self.device).type == "cpu"``.

    Parameters
    ----------
    modules : torch.nn.ModuleDict
        ``Brain.modules``; entries with trainable parameters are replaced in place.
    find_unused_parameters : bool
        Passed to ``DistributedDataParallel``.
    """
    for name, module in modules.items():
        if any(p.requires_grad for p in module.parameters()):
            modules[name] = torch.nn.parallel.DistributedDataParallel(
                module, device_ids=None, find_unused_parameters=find_unused_parameters
            )

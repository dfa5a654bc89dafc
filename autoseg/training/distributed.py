"""Data-parallel training: which process this is, how processes start, and what they exchange.

One process per GPU (or per CPU process on the ``gloo`` backend, which the tests
use). ``torchrun`` starts them and sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT; ``launch`` does the same from Python for
``autoseg train --num_gpus N``. The planned batch is split between the
processes, so N GPUs train with the plan's batch and learning rate, and each
process makes its share of every batch (autoseg/data/loader.py).
"""

from __future__ import annotations

import datetime
import os
import socket
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from autoseg.errors import AutosegError

# Rank 0 may predict many validation cases while the others wait at a barrier.
TIMEOUT = datetime.timedelta(hours=6)


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes; ``Processes()`` is a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def share(self, total: int) -> tuple[int, int]:
        """Returns (start, count) of this process's part of ``total`` items, the first parts one larger."""
        base, extra = divmod(total, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, base + (1 if self.rank < extra else 0)

    def device(self, requested: torch.device) -> torch.device:
        """Each process gets its own GPU (cuda:LOCAL_RANK); CPU processes share the CPU."""
        if requested.type == "cuda" and self.distributed:
            return torch.device("cuda", self.local_rank)
        return requested

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Returns ``values`` summed element-wise over all processes."""
        return self.sum_tensors({"values": torch.tensor(values, dtype=torch.float64)})["values"].tolist()

    def sum_tensors(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Returns each (CPU) tensor summed element-wise over all processes, as float64."""
        if not self.distributed:
            return tensors
        names = sorted(tensors)
        flat = torch.cat([tensors[name].double().reshape(-1).cpu() for name in names])
        flat = flat.cuda() if dist.get_backend() == "nccl" else flat
        dist.all_reduce(flat)
        pieces = flat.cpu().split([tensors[name].numel() for name in names])
        return {name: piece.reshape(tensors[name].shape) for name, piece in zip(names, pieces)}


def from_environment() -> Processes:
    """Reads the process's rank from torchrun's environment variables (a single process when unset)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes()
    return Processes(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def start(processes: Processes, device: torch.device) -> None:
    """Joins the process group (nccl on CUDA, gloo otherwise) unless this is a single process."""
    if not processes.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo", rank=processes.rank, world_size=processes.world_size, timeout=TIMEOUT
    )


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawned(rank: int, world_size: int, port: int, function: Callable, kwargs: dict) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    function(**kwargs)


def launch(function: Callable, num_processes: int, device_type: str, **kwargs) -> None:
    """Runs ``function(**kwargs)`` in ``num_processes`` new processes on this machine, as torchrun would.

    ``function`` must be importable by name (a module-level function).
    """
    if os.environ.get("WORLD_SIZE", "1") != "1":
        raise AutosegError("--num_gpus cannot be used inside torchrun; torchrun already started the processes (--nproc_per_node).")
    if device_type == "cuda" and num_processes > torch.cuda.device_count():
        raise AutosegError(f"--num_gpus {num_processes} asks for more GPUs than the {torch.cuda.device_count()} this machine has.")
    mp.spawn(_spawned, args=(num_processes, _free_port(), function, kwargs), nprocs=num_processes, join=True)

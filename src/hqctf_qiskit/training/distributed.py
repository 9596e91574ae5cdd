"""Multi-process training under ``torchrun`` (DistributedDataParallel), and a no-op context otherwise.

QPG circuit and mapping parameters are ordinary parameters: DDP replicates and all-reduces them like any other, and
each rank makes one engine call per QPG layer per step. Rank 0 alone writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "DistContext":
        """torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; a plain process is a world of one."""
        return cls(int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def init(self, device: torch.device) -> torch.device:
        """Join the process group (gloo on CPU, NCCL on CUDA); returns this rank's device."""
        if not self.enabled:
            return device
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def broadcast_path(self, path: Path | None) -> Path:
        """Rank 0's run folder for every rank (a timestamped default name could differ between ranks)."""
        if not self.enabled:
            assert path is not None
            return path
        box = [str(path) if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return Path(box[0])

    def shard(self, indices: list[int]) -> list[int]:
        """This rank's share of an epoch's draw: every rank sees different slices, together the whole draw."""
        return indices[self.rank :: self.world_size]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def parameters_identical(self, model: nn.Module) -> bool:
        """True when every rank holds the same parameters (max and min of a per-rank checksum agree)."""
        if not self.enabled:
            return True
        with torch.no_grad():
            flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
            checksum = torch.stack([flat.sum(), (flat * torch.arange(len(flat), dtype=torch.float64)).sum()])
            high, low = checksum.clone(), checksum.clone()
            dist.all_reduce(high, op=dist.ReduceOp.MAX)
            dist.all_reduce(low, op=dist.ReduceOp.MIN)
        return bool(torch.equal(high, low))

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

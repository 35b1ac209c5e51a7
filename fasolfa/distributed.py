"""Several processes and machines, on existing engines: ``torchrun`` for training, a share of
the files per rank (and ``--jobs`` worker processes) for transcription.

* :func:`world_from_env` reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as ``torchrun`` (or a
  scheduler) sets them; :func:`shard` gives a rank its share of a listing.
* :class:`Group` is what the training loop needs from a process group: the rank, the world
  size, sums over ranks, a barrier, and rank 0's decisions broadcast to every rank. One
  process is ``Group()`` (every operation the identity), so the loop has one code path.
* :class:`SyncBatchNorm` normalises with the statistics of the *global* batch (every rank's
  share), on any device; ``torch.nn.SyncBatchNorm`` only runs on CUDA. With it, a run on ``W``
  processes, each given ``batch_size / W`` windows of every step, computes the gradient of the
  one-process run on ``batch_size`` windows (up to float rounding).

Explained in the README's "Scaling" section.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
from torch import nn

from fasolfa.errors import FasolfaError

COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)   # rank 0 may validate a long while; others wait
FINISH_TIMEOUT = datetime.timedelta(days=7)        # a rank done with its files waits for the slowest


def world_from_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the environment (``torchrun``, Slurm wrappers);
    ``(0, 1, 0)`` when unset. Raises :class:`FasolfaError` for values that cannot be right."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise FasolfaError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise FasolfaError(f"RANK={rank} WORLD_SIZE={world_size}: expected 0 <= RANK < WORLD_SIZE")
    return rank, world_size, local_rank


def shard(items, rank: int, world_size: int) -> list:
    """Rank ``rank``'s share of ``items``: ``sorted(items)[rank::world_size]`` (every rank must
    be given the same listing; together the shares hold each item exactly once)."""
    return sorted(items)[rank::world_size]


@dataclass(frozen=True)
class Group:
    """The processes of one training run (``world_size == 1``: one process, no communication)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def total(self, value: torch.Tensor) -> torch.Tensor:
        """Sum of ``value`` (any shape) over the ranks, without gradient (a new tensor)."""
        value = value.detach().clone()
        if self.distributed:
            torch.distributed.all_reduce(value)
        return value

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def from_main(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if not self.distributed:
            return value
        holder = [value if self.is_main else None]
        torch.distributed.broadcast_object_list(holder, src=0)
        return holder[0]


def start(device_type: str = "cpu") -> Group:
    """The process group of this run: under ``torchrun`` (``WORLD_SIZE`` > 1) it is initialised
    (``gloo`` for CPU, ``nccl`` for CUDA); otherwise ``Group()``."""
    rank, world_size, local_rank = world_from_env()
    if world_size == 1:
        return Group()
    if not torch.distributed.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return Group(rank, world_size, local_rank)


def stop(group: Group, wait: bool = True) -> None:
    """End the process group (``wait``: once every rank is here; not after an error, when the
    other ranks may never come)."""
    if group.distributed and torch.distributed.is_initialized():
        if wait:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


@contextlib.contextmanager
def finishing_together(timeout: datetime.timedelta = FINISH_TIMEOUT):
    """Under ``torchrun`` (``WORLD_SIZE`` > 1 and ``MASTER_ADDR`` set): a gloo process group
    whose barrier at the end holds every rank until all are done, because torchrun stops the
    ranks still working as soon as one exits with a non-zero status (a folder run with a bad
    file). Elsewhere (one process, a scheduler's array task): nothing."""
    _, world_size, _ = world_from_env()
    if world_size == 1 or "MASTER_ADDR" not in os.environ or torch.distributed.is_initialized():
        yield
        return
    torch.distributed.init_process_group("gloo", timeout=timeout)
    try:
        yield
    finally:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation over the global batch of a distributed run, on CPU or CUDA.

    Training mode: the per-channel mean, then the biased variance, of the inputs of *every*
    rank (two differentiable all-reduces of ``(sum, count)`` and of the summed squared
    deviations from the global mean), so the output and its gradient are those of
    ``nn.BatchNorm*d`` on the concatenated batch; the running statistics are updated as
    BatchNorm does (unbiased variance). Eval mode, or a single process: plain batch norm.
    Same parameters and buffers as ``nn.BatchNorm1d/2d``, so state dicts are interchangeable.
    Input ``(batch, channels, ...)``.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (batch, channels, ...), got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized() \
            and torch.distributed.get_world_size() > 1
        if not (self.training and distributed):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_count = x.numel() // x.shape[1]
        sums = torch.cat([x.sum(dims), x.new_full((1,), float(local_count))])        # (C + 1,)
        sums = all_reduce(sums)
        count = sums[-1].detach()
        mean = sums[:-1] / count                                                      # (C,)
        centred = x - mean.reshape(shape)
        variance = all_reduce((centred * centred).sum(dims)) / count                  # (C,) biased
        out = centred * torch.rsqrt(variance + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                unbiased = variance.detach() * (count / (count - 1).clamp(min=1))
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        return out


def convert_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm1d/2d`` inside ``module`` by a :class:`SyncBatchNorm` holding
    the same parameters and buffers (in place; returns ``module``)."""
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            synced = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats,
                                   device=child.running_mean.device if child.running_mean is not None else None)
            synced.load_state_dict(child.state_dict())
            synced.train(child.training)
            setattr(module, name, synced)
        else:
            convert_batch_norm(child)
    return module

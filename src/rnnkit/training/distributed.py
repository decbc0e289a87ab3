"""Data-parallel training: the processes that ``torchrun`` starts, and what they agree on.

``torchrun --nproc-per-node N rnnkit train TASK ...`` starts N processes with ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` in their environment; :func:`start` joins them into one process group
(gloo for a model on the CPU, nccl for one on CUDA). Without ``WORLD_SIZE`` (or with 1) nothing
is started and every method here does what one process alone would do.

How the work is split (:class:`Processes`):

- every process builds the same global batch (``task.batch(epoch, index)`` is a pure function of
  the seed) and keeps its own rows, :meth:`Processes.share`: process r of N takes rows
  ``[r*B // N, (r+1)*B // N)``, so the shares of a batch of B rows differ by at most one row. The
  language model's rows are its B streams, so each process carries the state of its own streams;
  a shuffled task's rows are its epoch's permutation, the same on every process;
- DistributedDataParallel averages the gradients over the N processes. Each process weights its
  mean loss by ``N * n_r / n`` (n_r: the items it averaged, n: those of the whole batch), so the
  average is the mean over the global batch: ``1/N sum_r N n_r/n L_r = sum_r n_r L_r / n``, the
  gradient one process computes from the whole batch (for every task whose loss is a mean over
  its items: characters, tokens, texts, windows);
- process 0 (:attr:`Processes.leads`) evaluates, decides (best weights, early stopping) and
  writes the run directory; the others receive its decisions (:meth:`Processes.broadcast`).

Failures: every process reaches the same points in the same order. At each one
(:meth:`Processes.together`) they exchange whether they failed; an error on any process is then
raised on all of them, with the message of the first process that met one, so that no process
waits forever for one that stopped.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: the CLI asks leads() in any state
    import torch
    from torch import nn


def backend_for(device: torch.device) -> str:
    """The collective backend for a model on ``device``: nccl for CUDA, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def launched() -> bool:
    """Whether this process is one of several that torchrun started (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def leads() -> bool:
    """Whether this process speaks for the job (rank 0, or the only process): the one that
    prints messages and writes files."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass(frozen=True)
class Processes:
    """This process's place among the ``world_size`` processes of one training job."""

    rank: int = 0
    world_size: int = 1
    backend: str | None = None  # None: one process, no process group

    @property
    def leads(self) -> bool:
        return self.rank == 0

    @property
    def alone(self) -> bool:
        return self.world_size == 1

    # --- the model ------------------------------------------------------------------------------
    def replicate(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel (the model itself when alone). Buffers are
        not synchronised in the forward pass: rnnkit's buffers are constants, and a forward pass
        then holds no collective, so a process that fails before it leaves none waiting."""
        if self.alone:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)

    # --- the data -------------------------------------------------------------------------------
    def share(self, batch: Any) -> tuple[Any, bool]:
        """This process's rows of a global batch (a tensor or a tuple of tensors, rows first),
        and whether they count. A share with no rows (the last batch of an epoch may have fewer
        rows than there are processes) is the batch's first row, not counted: the process still
        runs the model, as DistributedDataParallel needs, with weight 0."""
        if self.alone:
            return batch, True
        rows = rows_of(batch)
        low, high = self.rank * rows // self.world_size, (self.rank + 1) * rows // self.world_size
        if low == high:
            return take_rows(batch, 0, 1), False
        return take_rows(batch, low, high), True

    # --- agreeing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Run a block on every process; an exception on any of them is raised on all of them
        once every process has finished the block (the first process's error, by rank)."""
        try:
            yield
        except Exception as error:
            if self.alone:
                raise
            self._agree(error)
            raise
        if not self.alone:
            self._agree(None)

    def _agree(self, error: Exception | None) -> None:
        import torch
        import torch.distributed as dist

        failed = torch.tensor([self.world_size if error is None else self.rank])
        dist.all_reduce(failed, op=dist.ReduceOp.MIN)  # (1,): the first process that failed
        first = int(failed)
        if first == self.world_size:
            return
        message = [portable(error) if self.rank == first else None]
        dist.broadcast_object_list(message, src=first)
        if self.rank != first:
            raise message[0]

    def mean(self, value: float, count: int) -> tuple[float, int]:
        """The mean over every process of a value averaged over ``count`` items on each, and
        the items in all: ``(sum_r n_r v_r / n, n)``; a NaN anywhere is a NaN everywhere."""
        if self.alone:
            return value, count
        import torch
        import torch.distributed as dist

        sums = torch.tensor([value * count, float(count)], dtype=torch.float64)
        dist.all_reduce(sums)
        total = int(sums[1])
        return float(sums[0]) / max(total, 1), total

    def synchronise(self, clock: float, reason: str | None) -> tuple[float, str | None]:
        """Process 0's ``clock``, and the first ``reason`` (by rank) that is not None: one
        process's reason to stop stops them all."""
        if self.alone:
            return clock, reason
        import torch.distributed as dist

        pairs: list[Any] = [None] * self.world_size
        dist.all_gather_object(pairs, (clock, reason))
        return pairs[0][0], next((r for _, r in pairs if r is not None), None)

    def broadcast(self, value: Any) -> Any:
        """Process 0's ``value`` on every process."""
        if self.alone:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any] | None:
        """Every process's ``value``, by rank, on process 0; None on the others."""
        if self.alone:
            return [value]
        import torch.distributed as dist

        values = [None] * self.world_size if self.leads else None
        dist.gather_object(value, values, dst=0)
        return values


def rows_of(batch: Any) -> int:
    """How many rows a batch has (its first tensor's first dimension)."""
    from torch import Tensor

    tensors = batch if isinstance(batch, (tuple, list)) else (batch,)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("a batch to share between processes is a tensor or a tuple of tensors")
    rows = {t.shape[0] for t in tensors}
    if len(rows) != 1:
        raise TypeError(f"the tensors of a batch must have the same rows, got {sorted(rows)}")
    return rows.pop()


def take_rows(batch: Any, low: int, high: int) -> Any:
    """Rows ``[low, high)`` of every tensor of a batch."""
    from torch import Tensor

    if isinstance(batch, Tensor):
        return batch[low:high]
    return type(batch)(t[low:high] for t in batch)


def portable(error: Exception) -> Exception:
    """``error`` as another process can raise it: itself when it pickles, else a RuntimeError
    naming it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # an exception with arguments that do not pickle
        return RuntimeError(f"{type(error).__name__}: {error}")


def start(device: torch.device | None = None) -> Processes:
    """Join the process group of a torchrun job (once; the backend chosen for ``device``, the
    CPU by default) and return this process's place in it; one process alone without torchrun."""
    if not launched():
        return Processes()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend_for(device or torch.device("cpu")))
    return Processes(dist.get_rank(), dist.get_world_size(), dist.get_backend())


def finish() -> None:
    """Leave the process group (at the end of a command)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

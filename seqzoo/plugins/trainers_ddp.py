"""The ``ddp`` trainer: :class:`~seqzoo.plugins.training_loops.Supervised` on several processes
with :class:`torch.nn.parallel.DistributedDataParallel` (gloo on the CPU, NCCL on CUDA).

Launch on one machine with ``seqzoo train --nproc N --trainer ddp ...`` (it runs
``python -m torch.distributed.run --standalone --nproc-per-node N -m seqzoo train ...``), or
with torchrun directly::

    torchrun --nproc-per-node 2 -m seqzoo train --trainer ddp --dataset sunspots --run-dir DIR

Several machines: start the same command on each, with its node rank::

    torchrun --nnodes 2 --node-rank R --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
        --nproc-per-node N -m seqzoo train --trainer ddp --run-dir DIR ...

(``--resume`` then needs ``DIR`` on a file system every node sees: each rank loads rank 0's
``last`` checkpoint.)

What is split: every rank draws the same shuffled order of the training samples (the same
seed and generator), cuts each global batch of ``batch_size`` samples into ``WORLD_SIZE``
contiguous parts of equal size (+-1) and trains on its own part; DDP averages the gradients.
Each rank's loss is weighted by ``WORLD_SIZE * its_samples / batch_samples``, so the averaged
gradient is the gradient of the whole batch's mean loss also for a ragged last batch (a rank
left without a sample runs one with weight 0): with the same global ``batch_size`` and seed, N
processes reach the weights one process reaches, to float rounding (no dropout). The epoch's
per-batch losses are all-reduced once per epoch, so every rank logs the same ``train_loss``
and a NaN/inf on any rank stops every rank (``NonFiniteLossError`` everywhere). Validation
runs in full on every rank (identical weights, identical metrics), so early stopping and
plateau schedules agree without communication.

What only rank 0 does: checkpoints, ``history.json`` / ``metrics.csv``, ``loss.png``, the
epoch lines and progress bar, ``run.json`` and the saved window (through ``seqzoo train``,
which gives the other ranks no run directory), the ``SEQZOO_PROFILE`` record. Without a
distributed environment (``WORLD_SIZE`` unset or 1) ``ddp`` trains exactly as ``supervised``.

``timeout`` (seconds, default 300) bounds every collective: a rank that stops answering ends
the others with an error instead of a hang (torchrun also stops the rest when one fails and
names the failing rank). Ctrl-C under several processes stops the run but, unlike a single
process, does not save an exact mid-epoch position; resume continues from ``last``.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.errors import ConfigError, Interrupted, SeqzooError
from seqzoo.core.training import EpochRow, History
from seqzoo.plugins.training_loops import Supervised, _Step
from seqzoo.plugins.training_run import Progress, Run

__all__ = ["DDP", "PeerFailedError", "ShardedSplit", "world"]

#: A directory where each rank that fails writes ``rank-R.json`` (``seqzoo train --nproc``
#: sets it, to name the rank that failed first rather than one that lost its peer).
REPORT_DIR = "SEQZOO_DDP_REPORT"

_PEER_SIGNS = ("connection closed", "connection reset", "timed out", "timeout", "broken pipe")


class PeerFailedError(SeqzooError, RuntimeError):
    """This rank's collective failed because another rank of the run stopped (or stopped
    answering within ``timeout``); that rank's own error names the cause."""


def _peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing on a peer that went away or hung."""
    if isinstance(exc, SeqzooError):
        return False
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(exc, dist_error):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc).lower() for s in _PEER_SIGNS)


def _report(rank: int, exc: BaseException, peer: bool) -> None:
    """Record this rank's failure for the launcher (best effort: the error itself matters)."""
    folder = os.environ.get(REPORT_DIR)
    if not folder:
        return
    record = {"rank": rank, "time": time.time(), "peer": peer, "error": str(exc).strip()}
    try:
        path = os.path.join(folder, f"rank-{rank}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({**record, "type": type(exc).__name__}, handle)
    except OSError:
        pass


def world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process: from the process group when one is
    initialised, else torchrun's environment variables (``(0, 1, 0)`` without them)."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0") or 0)
        return dist.get_rank(), dist.get_world_size(), local
    try:
        size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        rank = int(os.environ.get("RANK", "0") or 0)
        local = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)"
        ) from None
    return rank, size, local


def _takes_lengths(model: nn.Module) -> bool:
    try:
        return "lengths" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


class ShardedSplit:
    """A training split as one rank sees it: :meth:`batches` draws the global order with the
    generator given (as the split itself would), and yields this rank's contiguous part of
    each global batch; ``weight`` is then ``world * part / batch`` (0 for a stand-in sample
    when the batch has fewer samples than ranks)."""

    def __init__(self, split: Split, rank: int, size: int) -> None:
        self.split, self.rank, self.size = split, rank, size
        self.weight = 1.0

    def __len__(self) -> int:
        return len(self.split)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]:
        rank, size = self.rank, self.size
        for inputs, targets, lengths in self.split.batches(
            batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last
        ):
            n = len(inputs)
            lo, hi = n * rank // size, n * (rank + 1) // size
            if hi > lo:
                self.weight = size * (hi - lo) / n
            else:  # DDP needs a backward on every rank: one sample that counts for nothing
                lo, hi, self.weight = 0, 1, 0.0
            part = slice(lo, hi)
            yield inputs[part], targets[part], None if lengths is None else lengths[part]


class DDP(Supervised):
    """Data-parallel :class:`Supervised` training over ``torch.distributed`` (see the module
    doc). Extra option: ``timeout`` (seconds every collective may wait, default 300). The
    other options are :class:`Supervised`'s; ``batch_size`` is the global batch, split across
    the ranks. ``device="auto"`` (or ``"cuda"``) picks ``cuda:LOCAL_RANK`` when CUDA is there.
    """

    name = "ddp"

    def __init__(self, timeout: float = 300.0, **options: Any) -> None:
        _, size, local = world()
        device = options.get("device", "auto")
        if size > 1 and isinstance(device, str) and device.strip().lower() in ("auto", "cuda"):
            if torch.cuda.is_available():  # one GPU per local rank
                options["device"] = f"cuda:{local % torch.cuda.device_count()}"
            elif device.strip().lower() == "auto":
                options["device"] = "cpu"  # gloo: not MPS
        super().__init__(**options)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(
                f"must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        self.timeout = float(timeout)
        self._rank, self._size = 0, 1
        self._wrapped: nn.Module | None = None

    def fit(
        self,
        model: nn.Module,
        data: SequenceData,
        optimizer: torch.optim.Optimizer,
        schedule: Any = None,
        resume: Any = None,
    ) -> History:
        """As :meth:`Supervised.fit`, on every rank of the process group (initialised here
        from torchrun's environment when it is not yet, and destroyed again at the end)."""
        size = world()[1]
        if size <= 1:
            self._rank, self._size = 0, 1
            return super().fit(model, data, optimizer, schedule=schedule, resume=resume)
        created = not dist.is_initialized()
        if created:
            backend = "nccl" if torch.device(self.device).type == "cuda" else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(torch.device(self.device))
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=self.timeout))
        self._rank, self._size = dist.get_rank(), dist.get_world_size()
        quiet = self.quiet
        if self._rank != 0:
            self.quiet = True  # one progress bar and one set of epoch lines: rank 0's
        try:
            return super().fit(model, data, optimizer, schedule=schedule, resume=resume)
        except Exception as exc:
            if isinstance(exc, Interrupted):  # Ctrl-C reaches every rank: not a failure
                raise
            peer = _peer_failure(exc)
            _report(self._rank, exc, peer)
            if peer:
                raise PeerFailedError(
                    f"rank {self._rank} stopped: another rank of the distributed run failed or "
                    f"did not answer within timeout={self.timeout:g} s ({str(exc).strip()}); "
                    "that rank's error names the cause"
                ) from exc
            raise
        finally:
            self.quiet, self._wrapped = quiet, None
            if created and dist.is_initialized():
                dist.destroy_process_group()

    def _fit(self, run: Run, model: nn.Module, data: SequenceData, *args: Any) -> History:
        if self._size > 1:
            if self._rank != 0:  # only rank 0 writes: no checkpoints, history, plot, profile
                run.run_dir = None
                run.profile = lambda seconds: None  # type: ignore[method-assign]  # ranks > 0 keep no profile
            from torch.nn.parallel import DistributedDataParallel

            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            ids = [device] if device.type == "cuda" else None
            # its construction broadcasts rank 0's weights: every rank starts the same
            self._wrapped = DistributedDataParallel(model, device_ids=ids)
        return super()._fit(run, model, data, *args)

    def _forward(self, model: nn.Module) -> Callable[..., Any]:
        if self._wrapped is None:
            return super()._forward(model)
        wrapped = self._wrapped
        if _takes_lengths(model):  # DDP's own forward takes anything: ask the model
            return lambda x, lengths: wrapped(x) if lengths is None else wrapped(x, lengths=lengths)
        return lambda x, lengths: wrapped(x)

    def _train_epoch(
        self,
        model: nn.Module,
        split: Split,
        optimizer: torch.optim.Optimizer,
        step: _Step,
        bar: Any,
        progress: Progress,
    ) -> list[Tensor]:
        if self._size <= 1:
            return super()._train_epoch(model, split, optimizer, step, bar, progress)
        shard = ShardedSplit(split, self._rank, self._size)
        loss = step.loss

        def weighted(output: Tensor, target: Tensor) -> Tensor:
            return loss(output, target) * shard.weight

        step = step._replace(loss=weighted)
        # a ShardedSplit has the Split interface the loop uses (batches, len, inputs)
        losses = super()._train_epoch(model, shard, optimizer, step, bar, progress)  # type: ignore[arg-type]  # duck-typed Split
        if losses:  # the whole batches' mean losses, the same on every rank (one collective)
            stacked = torch.stack(losses).float()
            dist.all_reduce(stacked)
            losses[:] = list((stacked / self._size).unbind())
        return losses

    def _log(self, row: EpochRow) -> None:
        if self._rank == 0:
            super()._log(row)

"""The ``ddp`` trainer: :class:`~seqzoo.plugins.trainers.supervised.Supervised` on several processes
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
names the failing rank).

Ctrl-C (SIGINT, to any rank or all of them; torchrun passes its own on): every rank stops after
the same batch. The ranks vote between batches (a tiny all-reduce on a gloo group of their
own, about every 0.1 s, each read at the next vote, so it overlaps the compute); once any rank
has seen a SIGINT, all of them raise the KeyboardInterrupt at that batch, average the epoch's
batch losses, and rank 0 saves the exact position as ``last``, as a single process does: a
resume, on any number of processes, continues as if the run had never stopped (to float
rounding). The other ranks wait for that save, then exit (status 130). A SIGINT that comes
twice (the terminal's and torchrun's) counts once; one more, 2 s or more later, stops that
rank at once (its peers then stop with :class:`PeerFailedError`).
"""

from __future__ import annotations

import contextlib
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
from seqzoo.plugins.trainers.ddp_stop import StopVote
from seqzoo.plugins.trainers.run import Progress, Run
from seqzoo.plugins.trainers.supervised import Supervised, _Step

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


def _report(rank: int, exc: BaseException | None, peer: bool, **extra: Any) -> None:
    """Record this rank's failure (or interrupt, or completion: ``extra``) for the launcher
    (best effort: the error itself matters)."""
    folder = os.environ.get(REPORT_DIR)
    if not folder:
        return
    error, kind = ("", "") if exc is None else (str(exc).strip(), type(exc).__name__)
    record = {"rank": rank, "time": time.time(), "peer": peer, "error": error, "type": kind}
    try:
        path = os.path.join(folder, f"rank-{rank}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({**record, **extra}, handle)
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
    when the batch has fewer samples than ranks). With ``votes`` the ranks vote on a Ctrl-C
    around every batch (:meth:`StopVote.between`)."""

    def __init__(self, split: Split, rank: int, size: int, votes: StopVote | None = None) -> None:
        self.split, self.rank, self.size, self.votes = split, rank, size, votes
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
        whole = self.split.batches(
            batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last
        )
        if self.votes is not None:  # Ctrl-C: every rank stops after the same batch
            whole = self.votes.between(whole)
        for inputs, targets, lengths in whole:
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
        self._votes: StopVote | None = None

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
        timeout = datetime.timedelta(seconds=self.timeout)
        # the stop votes on a gloo group of their own: CPU numbers, no device sync per batch
        self._votes = StopVote(dist.new_group(backend="gloo", timeout=timeout))
        try:
            with self._votes:
                history = super().fit(model, data, optimizer, schedule=schedule, resume=resume)
            if self._votes.requested is not None:  # a Ctrl-C after the last vote: completed
                _report(self._rank, None, False, completed=True)
            return history
        except Interrupted as exc:  # Ctrl-C: rank 0 saved last; not a failure
            self._interrupted(exc)
            raise
        except Exception as exc:
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
            votes, self.quiet, self._wrapped, self._votes = self._votes, quiet, None, None
            if created and dist.is_initialized():
                dist.destroy_process_group()
            elif votes is not None and dist.is_initialized():  # the caller's group lives on
                with contextlib.suppress(Exception):
                    dist.destroy_process_group(votes.group)

    def _interrupted(self, exc: Interrupted) -> None:
        """After a Ctrl-C: wait for rank 0's save, report for the launcher, and say on the
        other ranks that rank 0 saved the run (their own message would say nothing was)."""
        assert self._votes is not None
        self._votes.settle(self.timeout)
        where = {k: getattr(exc, k, None) for k in ("epoch", "batch", "exact")}
        saved, run_dir = getattr(exc, "checkpoint", None), getattr(exc, "run_dir", None)
        paths = {"checkpoint": str(saved or ""), "run_dir": str(run_dir or "")}
        _report(self._rank, exc, False, interrupted=True, **paths, **where)
        if self._rank != 0:
            together = "with every rank" if self._votes.agreed else "at once"
            exc.args = (
                f"rank {self._rank} stopped {together} (Ctrl-C) in epoch {where['epoch']} after "
                f"{where['batch']} batch(es); rank 0 saved the run",
            )

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
        shard = ShardedSplit(split, self._rank, self._size, self._votes)
        loss = step.loss

        def weighted(output: Tensor, target: Tensor) -> Tensor:
            return loss(output, target) * shard.weight

        step = step._replace(loss=weighted)
        try:
            # a ShardedSplit has the Split interface the loop uses (batches, len, inputs)
            losses = super()._train_epoch(model, shard, optimizer, step, bar, progress)  # type: ignore[arg-type]  # duck-typed Split
        except KeyboardInterrupt:
            if self._votes is not None and self._votes.agreed:  # every rank at this boundary
                self._average(progress.losses)  # so rank 0 saves the whole batches' losses
            raise
        self._average(losses)
        return losses

    def _average(self, losses: list[Tensor]) -> None:
        """Turn the ranks' weighted losses into the whole batches' mean losses, the same on
        every rank (one collective; batches a resume loaded are alike everywhere already)."""
        if losses:
            stacked = torch.stack(losses).float()
            dist.all_reduce(stacked)
            losses[:] = list((stacked / self._size).unbind())

    def _log(self, row: EpochRow) -> None:
        if self._rank == 0:
            super()._log(row)

"""Ctrl-C under the ``ddp`` trainer (:mod:`seqzoo.plugins.trainers.ddp`): every rank stops after
the same batch, whichever ranks the SIGINT reached. A rank that stopped alone would leave the
others waiting in a collective, and rank 0 could not save a position they share.
"""

from __future__ import annotations

import contextlib
import datetime
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["REPEAT_GRACE", "VOTE_SECONDS", "StopVote"]

#: Seconds within which a repeated SIGINT is the same Ctrl-C delivered twice (the terminal's to
#: every process, then torchrun's to its workers), not a second one that means "now".
REPEAT_GRACE = 2.0

#: About how many seconds apart the ranks vote on a Ctrl-C (every batch when batches are slower).
VOTE_SECONDS = 0.1

_T = TypeVar("_T")


class StopVote:
    """Ctrl-C across the ranks: ``with StopVote(group):`` a SIGINT only marks this rank as
    wanting to stop (the same one delivered twice within :data:`REPEAT_GRACE` counts once; a
    later one raises KeyboardInterrupt at once). :meth:`between` wraps an epoch's batches and
    votes with the other ranks over ``group``: at the epoch's start (a Ctrl-C during the last
    validation or save: a blocking vote, which also agrees on the slowest rank's batch time)
    and then every ``k`` batches, ``k`` such that votes come about :data:`VOTE_SECONDS` apart;
    each is read at the next one, ``k`` batches later (done by then: no wait), the last at
    the epoch's end. When any rank wants to stop, all raise KeyboardInterrupt at that batch.
    The handler goes in only in the main thread and over Python's default one."""

    def __init__(self, group: Any) -> None:
        self.group = group
        self.requested: float | None = None  # when this rank's first SIGINT came
        self.agreed = False
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None
        self.batch_seconds = 0.0  # this rank's mean batch time in the last epoch

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is None:
            self.requested = time.monotonic()
        elif time.monotonic() - self.requested >= REPEAT_GRACE:
            raise KeyboardInterrupt

    def __enter__(self) -> StopVote:
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _start(self, *extra: float) -> tuple[Tensor, Any]:
        flag = torch.tensor([0.0 if self.requested is None else 1.0, *extra])
        return flag, dist.all_reduce(flag, dist.ReduceOp.MAX, group=self.group, async_op=True)

    def _count(self, vote: tuple[Tensor, Any]) -> Tensor:
        flag, work = vote
        work.wait()
        if float(flag[0]) > 0:
            self.agreed = True
            raise KeyboardInterrupt  # the batch loop saves the position it stands at
        return flag

    def between(self, batches: Iterator[_T]) -> Iterator[_T]:
        """``batches`` with the votes of the class doc between them."""
        slowest = float(self._count(self._start(self.batch_seconds))[1])
        every = max(1, int(VOTE_SECONDS / slowest)) if slowest > 0 else 1
        pending: tuple[Tensor, Any] | None = None
        began, count = time.perf_counter(), 0
        for index, batch in enumerate(batches):
            if index % every == 0:
                if pending is not None:  # the vote before: done by now, as a rule
                    self._count(pending)
                pending = self._start()  # in flight while the next batches train
            yield batch
            count += 1
        if count:
            self.batch_seconds = (time.perf_counter() - began) / count
        if pending is not None:
            self._count(pending)

    def settle(self, timeout: float) -> None:
        """After an agreed stop: wait until every rank got here (rank 0 once it has saved
        ``last``), so no rank exits while rank 0 still writes (torchrun would stop it)."""
        if not self.agreed:
            return
        with contextlib.suppress(Exception):  # a peer gone already: nothing to wait for
            dist.barrier(group=self.group, timeout=datetime.timedelta(seconds=timeout))

"""How a ``fit`` stops before its last epoch: the loss diverged (:class:`NonFiniteLossError`)
or Ctrl-C (:class:`TrainingInterrupted`, after the exact position was saved)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Interrupted, SeqzooError

if TYPE_CHECKING:
    from .history import History

__all__ = ["NonFiniteLossError", "TrainingInterrupted"]


class NonFiniteLossError(SeqzooError, FloatingPointError):
    """The loss became NaN or infinite; ``epoch`` and ``batch`` (1-based; ``batch`` is None
    for the validation loss) locate it. The model holds the weights it had at the end of the
    last finite epoch again (the initial weights when the first epoch diverged): losses are
    checked once per epoch, so the hot loop never waits on the device."""

    def __init__(self, epoch: int, batch: int | None, loss: float, *, saved: str = "") -> None:
        self.epoch, self.batch, self.loss = epoch, batch, loss
        where = (
            f"epoch {epoch}, batch {batch}" if batch is not None else f"epoch {epoch} (validation)"
        )
        restored = f"the end of epoch {epoch - 1}" if epoch > 1 else "the start of training"
        super().__init__(
            f"the loss became {loss} at {where}; the model's weights were restored to those of "
            f"{restored}{saved}. Try a lower learning rate (e.g. 10x lower), scaling the inputs "
            "(standardize features and targets), or gradient clipping (clip=1.0; --clip 1.0 on "
            "the command line)"
        )


class TrainingInterrupted(Interrupted):
    """Ctrl-C during ``fit``: raised from the KeyboardInterrupt after the current state was
    saved as the ``last`` checkpoint (``checkpoint``; None without a run directory). ``epoch``
    is the interrupted epoch and ``batch`` the batches of it already trained; ``exact`` says
    whether the checkpoint holds that very position (a resume then continues as if training
    had never stopped) or only the last save before it (``last`` could not be brought to a
    batch boundary: the interrupt fell inside an optimizer step). ``history`` holds the
    completed epochs."""

    def __init__(
        self,
        epoch: int,
        checkpoint: Path | None,
        history: History,
        *,
        batch: int = 0,
        exact: bool = True,
        run_dir: Path | None = None,
    ) -> None:
        self.epoch, self.checkpoint, self.history = epoch, checkpoint, history
        self.batch, self.exact = batch, exact
        self.run_dir = (
            run_dir if run_dir is not None or checkpoint is None else checkpoint.parents[1]
        )
        where = f"training interrupted in epoch {epoch} after {batch} batch(es)"
        again = (
            f"Continue it with\n  seqzoo train --resume {self.run_dir}\n"
            f"(Python: seqzoo.train(resume={str(self.run_dir)!r}))"
        )
        if self.run_dir is None:
            message = f"{where} (no run directory: nothing was saved)"
        elif exact:
            message = f"{where}; that exact state is saved in {checkpoint}. {again}"
        elif checkpoint is not None:
            message = (
                f"{where}, inside an optimizer step, which is no whole state to save; "
                f"{checkpoint} keeps the last save before it. {again}"
            )
        else:
            message = (
                f"{where}, inside an optimizer step, before anything was saved; start the "
                f"run again with --overwrite (overwrite=True in Python)"
            )
        super().__init__(message)

"""tbptt with ``carry="epoch"``: the training text as contiguous lanes, the state carried from
chunk to chunk through an epoch, and a Ctrl-C mid-epoch that resumes bit for bit."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from test_exact_resume import Interrupting
from test_training import sine_data, tensors
from torch import Tensor, nn

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.errors import ConfigError
from seqzoo.core.training import TrainingInterrupted
from seqzoo.plugins.models.embedding_lstm import EmbeddingLSTM
from seqzoo.plugins.trainers.tbptt import TBPTT, stream_lanes

VOCAB, WINDOW = 6, 24


def windows(stream: Tensor) -> Split:
    """Non-overlapping windows of one stream and their next tokens, as the text dataset cuts."""
    cut = stream.unfold(0, WINDOW + 1, WINDOW)
    return Split(cut[:, :-1].contiguous(), cut[:, 1:].contiguous())


def text_data(tokens: int = 24 * 20 + 1) -> SequenceData:
    generator = torch.Generator().manual_seed(0)
    # a noisy cycle: the next token is usually the current one + 1
    stream = (torch.arange(tokens) % (VOCAB - 1)) + 1
    noise = torch.rand(tokens, generator=generator) < 0.2
    stream[noise] = torch.randint(1, VOCAB, (int(noise.sum()),), generator=generator)
    train, rest = windows(stream[: 16 * WINDOW + 1]), windows(stream[16 * WINDOW :])
    return SequenceData("cycle", "language-model", train, rest, rest, input_size=None,
                        output_size=VOCAB, vocab_size=VOCAB)  # fmt: skip


class Recording(nn.Module):
    """Wraps a model; records, per training chunk, whether it began from a carried state."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.carried = inner, []
        self.output = inner.output

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x)

    def forward_stateful(self, x: Tensor, state: Any = None) -> Any:
        if self.training:
            self.carried.append(state is not None)
        return self.inner.forward_stateful(x, state)


def model(seed: int = 0, **interrupt: Any) -> nn.Module:
    torch.manual_seed(seed)
    return Interrupting(
        EmbeddingLSTM(VOCAB, embedding_dim=4, hidden_size=8, dropout=0.2), **interrupt
    )


def test_the_lanes_are_the_training_stream_cut_into_contiguous_rows() -> None:
    data = text_data()
    lanes = stream_lanes(data.train, 3)
    stream = torch.cat([data.train.inputs.reshape(-1)])
    width = len(stream) // 3
    assert lanes.inputs.shape == lanes.targets.shape == (3, width)
    assert torch.equal(lanes.inputs.reshape(-1), stream[: 3 * width])
    # each target is the next input along a lane
    assert torch.equal(lanes.targets[:, :-1], lanes.inputs[:, 1:])


@pytest.mark.parametrize(("carry", "fresh_every"), [("epoch", 1_000), ("batch", WINDOW // 8)])
def test_the_state_carries_through_the_epoch_only_when_asked(carry: str, fresh_every: int) -> None:
    data = text_data()
    recording = Recording(EmbeddingLSTM(VOCAB, embedding_dim=4, hidden_size=8))
    optimizer = torch.optim.Adam(recording.parameters(), lr=1e-2)
    trainer = TBPTT(chunk=8, carry=carry, epochs=2, batch_size=4, seed=0, quiet=True)
    history = trainer.fit(recording, data, optimizer)
    chunks = len(recording.carried) // 2  # per epoch
    if carry == "epoch":  # 4 lanes of 96 tokens, 8 at a time: 12 steps, fresh only at the start
        assert chunks == math.ceil(16 * WINDOW / 4 / 8) == 12
    expected = [i % fresh_every != 0 for i in range(chunks)] * 2
    assert recording.carried == expected
    assert math.isfinite(history.val_loss[-1])


def test_carrying_the_state_learns_the_pattern() -> None:
    data = text_data()
    torch.manual_seed(0)
    net = EmbeddingLSTM(VOCAB, embedding_dim=8, hidden_size=16)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-2)
    history = TBPTT(chunk=8, carry="epoch", epochs=6, batch_size=4, quiet=True).fit(
        net, data, optimizer
    )
    assert history.val_loss[-1] < 0.6 * math.log(VOCAB)  # far below a uniform guess


def run(net: nn.Module, run_dir: Path, resume: Path | None = None) -> tuple:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    trainer = TBPTT(
        chunk=8, carry="epoch", epochs=3, batch_size=4, seed=1, quiet=True, run_dir=run_dir,
        restore_best=False, plot=False, save_every="epoch",
    )  # fmt: skip
    history = trainer.fit(net, text_data(), optimizer, resume=resume)
    return tensors(net.state_dict()), tensors(optimizer.state_dict()), history.train_loss


def test_ctrl_c_mid_epoch_resumes_bit_for_bit_with_the_carried_state(tmp_path: Path) -> None:
    straight = run(model(), tmp_path / "straight")
    at = random.Random(5).randint(2, 11)  # a chunk of the first epoch, not its first
    with pytest.raises(TrainingInterrupted) as info:
        run(model(at=at, how="signal"), tmp_path / "run")
    assert info.value.exact and info.value.epoch == 1 and info.value.batch == at
    resumed = run(model(seed=9), tmp_path / "run", resume=tmp_path / "run")
    pairs = list(zip(straight[0] + straight[1], resumed[0] + resumed[1], strict=True))
    assert len(pairs) > 10 and all(torch.equal(a, b) for a, b in pairs)
    assert straight[2] == resumed[2]


def test_a_resume_without_the_carried_state_would_differ(tmp_path: Path) -> None:
    # the check above can fail: resuming from a fresh state changes the result
    straight = run(model(), tmp_path / "straight")
    with pytest.raises(TrainingInterrupted):
        run(model(at=6, how="signal"), tmp_path / "run")
    original = TBPTT._train_epoch

    def forget(self: TBPTT, *args: Any) -> Any:
        args[-1].carried = None
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TBPTT, "_train_epoch", forget)
        resumed = run(model(seed=9), tmp_path / "run", resume=tmp_path / "run")
    assert straight[2] != resumed[2]


def test_carry_epoch_refuses_what_is_not_one_token_stream() -> None:
    optimizer = torch.optim.Adam(model().parameters())
    with pytest.raises(ConfigError, match="language models only"):
        TBPTT(carry="epoch", epochs=1, quiet=True).fit(
            Interrupting(EmbeddingLSTM(VOCAB)), sine_data(), optimizer
        )
    data = text_data()
    shuffled = Split(data.train.inputs.flip(0), data.train.targets.flip(0))
    with pytest.raises(ConfigError, match="consecutive pieces of one token stream"):
        stream_lanes(shuffled, 2)
    with pytest.raises(ConfigError, match="carry must be one of"):
        TBPTT(carry="stream")

"""A tour of seqzoo: list, create, step, compose. Runs offline in a few seconds."""

from pathlib import Path

import torch

import seqzoo

torch.manual_seed(0)

print("models:", ", ".join(seqzoo.list_models()))
print("lstm-ish models:", seqzoo.list_models("*lstm*"))
print("layers:", ", ".join(seqzoo.list_layers()))

# create: the config is the constructor's keyword arguments, plain JSON values
model = seqzoo.create_model("lstm", input_size=3, hidden_size=16, output_size=2).eval()
x = torch.randn(4, 20, 3)  # (batch, time, features)
whole = model(x)  # (batch, output_size): one vector per sequence
print("lstm output", tuple(whole.shape), "config", model.config)

# step: feed the sequence one time step at a time, carrying the state
state = model.initial_state(batch_size=4)
for t in range(x.shape[1]):
    y, state = model.step(x[:, t], state)
print("stepped == whole:", torch.allclose(y, whole, atol=1e-5))

# compose: a hybrid from registered layers, sizes flowing from layer to layer
spec = Path(__file__).parent / "hybrids" / "frankenstein.yaml"
hybrid = seqzoo.compose(spec).eval()
print(
    "hybrid output",
    tuple(hybrid(x).shape),
    "parameters",
    sum(p.numel() for p in hybrid.parameters()),
)
state = hybrid.initial_state(4)
for t in range(x.shape[1]):
    y, state = hybrid.step(x[:, t], state)
print("hybrid stepped == whole:", torch.allclose(y, hybrid(x), atol=1e-5))
rebuilt = seqzoo.create_model("hybrid", **hybrid.config)
print(
    "config round trip:",
    [p.shape for p in rebuilt.parameters()] == [p.shape for p in hybrid.parameters()],
)

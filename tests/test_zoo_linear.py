"""The linear zoo entry is the least-squares fit of its training rows (it is a baseline)."""

from __future__ import annotations

import numpy as np
import torch

import seqzoo


def test_linear_diabetes_is_the_least_squares_optimum() -> None:
    model = seqzoo.from_pretrained("linear-diabetes", device="cpu").eval()
    config = model.pretrained_config
    dataset = {k: v for k, v in (config.get("dataset") or {}).items() if k != "name"}
    data = seqzoo.get_registry().create("dataset", "diabetes", **dataset)
    x = data.train.inputs[:, 0].double().numpy()
    y = data.train.targets.double().numpy()
    design = np.c_[x, np.ones(len(x))]
    weights, *_ = np.linalg.lstsq(design, y, rcond=None)
    test = data.test.inputs
    expected = np.c_[test[:, 0].double().numpy(), np.ones(len(test))] @ weights
    with torch.no_grad():
        got = model(test).double().numpy()
    # the same predictions to 4 significant digits, in the data's raw units
    raw = data.preprocessing.unscale_targets
    np.testing.assert_allclose(raw(got), raw(expected), rtol=1e-4)
    truth = raw(data.test.targets.double().numpy())
    mae, mae_ls = np.abs(raw(got) - truth).mean(), np.abs(raw(expected) - truth).mean()
    assert f"{mae:.4g}" == f"{mae_ls:.4g}"

"""seqzoo-tcn: registers the ``tcn`` model and the ``tcn-block`` layer.

Factories are given as strings, so listing them never imports torch.
"""

import seqzoo

SEQZOO_HOOK_API = 1  # the seqzoo hook API this plugin is written for


@seqzoo.hookimpl
def register_models(register):
    register(
        "tcn",
        "seqzoo_tcn.model:TCN",
        description="Temporal convolutional network: dilated causal conv blocks + linear head",
        defaults={
            "output_size": 1,
            "channels": 32,
            "levels": 3,
            "kernel_size": 3,
            "output": "last",
        },
        input_kind="real",
        tags=["convolutional", "causal"],
    )


@seqzoo.hookimpl
def register_layers(register):
    register(
        "tcn-block",
        "seqzoo_tcn.model:TCNBlock",
        description="Dilated causal convolution + ReLU with a residual connection",
        defaults={"kernel_size": 3, "dilation": 1},
    )

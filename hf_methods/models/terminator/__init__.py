"""Terminator: "HyperZ·Z·W Operator Connects Slow-Fast Networks for Full Context Interaction" (Harvie Zhang, 2024).

Slow networks (coordinate-based implicit MLPs, MAGNet) generate hyper-kernels for a fast convolutional network; the
HyperZ·Z·W operator multiplies a hyper-kernel elementwise with the hidden activations Z and uses the result as a
context-dependent kernel on Z. SFNE blocks run ten such branches without residual connections, and a slow neural
loss ties the blocks' global hyper-kernels together.

Exports are lazy: the modeling module (a `PreTrainedModel`) is imported on first access only.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TerminatorConfig": ".configuration_terminator",
        "TerminatorModel": ".modeling_terminator",
        "TerminatorForImageClassification": ".modeling_terminator",
        "TerminatorPreTrainedModel": ".modeling_terminator",
        "TerminatorModelOutput": ".modeling_terminator",
        "TerminatorImageClassifierOutput": ".modeling_terminator",
        "HyperZZWGlobal": ".modeling_terminator",
        "HyperZZWLocal": ".modeling_terminator",
        "MAGNetKernel": ".modeling_terminator",
        "SFNEBlock": ".modeling_terminator",
        "slow_neural_loss": ".modeling_terminator",
        "TerminatorArguments": ".training",
        "PlainCNN": ".training",
        "matched_plain_cnn": ".training",
        "image_data": ".training",
        "train_classifier": ".training",
        "terminator_image_processor": ".training",
    },
)

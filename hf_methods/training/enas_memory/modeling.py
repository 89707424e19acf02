"""The shared-weights child model of ENAS for flat inputs, and the standalone cell derived from it.

The child is the ENAS recurrent cell written as a feed-forward cell (Pham et al., 2018, Sec. 2.1): with the node
inputs p_i and activations f_i of an architecture,

    h_0 = f_0(W_in x + b_in),        h_i = f_i(W_{p_i → i} h_{p_i} + b_{p_i → i})   (i ≥ 1),
    logits = W_out · mean{h_i : node i is a loose end (no later node reads it)} + b_out.

[`ENASSupernet`] holds one weight matrix W_{j → i} for every pair j < i, shared by every architecture that uses the
edge (ENAS's weight sharing); [`ENASCellForImageClassification`] holds one fixed architecture and only the weights it
uses, copied out of the supernet by [`ENASSupernet.extract`].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .controller import ACTIVATIONS, check_decisions, check_search_space, decision_sizes, decode_architecture


class ENASCellConfig(PreTrainedConfig):
    r"""
    Configuration of the child model: [`ENASSupernet`] (`architecture=None`) or one derived
    [`ENASCellForImageClassification`] (`architecture` = its decision sequence).

    Args:
        input_size (`int`, *optional*, defaults to 64): number of input features (8×8 digits give 64).
        num_labels (`int`, *optional*, defaults to 10): number of classes.
        num_nodes (`int`, *optional*, defaults to 4): nodes of the cell.
        ops (`list[str]`, *optional*, defaults to `["tanh", "relu", "identity", "sigmoid"]`): the activations.
        cell_width (`int`, *optional*, defaults to 64): width of every node.
        architecture (`list[int]`, *optional*): the decisions `(op_0, p_1, op_1, ..., p_{N−1}, op_{N−1})` of a
            derived cell; `None` for the supernet.
    """

    model_type = "hfm-enas_memory-cell"

    def __init__(
        self,
        input_size: int = 64,
        num_labels: int | None = None,
        num_nodes: int = 4,
        ops: list[str] | tuple[str, ...] = ("tanh", "relu", "identity", "sigmoid"),
        cell_width: int = 64,
        architecture: list[int] | None = None,
        **kwargs,
    ):
        if num_labels is None:  # a saved config stores `id2label`, not `num_labels`
            num_labels = len(kwargs["id2label"]) if kwargs.get("id2label") else 10
        num_nodes, ops = check_search_space(num_nodes, ops)
        for name, value in (("input_size", input_size), ("cell_width", cell_width), ("num_labels", num_labels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if architecture is not None:
            architecture = [int(a) for a in architecture]
            check_decisions(torch.tensor(architecture), decision_sizes(num_nodes, len(ops)), name="architecture")
        self.input_size = input_size
        self.num_nodes = num_nodes
        self.ops = list(ops)
        self.cell_width = cell_width
        self.architecture = architecture
        super().__init__(num_labels=num_labels, **kwargs)

    @property
    def decision_sizes(self) -> list[int]:
        return decision_sizes(self.num_nodes, len(self.ops))


def loose_ends(inputs: list[int]) -> list[int]:
    """The nodes no later node reads: their mean is the cell's output (ENAS's rule for the cell output)."""
    used = set(inputs)
    return [node for node in range(len(inputs)) if node not in used]


def _cell_forward(x, inputs, ops, op_names, input_layer, edge_layer, classifier):
    hidden = [ACTIVATIONS[op_names[ops[0]]](input_layer(x))]
    for node in range(1, len(inputs)):
        hidden.append(ACTIVATIONS[op_names[ops[node]]](edge_layer(inputs[node], node)(hidden[inputs[node]])))
    out = torch.stack([hidden[node] for node in loose_ends(inputs)]).mean(0)
    return classifier(out)


def _classification_output(logits, labels, return_dict):
    loss = None
    if labels is not None:
        loss = F.cross_entropy(logits, labels)
    if return_dict is False:
        return (loss, logits) if loss is not None else (logits,)
    return SequenceClassifierOutput(loss=loss, logits=logits)


class _CellPreTrainedModel(PreTrainedModel):
    config_class = ENASCellConfig
    base_model_prefix = "cell"
    main_input_name = "pixel_values"

    def _init_weights(self, module):
        # keep PyTorch's default `nn.Linear` init (uniform in ±1/sqrt(fan_in)); a 0.02-normal init would shrink the
        # signal through the chain of nodes
        pass


class ENASSupernet(_CellPreTrainedModel):
    """The shared weights ω of every cell of the search space (a `PreTrainedModel`, trainable with `Trainer`).

    `forward(pixel_values, labels=None, architecture=None)` runs the cell of `architecture` (a `(T,)` decision
    sequence) or, when it is `None`, the architecture last given to [`set_architecture`] (so a `Trainer`, which
    passes only batch columns, trains whichever cell its sampler chose for this step).
    """

    def __init__(self, config: ENASCellConfig):
        super().__init__(config)
        width = config.cell_width
        self.input_layer = nn.Linear(config.input_size, width)
        self.edges = nn.ModuleDict(
            {f"{j}_{i}": nn.Linear(width, width) for i in range(1, config.num_nodes) for j in range(i)}
        )
        self.classifier = nn.Linear(width, config.num_labels)
        self.active_architecture: list[int] | None = None
        self.post_init()

    def set_architecture(self, architecture) -> None:
        """Selects the cell the next `forward` calls run (a `(T,)` tensor or list of decisions)."""
        decisions = check_decisions(torch.as_tensor(architecture), self.config.decision_sizes, name="architecture")
        if decisions.shape[0] != 1:
            raise ValueError(f"architecture must be one decision sequence, got {decisions.shape[0]}")
        self.active_architecture = decisions[0].tolist()

    def forward(self, pixel_values: torch.Tensor, labels=None, architecture=None, return_dict=None, **kwargs):
        if architecture is not None:
            self.set_architecture(architecture)
        if self.active_architecture is None:
            raise ValueError("ENASSupernet needs an architecture: pass architecture=... or call set_architecture()")
        inputs, ops = decode_architecture(self.active_architecture, self.config.num_nodes)
        logits = _cell_forward(
            pixel_values.flatten(1),
            inputs,
            ops,
            self.config.ops,
            self.input_layer,
            lambda j, i: self.edges[f"{j}_{i}"],
            self.classifier,
        )
        return _classification_output(logits, labels, return_dict)

    def extract(self, architecture) -> ENASCellForImageClassification:
        """The standalone cell of `architecture`, holding copies of the shared weights it uses (same function)."""
        decisions = check_decisions(torch.as_tensor(architecture), self.config.decision_sizes, name="architecture")
        config = ENASCellConfig(**{**self.config.to_dict(), "architecture": decisions[0].tolist()})
        cell = ENASCellForImageClassification(config).to(self.device, self.dtype)
        inputs, _ = decode_architecture(config.architecture, config.num_nodes)
        with torch.no_grad():
            cell.input_layer.load_state_dict(self.input_layer.state_dict())
            cell.classifier.load_state_dict(self.classifier.state_dict())
            for node in range(1, config.num_nodes):
                cell.node_layers[node - 1].load_state_dict(self.edges[f"{inputs[node]}_{node}"].state_dict())
        return cell


class ENASCellForImageClassification(_CellPreTrainedModel):
    """One derived cell of the search space as a standalone classifier (`save_pretrained` / `from_pretrained`).

    It holds the input layer, one `Linear` per node i ≥ 1 (the weights of the edge p_i → i) and the classifier; its
    architecture lives in `config.architecture`.
    """

    def __init__(self, config: ENASCellConfig):
        super().__init__(config)
        if config.architecture is None:
            raise ValueError("ENASCellForImageClassification needs config.architecture (the derived cell's decisions)")
        width = config.cell_width
        self.input_layer = nn.Linear(config.input_size, width)
        self.node_layers = nn.ModuleList(nn.Linear(width, width) for _ in range(config.num_nodes - 1))
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, labels=None, return_dict=None, **kwargs):
        inputs, ops = decode_architecture(self.config.architecture, self.config.num_nodes)
        logits = _cell_forward(
            pixel_values.flatten(1),
            inputs,
            ops,
            self.config.ops,
            self.input_layer,
            lambda j, i: self.node_layers[i - 1],
            self.classifier,
        )
        return _classification_output(logits, labels, return_dict)


__all__ = ["ENASCellConfig", "ENASCellForImageClassification", "ENASSupernet", "loose_ends"]

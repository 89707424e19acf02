"""The ENAS controller: an LSTM that samples a cell architecture decision by decision (Pham et al., 2018), with the
reconstruction head that the memory-buffer training of Adam & Lorraine (2019) uses.

The search space is the ENAS recurrent-cell space written for a feed-forward cell: `num_nodes` nodes; node 0 reads
the (projected) input, node i ≥ 1 reads one earlier node p_i < i; every node applies one activation of `ops`. An
architecture is the sequence of T = 2·num_nodes − 1 decisions

    a = (op_0, p_1, op_1, p_2, op_2, ..., p_{N−1}, op_{N−1}),

decision t having K_t choices (K = len(ops) for an activation, K = i for the input of node i).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

#: The activations a node can apply (the ENAS recurrent-cell set).
ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "identity": lambda x: x,
    "sigmoid": torch.sigmoid,
}


def check_search_space(num_nodes, ops) -> tuple[int, tuple[str, ...]]:
    """Validates `num_nodes` (an int ≥ 1) and `ops` (distinct names of `ACTIVATIONS`); returns them normalised."""
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
        raise TypeError(f"num_nodes must be an int, got {type(num_nodes).__name__}")
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    if isinstance(ops, str) or not hasattr(ops, "__iter__"):
        raise TypeError(f"ops must be a sequence of activation names, got {ops!r}")
    ops = tuple(ops)
    unknown = [op for op in ops if op not in ACTIVATIONS]
    if not ops or unknown or len(set(ops)) != len(ops):
        raise ValueError(f"ops must be distinct names among {sorted(ACTIVATIONS)}, got {list(ops)}")
    return num_nodes, ops


def decision_sizes(num_nodes: int, num_ops: int) -> list[int]:
    """K_t of every decision t: `[num_ops, 1, num_ops, 2, num_ops, ..., num_nodes − 1, num_ops]`."""
    sizes = [num_ops]
    for node in range(1, num_nodes):
        sizes += [node, num_ops]
    return sizes


def decode_architecture(decisions, num_nodes: int) -> tuple[list[int], list[int]]:
    """`(inputs, ops)` of a decision sequence: `inputs[i]` = p_i (−1 for node 0, which reads the input), `ops[i]`."""
    decisions = [int(d) for d in (decisions.tolist() if isinstance(decisions, torch.Tensor) else decisions)]
    if len(decisions) != 2 * num_nodes - 1:
        raise ValueError(
            f"an architecture of {num_nodes} nodes has {2 * num_nodes - 1} decisions, got {len(decisions)}"
        )
    inputs, ops = [-1], [decisions[0]]
    for node in range(1, num_nodes):
        inputs.append(decisions[2 * node - 1])
        ops.append(decisions[2 * node])
    return inputs, ops


def check_decisions(decisions: torch.Tensor, sizes: list[int], name: str = "decisions") -> torch.Tensor:
    """`decisions` as a `(batch, T)` integer tensor whose column t lies in `[0, K_t)`; clear errors otherwise."""
    if not isinstance(decisions, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of decision indices, got {type(decisions).__name__}")
    if decisions.is_floating_point() or decisions.is_complex() or decisions.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {decisions.dtype}")
    if decisions.dim() == 1:
        decisions = decisions[None]
    if decisions.dim() != 2 or decisions.shape[1] != len(sizes):
        raise ValueError(f"{name} must have shape (batch, {len(sizes)}), got {tuple(decisions.shape)}")
    bound = torch.tensor(sizes, device=decisions.device)
    if ((decisions < 0) | (decisions >= bound)).any():
        raise ValueError(f"{name}: decision t must lie in [0, K_t) with K = {sizes}, got {decisions.tolist()}")
    return decisions.long()


def architecture_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The graph edit distance used by the analysis: the Hamming distance between two decision sequences.

    For these DAGs (one input edge per node, one activation per node) changing the input of a node or its activation
    is one edit, so the Hamming distance over `(p_i, op_i)` is the edit distance between the labelled graphs whose
    nodes are kept in order. Broadcasts over leading dimensions.
    """
    return (a != b).sum(-1)


class ENASConfig(PreTrainedConfig):
    r"""
    Configuration of [`ENASController`]: the search space and the controller LSTM.

    Args:
        num_nodes (`int`, *optional*, defaults to 4): nodes of the cell.
        ops (`list[str]`, *optional*, defaults to `["tanh", "relu", "identity", "sigmoid"]`): the activations a node
            chooses from (names of `ACTIVATIONS`).
        hidden_size (`int`, *optional*, defaults to 100): width of the LSTM controller (ENAS: 100).
        softmax_temperature (`float`, *optional*, defaults to 5.0): logits are divided by it before the tanh
            squashing (ENAS-pytorch's `softmax_temperature`).
        tanh_constant (`float`, *optional*, defaults to 2.5): logits become `c · tanh(logits / temperature)`
            (ENAS's squashing, which keeps the policy from collapsing early); 0 turns it off.
    """

    model_type = "hfm-enas_memory-controller"

    def __init__(
        self,
        num_nodes: int = 4,
        ops: list[str] | tuple[str, ...] = ("tanh", "relu", "identity", "sigmoid"),
        hidden_size: int = 100,
        softmax_temperature: float = 5.0,
        tanh_constant: float = 2.5,
        **kwargs,
    ):
        num_nodes, ops = check_search_space(num_nodes, ops)
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be an int >= 1, got {hidden_size!r}")
        if not softmax_temperature > 0:
            raise ValueError(f"softmax_temperature must be > 0, got {softmax_temperature}")
        if not tanh_constant >= 0:
            raise ValueError(f"tanh_constant must be >= 0, got {tanh_constant}")
        self.num_nodes = num_nodes
        self.ops = list(ops)
        self.hidden_size = hidden_size
        self.softmax_temperature = float(softmax_temperature)
        self.tanh_constant = float(tanh_constant)
        super().__init__(**kwargs)

    @property
    def decision_sizes(self) -> list[int]:
        return decision_sizes(self.num_nodes, len(self.ops))

    @property
    def num_decisions(self) -> int:
        return 2 * self.num_nodes - 1


@dataclass
class ControllerOutput(ModelOutput):
    """What the controller returns for a batch of architectures (sampled or given).

    Args:
        decisions (`torch.LongTensor` of shape `(batch, T)`): the architectures.
        log_probs (`torch.FloatTensor` of shape `(batch, T)`): log π_θ(a_t | a_<t) of each decision.
        entropies (`torch.FloatTensor` of shape `(batch, T)`): the entropy of each decision's distribution.
        hidden_states (`torch.FloatTensor` of shape `(batch, T, hidden_size)`): the LSTM state h_t that produced
            decision t.
        final_hidden_state (`torch.FloatTensor` of shape `(batch, hidden_size)`): h_T, the state after the last
            decision was fed back: the controller's summary of the whole architecture (what the analysis reads).
        reconstruction_logits (`torch.FloatTensor` of shape `(batch, ΣK_t)`): the memory-buffer head's logits of
            every decision, decoded from h_T.
    """

    decisions: torch.LongTensor | None = None
    log_probs: torch.FloatTensor | None = None
    entropies: torch.FloatTensor | None = None
    hidden_states: torch.FloatTensor | None = None
    final_hidden_state: torch.FloatTensor | None = None
    reconstruction_logits: torch.FloatTensor | None = None

    @property
    def log_prob(self) -> torch.Tensor:
        """log π_θ(a) = Σ_t log π_θ(a_t | a_<t), one per architecture."""
        return self.log_probs.sum(-1)

    @property
    def entropy(self) -> torch.Tensor:
        """Σ_t H(π_θ(· | a_<t)), one per architecture (the entropy bonus of ENAS)."""
        return self.entropies.sum(-1)


class ENASController(PreTrainedModel):
    """The ENAS LSTM controller (Pham et al., 2018; Adam & Lorraine, 2019).

    Starting from a learned input embedding, an `LSTMCell` runs one step per decision; decision t is drawn from
    softmax(c · tanh(W_t h_t / τ)) (a separate linear decoder W_t per decision, as in the ENAS recurrent-cell
    controller), and the embedding of the chosen value (a separate table per decision) is the next step's input.
    After the last decision one more step gives h_T, the controller's state once it has seen the whole architecture.
    A reconstruction head decodes every decision back from h_T; only the memory-buffer training of
    [`ENASSearch`] trains it (vanilla ENAS leaves it untouched).

    `forward(decisions=...)` scores given architectures with teacher forcing (the recorded decisions are fed back,
    never fresh samples); [`sample`] draws new ones. Both return a [`ControllerOutput`].
    """

    config_class = ENASConfig
    base_model_prefix = "controller"
    main_input_name = "decisions"

    def __init__(self, config: ENASConfig):
        super().__init__(config)
        sizes = config.decision_sizes
        hidden = config.hidden_size
        self.start = nn.Parameter(torch.zeros(hidden))
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.decoders = nn.ModuleList(nn.Linear(hidden, k) for k in sizes)
        self.embeddings = nn.ModuleList(nn.Embedding(k, hidden) for k in sizes)
        self.reconstruction_head = nn.Linear(hidden, sum(sizes))
        self.post_init()

    def _init_weights(self, module):
        # ENAS initialises the controller uniformly in [-0.1, 0.1]
        if isinstance(module, (nn.Linear, nn.Embedding, nn.LSTMCell)):
            for param in module.parameters():
                nn.init.uniform_(param, -0.1, 0.1)

    @property
    def decision_sizes(self) -> list[int]:
        return self.config.decision_sizes

    def _logits(self, t: int, h: torch.Tensor) -> torch.Tensor:
        logits = self.decoders[t](h) / self.config.softmax_temperature
        if self.config.tanh_constant > 0:
            logits = self.config.tanh_constant * torch.tanh(logits)
        return logits

    def _run(self, batch_size: int, decisions: torch.Tensor | None, generator: torch.Generator | None):
        device = self.start.device
        x = self.start.expand(batch_size, -1)
        state = None
        chosen, log_probs, entropies, hiddens = [], [], [], []
        for t in range(self.config.num_decisions):
            h, c = self.lstm(x, state)
            state = (h, c)
            distribution = torch.distributions.Categorical(logits=self._logits(t, h))
            if decisions is None:
                a_t = torch.multinomial(distribution.probs.detach(), 1, generator=generator).squeeze(1)
            else:
                a_t = decisions[:, t].to(device)
            chosen.append(a_t)
            log_probs.append(distribution.log_prob(a_t))
            entropies.append(distribution.entropy())
            hiddens.append(h)
            x = self.embeddings[t](a_t)
        final, _ = self.lstm(x, state)
        return ControllerOutput(
            decisions=torch.stack(chosen, 1),
            log_probs=torch.stack(log_probs, 1),
            entropies=torch.stack(entropies, 1),
            hidden_states=torch.stack(hiddens, 1),
            final_hidden_state=final,
            reconstruction_logits=self.reconstruction_head(final),
        )

    def forward(self, decisions: torch.Tensor, **kwargs) -> ControllerOutput:
        """Teacher-forced pass over given architectures `(batch, T)` (or one `(T,)`): their log-probabilities."""
        decisions = check_decisions(decisions, self.decision_sizes)
        return self._run(decisions.shape[0], decisions, None)

    def sample(self, num_samples: int = 1, generator: torch.Generator | None = None) -> ControllerOutput:
        """Draws `num_samples` architectures a ~ π_θ (gradients flow into `log_probs` and `entropies`)."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
        return self._run(num_samples, None, generator)


def uniform_architectures(
    num_samples: int, sizes: list[int], generator: torch.Generator | None = None
) -> torch.LongTensor:
    """`num_samples` architectures with every decision drawn uniformly (random search's sampler), `(n, T)`."""
    columns = [torch.randint(0, k, (num_samples,), generator=generator) for k in sizes]
    return torch.stack(columns, 1)


__all__ = [
    "ACTIVATIONS",
    "ControllerOutput",
    "ENASConfig",
    "ENASController",
    "architecture_distance",
    "check_decisions",
    "decision_sizes",
    "decode_architecture",
    "uniform_architectures",
]

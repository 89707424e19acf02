"""The controller's objectives: ENAS's REINFORCE loss and the memory-buffer terms of Adam & Lorraine (2019).

- [`reinforce_loss`]: L = −(R − b) · log π_θ(a) − β · H(π_θ), the policy gradient with a moving-average baseline and
  an entropy bonus (Pham et al., 2018, Sec. 2.2; Williams, 1992);
- [`MemoryBuffer`]: a first-in-first-out store of previously sampled architectures and their rewards;
- [`MemoryReconstructionLoss`]: the cross-entropy of decoding every decision of a buffered architecture from the
  controller's state after it has read that architecture with teacher forcing.

The paper trains the controller "with a memory buffer of previously sampled architectures" so that its hidden state
must encode past decisions; it does not spell out the objective. This implementation is a reconstruction from that
text: each controller step adds (i) REINFORCE on a batch replayed from the buffer (teacher-forced log-probabilities
of the recorded decisions, advantage R_i − b, no importance weights) and (ii) the reconstruction loss above.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, reduce_loss

from .controller import check_decisions


def reinforce_loss(
    log_prob: torch.Tensor,
    rewards: torch.Tensor,
    baseline: float | torch.Tensor,
    entropy: torch.Tensor | None = None,
    entropy_weight: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """REINFORCE with a baseline and an entropy bonus, per architecture:

        L_i = −(R_i − b) · log π_θ(a_i) − β · H_i,

    whose gradient is the policy-gradient estimate −(R − b) ∇θ log π_θ(a) minus β ∇θ H (the advantage R − b is a
    constant: no gradient flows through the rewards or the baseline).

    Args:
        log_prob (`torch.Tensor` of shape `(n,)`): log π_θ(a_i) of each architecture.
        rewards (`torch.Tensor` of shape `(n,)`): R_i (e.g. validation accuracy of the sampled child).
        baseline (`float` or 0-d tensor): b, the moving average of past rewards.
        entropy (`torch.Tensor` of shape `(n,)`, *optional*): H_i, the summed entropy of the decisions.
        entropy_weight (`float`): β ≥ 0.
        reduction (`str`): `"mean"`, `"sum"` or `"none"`.
    """
    reduction = check_reduction(reduction)
    beta = check_number("entropy_weight", entropy_weight, low=0)
    if not isinstance(log_prob, torch.Tensor) or log_prob.dim() != 1:
        raise ValueError(
            f"log_prob must be a 1-D tensor (one per architecture), got {getattr(log_prob, 'shape', log_prob)}"
        )
    rewards = torch.as_tensor(rewards, dtype=log_prob.dtype, device=log_prob.device)
    if rewards.shape != log_prob.shape:
        raise ValueError(f"rewards must have shape {tuple(log_prob.shape)} like log_prob, got {tuple(rewards.shape)}")
    advantage = (rewards - torch.as_tensor(baseline, dtype=log_prob.dtype, device=log_prob.device)).detach()
    loss = -advantage * log_prob
    if entropy is not None:
        if entropy.shape != log_prob.shape:
            raise ValueError(
                f"entropy must have shape {tuple(log_prob.shape)} like log_prob, got {tuple(entropy.shape)}"
            )
        loss = loss - beta * entropy
    return reduce_loss(loss, reduction)


class MemoryReconstructionLoss(nn.Module):
    """Cross-entropy of decoding an architecture's decisions from the controller's final state h_T:

        L_rec(a) = Σ_t −log softmax(z_t)[a_t],   z = (z_0 | z_1 | ... | z_{T−1}) = W_rec h_T(a),

    where h_T(a) is the controller's state after reading a with teacher forcing and z_t holds the K_t logits of
    decision t. Minimising it forces h_T to encode the whole decision prefix, which the memory buffer of Adam &
    Lorraine (2019) is meant to achieve (a reconstruction of the paper's objective, see the module docstring).

    Args:
        decision_sizes (`list[int]`): K_t of every decision.
        reduction (`str`): `"mean"`, `"sum"` or `"none"` (one value per architecture).
    """

    def __init__(self, decision_sizes: list[int], reduction: str = "mean"):
        super().__init__()
        sizes = [int(k) for k in decision_sizes]
        if not sizes or any(k < 1 for k in sizes):
            raise ValueError(f"decision_sizes must be a non-empty list of ints >= 1, got {decision_sizes}")
        self.decision_sizes = sizes
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise TypeError(f"logits must be a floating-point tensor, got {getattr(logits, 'dtype', type(logits))}")
        if logits.dim() != 2 or logits.shape[1] != sum(self.decision_sizes):
            raise ValueError(
                f"logits must be 2-D of shape (batch, {sum(self.decision_sizes)}) (the K_t logits of every decision, "
                f"concatenated), got {tuple(logits.shape)}"
            )
        decisions = check_decisions(decisions, self.decision_sizes)
        if decisions.shape[0] != logits.shape[0]:
            raise ValueError(
                f"decisions must have shape ({logits.shape[0]}, {len(self.decision_sizes)}) like the logits' batch, "
                f"got {tuple(decisions.shape)}"
            )
        per_decision = [
            F.cross_entropy(chunk, decisions[:, t].to(logits.device), reduction="none")
            for t, chunk in enumerate(logits.split(self.decision_sizes, dim=1))
        ]
        return reduce_loss(torch.stack(per_decision, 1).sum(1), self.reduction)


class MemoryBuffer(nn.Module):
    """The last `capacity` sampled architectures and their rewards (first in, first out), as module buffers.

    Being buffers, they travel with `state_dict()`, so a checkpointed search resumes with its memory.

    Args:
        capacity (`int`): architectures kept (≥ 1).
        num_decisions (`int`): T, the length of a decision sequence.
    """

    def __init__(self, capacity: int, num_decisions: int):
        super().__init__()
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"memory_buffer_size must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self.register_buffer("decisions", torch.zeros(capacity, num_decisions, dtype=torch.long))
        self.register_buffer("rewards", torch.zeros(capacity))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.register_buffer("position", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.count)

    @torch.no_grad()
    def add(self, decisions: torch.Tensor, rewards: torch.Tensor) -> None:
        """Stores architectures `(n, T)` with their rewards `(n,)`, overwriting the oldest when full."""
        for row, reward in zip(decisions, torch.as_tensor(rewards).reshape(-1)):
            slot = int(self.position)
            self.decisions[slot] = row.to(self.decisions.device)
            self.rewards[slot] = float(reward)
            self.position.fill_((slot + 1) % self.capacity)
            self.count.fill_(min(int(self.count) + 1, self.capacity))

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to `batch_size` stored `(decisions, rewards)` drawn without replacement."""
        n = len(self)
        if n == 0:
            raise ValueError("the memory buffer is empty: add architectures before sampling from it")
        index = torch.randperm(n, generator=generator)[: min(batch_size, n)].to(self.decisions.device)
        return self.decisions[index], self.rewards[index]


__all__ = ["MemoryBuffer", "MemoryReconstructionLoss", "reinforce_loss"]

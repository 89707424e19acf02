"""`ENASSearch`: ENAS's alternating search (child phase, controller phase), its memory-buffer variant and the random
search control, on a [`ENASSupernet`].

One search epoch (Pham et al., 2018, Sec. 2.2):

1. child phase: for each minibatch, an architecture a ~ π_θ (random search: uniform) is sampled and the shared
   weights ω take one SGD step on the cross-entropy of the cell a;
2. controller phase: for each controller step, a ~ π_θ is sampled, its reward R = accuracy of the cell a (shared
   weights ω) on a validation minibatch is measured, the baseline is updated b ← δ b + (1 − δ) R and θ takes one Adam
   step on [`reinforce_loss`]. With a memory buffer (Adam & Lorraine, 2019) (a, R) is stored, a batch of stored
   architectures is replayed with teacher forcing, and the step also minimises their REINFORCE loss and the
   [`MemoryReconstructionLoss`] of their decisions.

At the end [`ENASSearch.derive`] samples candidate cells from the controller (random search: uniformly), scores each
on the validation set with the shared weights, and [`ENASSupernet.extract`] turns the best one into a standalone
model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_positive_int

from .controller import ENASController, uniform_architectures
from .loss import MemoryBuffer, MemoryReconstructionLoss, reinforce_loss
from .modeling import ENASCellForImageClassification, ENASSupernet

SAMPLERS = ("controller", "random")


class SearchState(nn.Module):
    """Everything the controller phase carries between steps, as one module (so one `state_dict` checkpoints it).

    Holds the controller, the memory buffer (when there is one), the reward baseline b, and as extra state the
    controller's Adam state and the search's random generator.
    """

    def __init__(self, controller: ENASController, memory: MemoryBuffer | None, seed: int):
        super().__init__()
        self.controller = controller
        self.memory = memory
        self.register_buffer("baseline", torch.zeros((), dtype=torch.float64))
        self.register_buffer("has_baseline", torch.zeros((), dtype=torch.bool))
        self.generator = torch.Generator().manual_seed(seed)
        self.optimizer: torch.optim.Optimizer | None = None

    def get_extra_state(self):
        state = {"generator": self.generator.get_state()}
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def set_extra_state(self, state) -> None:
        self.generator.set_state(state["generator"])
        if self.optimizer is not None and "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])


class ENASSearch:
    """ENAS (optionally with the memory buffer of Adam & Lorraine, 2019) or random search on a supernet.

    Args:
        controller ([`ENASController`]): the policy π_θ; its config's search space must match the supernet's.
        supernet ([`ENASSupernet`]): the shared weights ω.
        memory_buffer_size (`int`, defaults to 256): capacity of the memory buffer; 0 trains vanilla ENAS.
        sampler (`str`, defaults to `"controller"`): `"controller"` (ENAS) or `"random"` (random search with weight
            sharing: uniform architectures everywhere and no controller training, at the same budget).
        controller_learning_rate (`float`): Adam learning rate of θ.
        entropy_weight (`float`): β of the entropy bonus.
        baseline_decay (`float`): δ of the moving-average baseline (ENAS: 0.95).
        architectures_per_step (`int`): architectures sampled per controller step.
        replay_batch_size (`int`): architectures replayed from the buffer per controller step.
        replay_weight (`float`): weight of the replayed REINFORCE term.
        reconstruction_weight (`float`): weight of the [`MemoryReconstructionLoss`] term.
        seed (`int`): seed of the search's own generator (sampling, validation minibatches, replay batches).
    """

    def __init__(
        self,
        controller: ENASController,
        supernet: ENASSupernet,
        memory_buffer_size: int = 256,
        *,
        sampler: str = "controller",
        controller_learning_rate: float = 1e-3,
        entropy_weight: float = 1e-4,
        baseline_decay: float = 0.95,
        architectures_per_step: int = 1,
        replay_batch_size: int = 32,
        replay_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        seed: int = 0,
    ):
        if not isinstance(controller, ENASController):
            raise TypeError(f"controller must be an ENASController, got {type(controller).__name__}")
        if not isinstance(supernet, ENASSupernet):
            raise TypeError(f"supernet must be an ENASSupernet, got {type(supernet).__name__}")
        if controller.decision_sizes != supernet.config.decision_sizes:
            raise ValueError(
                "controller and supernet must share the search space: controller has decision sizes "
                f"{controller.decision_sizes} (num_nodes={controller.config.num_nodes}, ops={controller.config.ops}), "
                f"supernet {supernet.config.decision_sizes} (num_nodes={supernet.config.num_nodes}, "
                f"ops={supernet.config.ops})"
            )
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if isinstance(memory_buffer_size, bool) or not isinstance(memory_buffer_size, int) or memory_buffer_size < 0:
            raise ValueError(f"memory_buffer_size must be an int >= 0 (0: no buffer), got {memory_buffer_size!r}")
        self.supernet = supernet
        self.sampler = sampler
        self.controller_learning_rate = check_number(
            "controller_learning_rate", controller_learning_rate, low=0, low_open=True
        )
        self.entropy_weight = check_number("entropy_weight", entropy_weight, low=0)
        self.baseline_decay = check_number("baseline_decay", baseline_decay, low=0, high=1, high_open=True)
        self.architectures_per_step = check_positive_int("architectures_per_step", architectures_per_step)
        self.replay_batch_size = check_positive_int("replay_batch_size", replay_batch_size)
        self.replay_weight = check_number("replay_weight", replay_weight, low=0)
        self.reconstruction_weight = check_number("reconstruction_weight", reconstruction_weight, low=0)
        memory = MemoryBuffer(memory_buffer_size, controller.config.num_decisions) if memory_buffer_size else None
        self.state = SearchState(controller, memory, seed)
        self.state.optimizer = torch.optim.Adam(controller.parameters(), lr=self.controller_learning_rate)
        self.reconstruction_loss = MemoryReconstructionLoss(controller.decision_sizes)

    # ------------------------------------------------------------------------------------------------ accessors
    @property
    def controller(self) -> ENASController:
        return self.state.controller

    @property
    def memory(self) -> MemoryBuffer | None:
        return self.state.memory

    @property
    def generator(self) -> torch.Generator:
        return self.state.generator

    @property
    def baseline(self) -> float:
        return float(self.state.baseline)

    # ------------------------------------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_architectures(self, num_samples: int = 1) -> torch.LongTensor:
        """`(n, T)` architectures from the search's sampler: π_θ (ENAS) or uniform (random search)."""
        if self.sampler == "random":
            return uniform_architectures(num_samples, self.controller.decision_sizes, self.generator)
        return self.controller.sample(num_samples, generator=self.generator).decisions.cpu()

    def sample_architecture(self) -> torch.LongTensor:
        """One architecture `(T,)`: the cell the child phase trains on the next minibatch."""
        return self.sample_architectures(1)[0]

    # ------------------------------------------------------------------------------------------------ rewards
    @torch.no_grad()
    def accuracy(self, architecture: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy of the cell `architecture` with the shared weights on `(x, y)` (eval mode, restored after)."""
        was_training = self.supernet.training
        self.supernet.eval()
        try:
            logits = self.supernet(pixel_values=x, architecture=architecture).logits
        finally:
            self.supernet.train(was_training)
        return (logits.argmax(-1) == y).float().mean().item()

    def reward_function(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> Callable:
        """R(a) = accuracy of the cell a on a fresh validation minibatch of `batch_size` (ENAS's reward is c/ppl on
        a validation batch; for a classifier the accuracy plays that role)."""
        batch_size = check_positive_int("reward_batch_size", batch_size)
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"the reward data needs as many labels as inputs (> 0), got {len(x)} and {len(y)}")

        def reward(decisions: torch.Tensor) -> torch.Tensor:
            index = torch.randperm(len(y), generator=self.generator)[:batch_size].to(y.device)
            return torch.tensor([self.accuracy(a, x[index], y[index]) for a in decisions])

        return reward

    # ------------------------------------------------------------------------------------------------ controller
    def controller_step(self, reward_fn: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """One controller update; returns its statistics (nothing to do for random search)."""
        if self.sampler == "random":
            return {}
        state, controller = self.state, self.controller
        controller.train()
        out = controller.sample(self.architectures_per_step, generator=self.generator)
        rewards = torch.as_tensor(reward_fn(out.decisions.detach().cpu()), dtype=torch.float64).reshape(-1)
        # ENAS's moving-average baseline, updated before the advantage is taken (the first step has R − b = 0)
        mean_reward = rewards.mean().to(state.baseline)
        if bool(state.has_baseline):
            state.baseline.mul_(self.baseline_decay).add_((1 - self.baseline_decay) * mean_reward)
        else:
            state.baseline.copy_(mean_reward)
            state.has_baseline.fill_(True)
        rewards = rewards.to(out.log_prob)
        loss = reinforce_loss(out.log_prob, rewards, float(state.baseline), out.entropy, self.entropy_weight)
        stats = {"reward": rewards.mean().item(), "baseline": self.baseline, "entropy": out.entropy.mean().item()}
        if self.memory is not None:
            self.memory.add(out.decisions.detach(), rewards.detach())
            replayed, replayed_rewards = self.memory.sample(self.replay_batch_size, self.generator)
            replay = controller(decisions=replayed)  # teacher forcing: the recorded decisions are fed back
            replay_loss = reinforce_loss(replay.log_prob, replayed_rewards.to(replay.log_prob), float(state.baseline))
            reconstruction = self.reconstruction_loss(replay.reconstruction_logits, replayed)
            loss = loss + self.replay_weight * replay_loss + self.reconstruction_weight * reconstruction
            stats["reconstruction_loss"] = reconstruction.item()
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        stats["controller_loss"] = loss.item()
        return stats

    # ------------------------------------------------------------------------------------------------ the loop
    def fit(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        validation: tuple[torch.Tensor, torch.Tensor],
        *,
        epochs: int = 10,
        child_steps: int = 50,
        controller_steps: int = 30,
        batch_size: int = 64,
        reward_batch_size: int = 256,
        child_learning_rate: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        max_grad_norm: float = 5.0,
    ) -> list[dict[str, float]]:
        """Alternates `child_steps` child steps and `controller_steps` controller steps for `epochs` epochs.

        A plain-torch loop (no `Trainer`: the claim check runs many searches); [`ENASTrainer`] runs the same two
        phases inside `transformers.Trainer`. Returns one record per epoch (mean reward, baseline, entropy, mean
        training loss).
        """
        epochs = check_positive_int("epochs", epochs)
        child_steps = check_positive_int("child_steps", child_steps)
        controller_steps = int(controller_steps)
        if controller_steps < 0:
            raise ValueError(f"controller_steps must be >= 0, got {controller_steps}")
        x, y = train
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"train needs as many labels as inputs (> 0), got {len(x)} and {len(y)}")
        batch_size = check_positive_int("batch_size", batch_size)
        optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=child_learning_rate, momentum=momentum, weight_decay=weight_decay
        )
        reward_fn = self.reward_function(*validation, batch_size=reward_batch_size)
        history, order, cursor = [], torch.randperm(len(y), generator=self.generator), 0
        for epoch in range(epochs):
            self.supernet.train()
            losses = []
            for _ in range(child_steps):
                if cursor + batch_size > len(y):
                    order, cursor = torch.randperm(len(y), generator=self.generator), 0
                index = order[cursor : cursor + batch_size]
                cursor += batch_size
                logits = self.supernet(pixel_values=x[index], architecture=self.sample_architecture()).logits
                loss = F.cross_entropy(logits, y[index])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), max_grad_norm)
                optimizer.step()
                losses.append(loss.item())
            record = {"epoch": epoch + 1, "child_loss": sum(losses) / len(losses)}
            steps = [self.controller_step(reward_fn) for _ in range(controller_steps)]
            for key in steps[0] if steps and steps[0] else []:
                record[key] = sum(s[key] for s in steps) / len(steps)
            history.append(record)
        return history

    # ------------------------------------------------------------------------------------------------ result
    def derive(
        self, validation: tuple[torch.Tensor, torch.Tensor], num_candidates: int = 50
    ) -> tuple[torch.LongTensor, float]:
        """The best of `num_candidates` sampled cells by validation accuracy with the shared weights (ENAS's final
        selection); returns `(architecture (T,), its shared-weight validation accuracy)`."""
        num_candidates = check_positive_int("num_candidates", num_candidates)
        candidates = self.sample_architectures(num_candidates)
        scores = [self.accuracy(a, *validation) for a in candidates]
        best = max(range(len(scores)), key=scores.__getitem__)  # the first on ties
        return candidates[best], scores[best]

    def best_model(
        self, validation: tuple[torch.Tensor, torch.Tensor], num_candidates: int = 50
    ) -> ENASCellForImageClassification:
        """The derived cell as a standalone model holding its shared weights (`save_pretrained` / `from_pretrained`)."""
        architecture, _ = self.derive(validation, num_candidates)
        return self.supernet.extract(architecture)


__all__ = ["ENASSearch", "SAMPLERS", "SearchState"]

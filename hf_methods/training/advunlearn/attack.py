"""`SoftPromptAttack`: an adversarial soft prompt in word-embedding space against a text-conditioned denoiser.

The attack of AdvUnlearn's inner loop (official code: `train-scripts/utils/attack_util.py`, `prefix_k` word-embedding
attack) prepends k continuous token embeddings δ to a prompt's word embeddings, right after the start token, and
minimises a denoising error of the U-Net conditioned on the result:

    δ* = argmin_δ  E ‖ε_θ(z_t, t, c(δ ⊕ prompt)) − ε_target‖²,      c(·) = the text encoder on word embeddings.

In AdvUnlearn's training loop ε_target is the *original* model's prediction for the concept, ε_orig(z_t, t, c_p), so the
attack looks for a prompt that makes the erased model behave like the original one on the concept. For evaluation the
same attack runs with noised images of the concept and their noise as the target (the denoising loss of
UnlearnDiffAtk, Zhang et al. 2023). δ starts from the embeddings of k random vocabulary tokens, or from the latest δ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from hf_methods.common.checks import check_number, check_positive_int

from .text import encode_text

__all__ = ["SoftPromptAttack", "prefix_embeddings"]

ATTACK_METHODS = ("pgd", "fast_at")


def prefix_embeddings(text_encoder, input_ids: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """Word embeddings of `input_ids` with the k rows of `prefix` inserted after the start token (`prefix_k`).

    The sequence keeps its length: the last k positions (padding) are dropped, as the official code does.

    Args:
        text_encoder: a `CLIPTextModel` (its `get_input_embeddings()` gives the word embeddings).
        input_ids: `(batch, length)` ids, starting with the start token.
        prefix: `(k, width)` adversarial embeddings, shared by the batch.
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be 2-D (batch, length), got shape {tuple(input_ids.shape)}")
    words = text_encoder.get_input_embeddings()(input_ids)
    batch, length, width = words.shape
    if prefix.dim() != 2 or prefix.shape[1] != width:
        raise ValueError(f"prefix must have shape (k, {width}), got {tuple(prefix.shape)}")
    k = prefix.shape[0]
    if k > length - 2:
        raise ValueError(
            f"a prefix of {k} tokens does not fit a prompt of {length} positions (keep k <= {length - 2})"
        )
    if bool((input_ids[:, length - k :] != text_encoder.config.pad_token_id).any()):
        raise ValueError(f"the last {k} positions of input_ids must be padding: the prefix would push out the prompt")
    return torch.cat([words[:, :1], prefix.to(words.dtype).expand(batch, k, width), words[:, 1 : length - k]], dim=1)


@dataclass
class SoftPromptAttack:
    """A k-token soft-prompt attack on the word embeddings of a prompt (AdvUnlearn's inner maximisation).

    Args:
        k (`int`): the number of adversarial tokens prepended after the start token (1 in the official setup).
        steps (`int`): optimisation steps (30 in the official setup).
        lr (`float`): Adam's learning rate on δ (1e-3 in the official setup).
        init (`str`): "random" (the embeddings of k random vocabulary tokens) or "latest" (the δ passed as
            `init_embeddings`, e.g. the previous attack's, falling back to random when none is given).
        method (`str`): "pgd" (Adam on the gradient) or "fast_at" (Adam on the gradient's sign, the official
            fast-AT variant).

    Example:

    ```python
    >>> attack = SoftPromptAttack(k=1, steps=30, lr=1e-3)
    >>> prefix, losses = attack(text_encoder, unet, input_ids, batches=(noisy, timesteps, target))
    >>> hidden = encode_text(text_encoder, inputs_embeds=prefix_embeddings(text_encoder, input_ids, prefix))
    ```
    """

    k: int = 1
    steps: int = 30
    lr: float = 1e-3
    init: str = "latest"
    method: str = "pgd"

    def __post_init__(self):
        check_positive_int("k", self.k)
        check_positive_int("steps", self.steps)
        check_number("lr", self.lr, low=0.0, low_open=True)
        if self.init not in ("random", "latest"):
            raise ValueError(f"init must be 'random' or 'latest', got {self.init!r}")
        if self.method not in ATTACK_METHODS:
            raise ValueError(f"method must be one of {ATTACK_METHODS}, got {self.method!r}")

    def random_init(self, text_encoder, generator: torch.Generator | None = None) -> torch.Tensor:
        """The word embeddings of k tokens drawn uniformly from the vocabulary, `(k, width)`."""
        table = text_encoder.get_input_embeddings().weight
        ids = torch.randint(0, table.shape[0], (self.k,), generator=generator)
        return table[ids.to(table.device)].detach().clone()

    def objective(self, text_encoder, unet, input_ids, prefix, noisy, timesteps, target) -> torch.Tensor:
        """‖ε(z_t, t, c(δ ⊕ prompt)) − ε_target‖², averaged over the batch and the image elements."""
        hidden = encode_text(text_encoder, inputs_embeds=prefix_embeddings(text_encoder, input_ids, prefix))
        prediction = unet(noisy, timesteps, encoder_hidden_states=hidden).sample
        return (prediction.float() - target.float()).pow(2).mean()

    def __call__(
        self,
        text_encoder,
        unet,
        input_ids: torch.Tensor,
        *,
        batches: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | Callable[[int], tuple],
        init_embeddings: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, list[float]]:
        """Runs the attack; returns δ `(k, width)` (detached) and the objective before each step.

        The text encoder and the U-Net are left untouched (no gradient reaches their parameters, their train/eval
        mode is restored).

        Args:
            text_encoder: the `CLIPTextModel` under attack.
            unet: the denoiser, `unet(x_t, t, encoder_hidden_states=...)` (a diffusers `UNet2DConditionModel`).
            input_ids: `(batch, length)` prompt ids (the prompt the prefix is prepended to).
            batches: `(noisy, timesteps, target)` used at every step, or a function `step -> (noisy, timesteps,
                target)` drawing fresh ones (the batch size of `noisy` must match `input_ids` or be a multiple).
            init_embeddings: the latest δ `(k, width)` for `init="latest"`.
            generator: seeds the random initialisation.
        """
        if not callable(batches) and (not isinstance(batches, tuple) or len(batches) != 3):
            raise TypeError("batches must be a (noisy, timesteps, target) tuple or a function step -> such a tuple")
        if self.init == "latest" and init_embeddings is not None:
            width = text_encoder.config.hidden_size
            if tuple(init_embeddings.shape) != (self.k, width):
                raise ValueError(
                    f"init_embeddings must have shape ({self.k}, {width}), got {tuple(init_embeddings.shape)}"
                )
            start = init_embeddings.detach().clone()
        else:
            start = self.random_init(text_encoder, generator)
        weight = text_encoder.get_input_embeddings().weight
        prefix = start.to(device=weight.device, dtype=weight.dtype).requires_grad_(True)
        optimizer = torch.optim.Adam([prefix], lr=self.lr)
        modules = (text_encoder, unet)
        modes = [m.training for m in modules]
        flags = [[p.requires_grad for p in m.parameters()] for m in modules]
        losses = []
        try:
            for m in modules:
                m.eval()
                m.requires_grad_(False)
            for step in range(self.steps):
                noisy, timesteps, target = batches(step) if callable(batches) else batches
                repeat = noisy.shape[0] // input_ids.shape[0]
                if repeat < 1 or repeat * input_ids.shape[0] != noisy.shape[0]:
                    raise ValueError(
                        f"the attack batch has {noisy.shape[0]} images for {input_ids.shape[0]} prompts; "
                        "give one image per prompt or a multiple"
                    )
                ids = input_ids.repeat(repeat, 1)
                loss = self.objective(text_encoder, unet, ids, prefix, noisy, timesteps, target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.method == "fast_at":
                    prefix.grad.sign_()
                optimizer.step()
                losses.append(loss.item())
        finally:
            for m, mode, flag in zip(modules, modes, flags):
                m.train(mode)
                for p, f in zip(m.parameters(), flag):
                    p.requires_grad_(f)
        return prefix.detach(), losses

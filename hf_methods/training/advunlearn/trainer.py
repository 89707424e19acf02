"""`AdvUnlearnTrainer`: concept erasure of a text encoder with a soft-prompt attack in the loop (Zhang et al., 2024).

The official training loop (`OPTML-Group/AdvUnlearn`, `train-scripts/AdvUnlearn.py` with `utils/get_loss.py`) is a
bi-level optimisation over the *text encoder* θ of a text-to-image diffusion model, the U-Net frozen:

    min_θ  L_u(θ, δ*(θ)) + γ · L_r(θ),    δ*(θ) = argmin_δ ‖ε(z_t, t, c_θ(δ ⊕ c_p)) − ε_orig(z_t, t, c_p)‖²,

with L_u the ESD loss on the adversarial condition c_θ(δ* ⊕ c_p) and L_r the retain loss on prompts that must survive
(see `loss.py`). Every step draws x_T, runs DDIM with classifier-free guidance (scale 3) under the *original*
conditioning of the concept (and of the retain prompts) to a random step τ of the sampling schedule, and evaluates the
frozen original model (U-Net + original text encoder) there. ESD draws z_t from the model being trained; with the
U-Net frozen and the original conditioning, as in the official `text_encoder_full` mode, that model is the original
one. Without an attack (or before `warmup_steps_before_attack`) the loss is plain ESD applied to the text encoder, the
baseline.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from transformers import Trainer

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.checkpointing import ExtraStateCheckpointMixin
from hf_methods.common.checks import check_number, check_positive_int

from .attack import SoftPromptAttack, prefix_embeddings
from .loss import esd_loss, retain_loss
from .text import encode_text, tokenize

__all__ = ["AdvUnlearnObjective", "AdvUnlearnTrainer", "sample_to_step"]


@torch.no_grad()
def sample_to_step(
    unet,
    scheduler,
    conditioning: torch.Tensor,
    unconditional: torch.Tensor,
    *,
    num_inference_steps: int,
    stop_step: int,
    guidance_scale: float,
    initial_noise: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """DDIM/DDPM sampling with classifier-free guidance, stopped after `stop_step` of `num_inference_steps` steps.

    Returns the partially denoised z and the training timestep t it sits at (the official `quick_sample_till_t`).
    `hf_methods.common.diffusion.sample` always runs to the end; erasing needs the intermediate state.

        ε̂ = ε(z, t, c₀) + w · (ε(z, t, c) − ε(z, t, c₀))
    """
    if not 0 <= stop_step < num_inference_steps:
        raise ValueError(f"stop_step must be in [0, {num_inference_steps}), got {stop_step}")
    scheduler.set_timesteps(num_inference_steps)
    batch = initial_noise.shape[0]
    if unconditional.shape[0] == 1:
        unconditional = unconditional.expand(batch, *unconditional.shape[1:])
    both = torch.cat([conditioning, unconditional])
    z = initial_noise * getattr(scheduler, "init_noise_sigma", 1.0)
    for t in scheduler.timesteps[:stop_step]:
        timesteps = torch.full((2 * batch,), int(t), device=z.device, dtype=torch.long)
        eps = unet(scheduler.scale_model_input(torch.cat([z, z]), t), timesteps, encoder_hidden_states=both).sample
        eps_cond, eps_uncond = eps.chunk(2)
        z = scheduler.step(eps_uncond + guidance_scale * (eps_cond - eps_uncond), t, z).prev_sample
    return z, int(scheduler.timesteps[stop_step])


class AdvUnlearnObjective:
    """One step of AdvUnlearn's outer objective, L_u(θ, δ*) + γ L_r(θ), for a text encoder θ (a plain-torch callable).

    Holds the frozen parts (the U-Net, a frozen copy of the text encoder as it was at construction, the sampling
    scheduler), the concept prompts, the attack and its latest δ; [`AdvUnlearnTrainer`] and `recipes/advunlearn.py`
    call it once per step. `state_dict()` / `load_state_dict()` carry δ and the random state, so a resumed run
    continues as an uninterrupted one.

    Args:
        unet: the frozen denoiser, `unet(x_t, t, encoder_hidden_states=...)` (a diffusers `UNet2DConditionModel`).
        text_encoder: the `CLIPTextModel` to erase; copied here (frozen) as the text side of ε_orig.
        scheduler: a diffusers scheduler for the partial sampling (its config is turned into a DDIM scheduler).
        tokenizer: the tokenizer of the text encoder (padding to its `model_max_length`).
        concept (`str` or `list[str]`): the prompts of the concept to erase (e.g. every phrasing of "three").
        attack (`SoftPromptAttack`, *optional*): the inner attack; `None` gives plain ESD on the text encoder.
        negative_guidance (`float`): η of the ESD target (1 in the official code).
        retain_weight (`float`): γ of L = L_u + γ L_r (0.3 in the official README commands).
        start_guidance (`float`): classifier-free guidance of the partial sampling (3 in the official code).
        num_sampling_steps (`int`): length of the DDIM schedule z_t is drawn from (50 in the official code).
        concept_batch_size (`int`): concept prompts per step (drawn from `concept`).
        warmup_steps_before_attack (`int`): steps of plain ESD before the attack starts (200 of 1000 officially).
        attack_every (`int`): run the attack every this many steps, the latest δ in between (the official
            `adv_prompt_update_step`, 1 by default).
        seed (`int`): seeds the noise, the sampled steps, the concept prompts and the attack's initialisation.
    """

    def __init__(
        self,
        unet,
        text_encoder,
        scheduler,
        tokenizer,
        *,
        concept: str | list[str],
        attack: SoftPromptAttack | None = None,
        negative_guidance: float = 1.0,
        retain_weight: float = 0.3,
        start_guidance: float = 3.0,
        num_sampling_steps: int = 10,
        concept_batch_size: int = 4,
        warmup_steps_before_attack: int = 0,
        attack_every: int = 1,
        seed: int = 0,
    ):
        from hf_methods.common.diffusion import require_diffusers

        diffusers = require_diffusers()
        if text_encoder is None or not hasattr(text_encoder, "get_input_embeddings"):
            raise TypeError("model must be the text encoder to erase (a transformers CLIPTextModel)")
        if not isinstance(unet, torch.nn.Module):
            raise TypeError(
                f"unet must be a torch module (a diffusers UNet2DConditionModel), got {type(unet).__name__}"
            )
        if attack is not None and not isinstance(attack, SoftPromptAttack):
            raise TypeError(f"attack must be a SoftPromptAttack or None, got {type(attack).__name__}")
        concept = [concept] if isinstance(concept, str) else list(concept)
        if not concept or not all(isinstance(p, str) and p.strip() for p in concept):
            raise ValueError("concept must be a non-empty prompt or a non-empty list of non-empty prompts")
        self.negative_guidance = check_number("negative_guidance", negative_guidance, low=0.0)
        self.retain_weight = check_number("retain_weight", retain_weight, low=0.0)
        self.start_guidance = check_number("start_guidance", start_guidance, low=0.0)
        self.num_sampling_steps = check_positive_int("num_sampling_steps", num_sampling_steps)
        self.concept_batch_size = check_positive_int("concept_batch_size", concept_batch_size)
        self.attack_every = check_positive_int("attack_every", attack_every)
        if isinstance(warmup_steps_before_attack, bool) or not isinstance(warmup_steps_before_attack, int):
            raise TypeError("warmup_steps_before_attack must be an integer")
        if warmup_steps_before_attack < 0:
            raise ValueError(f"warmup_steps_before_attack must be >= 0, got {warmup_steps_before_attack}")
        self.warmup_steps_before_attack = warmup_steps_before_attack
        self.unet = unet.requires_grad_(False).eval()
        self.original_text_encoder = copy.deepcopy(text_encoder).requires_grad_(False).eval()
        self.sampling_scheduler = diffusers.DDIMScheduler.from_config(scheduler.config)
        self.attack = attack
        self.concept_ids = tokenize(tokenizer, concept)
        self.empty_ids = tokenize(tokenizer, "")
        self.generator = torch.Generator().manual_seed(seed)
        self.adversarial_prefix: torch.Tensor | None = None  # δ, the latest attack's result
        self.attack_losses: list[list[float]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "adversarial_prefix": self.adversarial_prefix}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.adversarial_prefix = state["adversarial_prefix"]

    def _encode_original(self, input_ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return encode_text(self.original_text_encoder, input_ids)

    def image_shape(self) -> tuple[int, int, int]:
        config = self.unet.config
        size = config.sample_size if isinstance(config.sample_size, int) else config.sample_size[0]
        return (config.in_channels, size, size)

    def __call__(self, text_encoder, retain_ids: torch.Tensor | None, step: int) -> torch.Tensor:
        """L = L_u(θ, δ) + γ L_r(θ) at training step `step` (the attack runs first when it is due).

        Args:
            text_encoder: the encoder being erased (in training mode; gradients flow into it).
            retain_ids: `(batch, length)` ids of this step's retain prompts (ignored when γ = 0).
            step: the global step (decides warm-up and attack schedule).
        """
        device = next(text_encoder.parameters()).device
        for module in (self.unet, self.original_text_encoder):
            module.to(device)
        pick = torch.randint(0, len(self.concept_ids), (self.concept_batch_size,), generator=self.generator)
        concept_ids = self.concept_ids[pick].to(device)
        use_retain = self.retain_weight > 0
        if use_retain and (retain_ids is None or len(retain_ids) == 0):
            raise ValueError("retain_weight > 0 needs a batch of retain prompt ids")
        retain_ids = retain_ids.to(device) if use_retain else concept_ids[:0]
        n_concept = len(concept_ids)

        # z_t from the frozen model under the original conditioning (ESD's "generate an image with the concept")
        c0 = self._encode_original(self.empty_ids.to(device))
        cp = self._encode_original(concept_ids)
        cr = self._encode_original(retain_ids) if use_retain else cp[:0]
        stop = int(torch.randint(0, self.num_sampling_steps, (1,), generator=self.generator))
        noise = torch.randn((n_concept + len(retain_ids), *self.image_shape()), generator=self.generator)
        z, t = sample_to_step(
            self.unet,
            self.sampling_scheduler,
            torch.cat([cp, cr]),
            c0,
            num_inference_steps=self.num_sampling_steps,
            stop_step=stop,
            guidance_scale=self.start_guidance,
            initial_noise=noise.to(device),
        )
        timesteps = torch.full((len(z),), t, device=device, dtype=torch.long)
        with torch.no_grad():
            e_orig = self.unet(z, timesteps, encoder_hidden_states=torch.cat([cp, cr])).sample
            e_uncond = self.unet(z[:n_concept], timesteps[:n_concept], encoder_hidden_states=c0.expand_as(cp)).sample
        e_concept, e_retain = e_orig[:n_concept], e_orig[n_concept:]

        # inner problem: δ* makes the current encoder reproduce the original model's prediction for the concept
        attacking = self.attack is not None and step >= self.warmup_steps_before_attack
        if attacking and (step - self.warmup_steps_before_attack) % self.attack_every == 0:
            self.adversarial_prefix, losses = self.attack(
                text_encoder,
                self.unet,
                concept_ids,
                batches=(z[:n_concept], timesteps[:n_concept], e_concept),
                init_embeddings=self.adversarial_prefix,
                generator=self.generator,
            )
            self.attack_losses.append(losses)
        if attacking and self.adversarial_prefix is not None:
            embeds = prefix_embeddings(text_encoder, concept_ids, self.adversarial_prefix.to(device))
            condition = encode_text(text_encoder, inputs_embeds=embeds)
        else:
            condition = encode_text(text_encoder, concept_ids)
        e_erased = self.unet(z[:n_concept], timesteps[:n_concept], encoder_hidden_states=condition).sample
        loss = esd_loss(e_erased, e_uncond, e_concept, negative_guidance=self.negative_guidance)
        if use_retain:
            hidden = encode_text(text_encoder, retain_ids)
            e_kept = self.unet(z[n_concept:], timesteps[n_concept:], encoder_hidden_states=hidden).sample
            loss = loss + self.retain_weight * retain_loss(e_kept, e_retain)
        return loss


class AdvUnlearnTrainer(ExtraStateCheckpointMixin, Trainer):
    """A `transformers.Trainer` that erases a concept from a text encoder, adversarially (AdvUnlearn) or not (ESD).

    The trained model is the text encoder (`model=text_encoder`, a `CLIPTextModel`); it stays a plain
    `CLIPTextModel`, so `save_pretrained` gives a drop-in encoder for the same U-Net. The U-Net and a frozen copy of
    the text encoder as it was at construction (the text side of the original model ε_orig) receive no update. The
    training set holds the tokenized retain prompts (each step takes `per_device_train_batch_size` of them for L_r);
    it is built from `retain_prompts` when `train_dataset` is not given. The step's loss is [`AdvUnlearnObjective`];
    δ and the objective's random state are saved in every checkpoint.

    Args:
        model: the `CLIPTextModel` to erase the concept from (updated in place).
        args: `TrainingArguments`.
        unet, scheduler, tokenizer, concept, attack, negative_guidance, retain_weight, start_guidance,
        num_sampling_steps, concept_batch_size, warmup_steps_before_attack, attack_every, seed: see
            [`AdvUnlearnObjective`].
        retain_prompts (`list[str]`): prompts whose generations must not change (L_r); may be empty when
            `retain_weight` is 0.
        **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = AdvUnlearnTrainer(model=text_encoder, args=args, unet=unet, scheduler=scheduler,
    ...                             tokenizer=tokenizer, concept="three", retain_prompts=["one", "seven"],
    ...                             attack=SoftPromptAttack(k=1, steps=30, lr=1e-3))
    >>> trainer.train()
    >>> text_encoder.save_pretrained("advunlearn-text-encoder")
    ```
    """

    extra_state_file = "advunlearn_state.pt"
    extra_state_description = "the latest adversarial prefix δ and the objective's random state"

    def __init__(
        self,
        model=None,
        args=None,
        *,
        unet,
        scheduler,
        tokenizer,
        concept: str | list[str],
        retain_prompts: list[str] = (),
        attack: SoftPromptAttack | None = None,
        negative_guidance: float = 1.0,
        retain_weight: float = 0.3,
        start_guidance: float = 3.0,
        num_sampling_steps: int = 10,
        concept_batch_size: int = 4,
        warmup_steps_before_attack: int = 0,
        attack_every: int = 1,
        seed: int = 0,
        train_dataset=None,
        **kwargs,
    ):
        objective = AdvUnlearnObjective(
            unet,
            model,
            scheduler,
            tokenizer,
            concept=concept,
            attack=attack,
            negative_guidance=negative_guidance,
            retain_weight=retain_weight,
            start_guidance=start_guidance,
            num_sampling_steps=num_sampling_steps,
            concept_batch_size=concept_batch_size,
            warmup_steps_before_attack=warmup_steps_before_attack,
            attack_every=attack_every,
            seed=seed,
        )
        retain_prompts = list(retain_prompts)
        if objective.retain_weight > 0 and not retain_prompts and train_dataset is None:
            raise ValueError("retain_weight > 0 needs retain_prompts (or a train_dataset of retain input_ids)")
        if train_dataset is None:
            # without retain prompts the dataset only paces the steps (the empty prompt, unused by the loss)
            train_dataset = TensorDictDataset(input_ids=tokenize(tokenizer, retain_prompts or [""]))
            kwargs.setdefault("data_collator", collate_batch)
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)
        self.objective = objective

    # the batches are tokenized retain prompts, consumed by compute_loss rather than by the model's forward: the
    # Trainer's column filter (meant for forward's arguments) is turned off
    def _remove_unused_columns(self, dataset, description=None):
        return dataset

    def _get_collator_with_removed_columns(self, data_collator, description=None):
        return data_collator

    @property
    def original_text_encoder(self):
        return self.objective.original_text_encoder

    @property
    def adversarial_prefix(self) -> torch.Tensor | None:
        return self.objective.adversarial_prefix

    @property
    def attack_losses(self) -> list[list[float]]:
        return self.objective.attack_losses

    def compute_loss(self, model, inputs: dict[str, Any], return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation: the objective without running the attack
            attack, self.objective.attack = self.objective.attack, None
            try:
                loss = self.objective(model, inputs.get("input_ids"), self.state.global_step)
            finally:
                self.objective.attack = attack
        else:
            loss = self.objective(model, inputs.get("input_ids"), self.state.global_step)
        return (loss, {"loss": loss}) if return_outputs else loss

    def extra_state_module(self):
        return self.objective

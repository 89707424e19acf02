"""`D2NWGPipeline`: train a D2NWG weight generator on a zoo and generate state dicts for a new dataset.

D2NWG (Soro et al., "Diffusion-Based Neural Network Weights Generation") is trained in two stages, as the official
code (`sorobedio/DNNWG`: `main.py` for the VAE, `dtrainer.py` for the diffusion):

1. [`~D2NWGPipeline.train_vae`]: the weight VAE on the zoo's flat weights;
2. [`~D2NWGPipeline.train_diffusion`]: the latents of the frozen VAE are rescaled to unit standard deviation
   (`scale_by_std`) and a conditional latent denoiser is fitted with the ε-prediction loss, the dataset set-encoder
   trained jointly; each step draws a fresh support set of every model's dataset.

[`~D2NWGPipeline.generate_weights`] embeds a target dataset's support set, samples latents with a diffusers scheduler
(ancestral DDPM by default), decodes them with the VAE and returns the target model's state dicts. The noise schedule,
the ε-loss and the sampling loop are diffusers' and `hf_methods.common.diffusion`'s; this module only wires them to
the three D2NWG networks (optional extra `diffusion`: `pip install 'hf-methods[diffusion]'`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

try:
    from diffusers import DiffusionPipeline
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hf_methods.models.d2nwg.pipeline needs diffusers: pip install 'hf-methods[diffusion]' (or pip install diffusers)"
    ) from error

from hf_methods.common.checks import check_positive_int
from hf_methods.common.diffusion import ddpm_scheduler, require_diffusers, sample, train_denoiser

from .configuration_d2nwg import D2NWGConfig
from .modeling_d2nwg import D2NWGModel
from .zoo import WeightZoo

__all__ = ["D2NWGPipeline", "d2nwg_scheduler"]


def d2nwg_scheduler(num_train_timesteps: int = 200, beta_schedule: str = "squaredcos_cap_v2"):
    """The zoo's DDPM scheduler (`hf_methods.common.diffusion.ddpm_scheduler`) without clipping of the predicted x₀.

    diffusers' `DDPMScheduler` clips x̂₀ to [−1, 1] by default, a range meant for images; the latents here have unit
    standard deviation (`scale_by_std`), so about a third of their coordinates lie outside it.
    """
    diffusers = require_diffusers()
    base = ddpm_scheduler(num_train_timesteps, beta_schedule)
    return diffusers.DDPMScheduler.from_config(base.config, clip_sample=False)


class D2NWGPipeline(DiffusionPipeline):
    """The D2NWG weight generator with its noise scheduler, a diffusers `DiffusionPipeline` (`save_pretrained` writes
    `model_index.json`, `model/` and `scheduler/`; `from_pretrained` reads them back, `.to(device)` moves the model).

    Args:
        model ([`D2NWGModel`] or [`D2NWGConfig`]): the three networks (a config builds them untrained).
        scheduler (diffusers scheduler or `None`): its `num_train_timesteps` must be the model's; `None` gives
            [`d2nwg_scheduler`] with the model's `num_train_timesteps`. (A required argument, as in diffusers
            pipelines: `DiffusionPipeline.from_pretrained` loads the components named without defaults.)

    ```python
    >>> pipe = D2NWGPipeline(D2NWGModel(D2NWGConfig(parameter_spec=zoo.parameter_spec)), scheduler=None)
    >>> pipe.train_vae(zoo, steps=1500); pipe.train_diffusion(zoo, steps=3000)
    >>> state_dicts = pipe.generate_weights(support_set, n=5)  # support_set: (classes, samples, features)
    ```
    """

    def __init__(self, model: D2NWGModel | D2NWGConfig, scheduler):
        super().__init__()
        if isinstance(model, D2NWGConfig):
            model = D2NWGModel(model)
        if not isinstance(model, D2NWGModel):
            raise TypeError(f"`model` must be a D2NWGModel or a D2NWGConfig, got {type(model).__name__}.")
        scheduler = scheduler if scheduler is not None else d2nwg_scheduler(model.config.num_train_timesteps)
        if scheduler.config.num_train_timesteps != model.config.num_train_timesteps:
            raise ValueError(
                f"the scheduler has num_train_timesteps={scheduler.config.num_train_timesteps}, the model "
                f"{model.config.num_train_timesteps}: they must agree."
            )
        self.register_modules(model=model, scheduler=scheduler)

    def _check_zoo(self, zoo) -> WeightZoo:
        if not isinstance(zoo, WeightZoo):
            raise TypeError(f"`zoo` must be a WeightZoo, got {type(zoo).__name__}.")
        if [[name, list(shape)] for name, shape in zoo.parameter_spec] != [
            [name, list(shape)] for name, shape in self.model.config.parameter_spec
        ]:
            raise ValueError(
                f"the zoo's parameter_spec {zoo.parameter_spec} differs from the model's {self.model.config.parameter_spec}."
            )
        if zoo.num_classes != self.model.config.num_classes or zoo.feature_dim != self.model.config.feature_dim:
            raise ValueError(
                f"the zoo's datasets have {zoo.num_classes} classes of {zoo.feature_dim} features; the model expects "
                f"num_classes={self.model.config.num_classes}, feature_dim={self.model.config.feature_dim}."
            )
        if len(zoo) < 2:
            raise ValueError(f"`zoo` must hold at least 2 weight vectors, got {len(zoo)}.")
        return zoo

    def train_vae(
        self,
        zoo: WeightZoo,
        *,
        steps: int = 2000,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        seed: int = 0,
        fit_statistics: bool = True,
    ) -> list[float]:
        """Stage 1: fits the weight VAE on the zoo's vectors with AdamW (cosine decay); returns the step losses.

        With `fit_statistics`, the VAE's per-coordinate normalisation is first set to the zoo's mean and std.
        """
        zoo = self._check_zoo(zoo)
        check_positive_int("steps", steps)
        check_positive_int("batch_size", batch_size)
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
        vae = self.model.vae
        device = vae.device
        vectors = zoo.vectors.to(device)
        if fit_statistics:
            vae.fit_weight_statistics(vectors)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        vae.train()
        losses = []
        for _ in range(steps):
            index = torch.randint(0, len(zoo), (min(batch_size, len(zoo)),), generator=generator)
            noise = torch.randn(len(index), self.model.config.latent_dim, generator=generator).to(device)
            loss = vae(vectors[index], latent_noise=noise, return_dict=True).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        vae.eval()
        return losses

    def train_diffusion(
        self,
        zoo: WeightZoo,
        *,
        steps: int = 3000,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        seed: int = 0,
    ) -> list[float]:
        """Stage 2: fits the conditional latent denoiser and the set encoder on the frozen VAE's latents.

        Sets `latent_scale` to 1 / std of the zoo's latents (`scale_by_std`), then minimises
        E ‖ε − ε_θ(z_t, t, E(S))‖² with `hf_methods.common.diffusion.train_denoiser`, S a support set drawn anew at
        every step from the dataset of each latent. Returns the step losses.
        """
        zoo = self._check_zoo(zoo)
        model = self.model
        device = model.device
        vectors = zoo.vectors.to(device)
        model.vae.eval()
        model.fit_latent_scale(vectors)
        latents = model.encode_weights(vectors)
        sampler = torch.Generator().manual_seed(seed + 1)
        samples_per_class = self.model.config.samples_per_class

        def conditioning(task_ids: torch.Tensor) -> dict:
            support = zoo.sample_support_sets(task_ids.cpu(), samples_per_class, sampler)
            return {"support_set": support.to(device)}

        for parameter in model.vae.parameters():  # frozen in stage 2
            parameter.requires_grad_(False)
        try:
            losses = train_denoiser(
                model,
                latents,
                self.scheduler,
                steps=steps,
                batch_size=batch_size,
                learning_rate=learning_rate,
                conditions=zoo.task_ids,
                conditioning_fn=conditioning,
                seed=seed,
            )
        finally:
            for parameter in model.vae.parameters():
                parameter.requires_grad_(True)
        model.eval()
        return losses

    def _check_support(self, support_set) -> torch.Tensor:
        config = self.model.config
        expected = (config.num_classes, config.samples_per_class, config.feature_dim)
        if not isinstance(support_set, torch.Tensor) or not support_set.is_floating_point():
            raise TypeError("`support_set` must be a float tensor (classes, samples_per_class, features).")
        if support_set.dim() == 3:
            support_set = support_set[None]
        if support_set.dim() != 4 or tuple(support_set.shape[1:]) != expected:
            raise ValueError(
                f"`support_set` must have shape {expected} or (B, *{expected}), got {tuple(support_set.shape)}."
            )
        return support_set

    @torch.no_grad()
    def generate_vectors(
        self,
        support_sets: torch.Tensor,
        n: int = 1,
        *,
        num_inference_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Flat generated weights `(B, n, P)`: n samples for each of B support sets `(B, C, K, F)`."""
        support_sets = self._check_support(support_sets)
        check_positive_int("n", n)
        steps = self.model.config.num_train_timesteps if num_inference_steps is None else num_inference_steps
        check_positive_int("num_inference_steps", steps)
        model = self.model.eval()
        device = model.device
        condition = model.embed_dataset(support_sets.to(device)).repeat_interleave(n, dim=0)
        latents = sample(
            model.denoiser,
            self.scheduler,
            (condition.shape[0], self.model.config.latent_dim),
            num_inference_steps=steps,
            conditioning={"condition": condition},
            generator=generator,
        )
        vectors = model.decode_latents(latents)
        return vectors.reshape(support_sets.shape[0], n, -1)

    def generate_weights(
        self,
        support_set: torch.Tensor,
        n: int = 5,
        *,
        num_inference_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[dict]:
        """n generated state dicts of the target model for one dataset, given its support set `(C, K, F)`.

        Args:
            support_set: K samples of each of the C classes (in label order) of the target dataset, the features
                the set encoder was trained on.
            n: number of weight samples.
            num_inference_steps: scheduler steps (default: all `num_train_timesteps`).
            generator: seeds the sampling noise.
        """
        if isinstance(support_set, torch.Tensor) and support_set.dim() != 3:
            raise ValueError(
                f"`support_set` must be one dataset's (classes, samples, features), got shape {tuple(support_set.shape)}"
                "; use generate_vectors for a batch of datasets."
            )
        vectors = self.generate_vectors(support_set, n, num_inference_steps=num_inference_steps, generator=generator)
        return [self.model.vector_to_state_dict(v) for v in vectors[0]]

    def __call__(self, support_set: torch.Tensor, n: int = 5, **kwargs) -> list[dict]:
        """[`~D2NWGPipeline.generate_weights`]."""
        return self.generate_weights(support_set, n, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> D2NWGPipeline:
        """Loads a pipeline saved with `save_pretrained` (`model_index.json`, `model/`, `scheduler/`), or a
        `recipes/d2nwg.py` output folder (the model at its root, the scheduler in `scheduler/`)."""
        folder = Path(pretrained_model_name_or_path)
        if (folder / "model_index.json").is_file() or not folder.is_dir():
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        diffusers = require_diffusers()
        scheduler_file = folder / "scheduler" / "scheduler_config.json"
        if not (folder / "config.json").is_file() or not scheduler_file.is_file():
            raise FileNotFoundError(
                f"{folder} is not a saved D2NWGPipeline: it needs model_index.json, or a model config at its root "
                "and scheduler/scheduler_config.json."
            )
        scheduler_cls = getattr(diffusers, json.loads(scheduler_file.read_text())["_class_name"])
        model = D2NWGModel.from_pretrained(folder)
        return cls(model, scheduler_cls.from_pretrained(folder / "scheduler"))

"""Growing trained members into one network: [`grow_mixture`] (a function) and [`GrowthCallback`] (for `Trainer`).

MixtureGrowth (Pham, Teterwak, Nelson & Plummer, WACV 2024; official code `chaudatascience/mixturegrowth`) trains
two half-width networks whose layers are mixtures of parameter templates, then grows them into a network of twice
the width: the members' weights stay on the diagonal of every layer and the new blocks are new linear combinations
of the members' *learned* templates (`models/layers.py`, `SModule.growth_update` / `get_params`).
"""

from __future__ import annotations

import copy

import torch
from transformers import TrainerCallback

from .configuration_mixturegrowth import DEFAULT_BLOCK_TEMPLATE_SETS, TemplateMixingConfig
from .modeling_mixturegrowth import GROWTH_COEFFICIENTS, TemplateMixingMLP

#: The config fields two members must share to be grown together.
_SHARED_FIELDS = ("input_size", "hidden_sizes", "num_labels", "num_templates", "hidden_act", "use_batch_norm")


def grow_mixture(
    model_a: TemplateMixingMLP,
    model_b: TemplateMixingMLP | None = None,
    coefs: str = "orthogonal",
    *,
    scale: float = 1.0,
    seed: int = 0,
) -> TemplateMixingMLP:
    r"""A new grown network from two trained members (the inputs are left untouched).

    Either two single-member networks (`num_members=1`, same config), `model_a` becoming member 0 (template set 0)
    and `model_b` member 1, or one two-member network trained before growth (`num_members=2, grown=False`) as
    `model_a` alone. Every hidden-to-hidden layer of the result is

        W = [[W₀, W₂],          W₀ = Σ_k α_{0,k} T_{0,k},   W₁ = Σ_k α_{1,k} T_{1,k}   (the members, unchanged)
             [W₃, W₁]],         W₂ = Σ_k α_{2,k} T_{s(2),k}, W₃ = Σ_k α_{3,k} T_{s(3),k} (new coefficients)

    the first layer `[[W₀], [W₁]]` and the classifier `[W₀, W₁]`; the batch norms concatenate the members' weights,
    biases and running statistics. See [`TemplateMixingMLP.grow_`] for the `coefs` rules. With MixtureGrowth's
    `"orthogonal"` (and "copy", "zero", "random") the new blocks reuse the members' template sets (`s(2) = 0`,
    `s(3) = 1`, or the sets the two-member model was configured with); `"random_init"` gives them two new template
    sets drawn at random.

    Args:
        model_a (`TemplateMixingMLP`): member 0, or a two-member network before growth.
        model_b (`TemplateMixingMLP`, *optional*): member 1 (omit it when `model_a` holds both members).
        coefs (`str`, defaults to `"orthogonal"`): how the new coefficients are initialised.
        scale (`float`, defaults to 1.0): norm of the new coefficients (official `coefs_noise_growing`).
        seed (`int`, defaults to 0): seeds the random draws of "copy", "random" and "random_init".

    Returns:
        `TemplateMixingMLP`: the grown network (`num_members=2, grown=True`), on `model_a`'s device and dtype, in
        `model_a`'s training mode.
    """
    if coefs not in GROWTH_COEFFICIENTS:
        raise ValueError(f"coefs must be one of {GROWTH_COEFFICIENTS}, got {coefs!r}")
    if not isinstance(model_a, TemplateMixingMLP):
        raise TypeError(f"model_a must be a TemplateMixingMLP, got {type(model_a).__name__}")
    if model_b is None:
        if not model_a.config.trains_members:
            raise ValueError(
                "grow_mixture(model_a) alone needs a two-member model before growth (num_members=2, grown=False); "
                "pass two single-member models as model_a and model_b otherwise"
            )
        pair = _as_pair_with_sets(model_a, coefs)
    else:
        if not isinstance(model_b, TemplateMixingMLP):
            raise TypeError(f"model_b must be a TemplateMixingMLP, got {type(model_b).__name__}")
        for name, model in (("model_a", model_a), ("model_b", model_b)):
            if model.config.num_members != 1:
                raise ValueError(f"{name} must be a single member (num_members=1), got {model.config.num_members}")
        different = [f for f in _SHARED_FIELDS if getattr(model_a.config, f) != getattr(model_b.config, f)]
        if different:
            raise ValueError(f"model_a and model_b must have the same architecture; they differ in {different}")
        pair = _pair_from_members(model_a, model_b, coefs)
    generator = torch.Generator().manual_seed(seed)
    pair.grow_(coefs, scale=scale, generator=generator)
    return pair.train(model_a.training)


def _pair_config(config: TemplateMixingConfig, coefs: str, hidden_sizes: list[int], sets: list[int]):
    sets = [0, 1, 2, 3] if coefs == "random_init" else sets
    kwargs = {f: getattr(config, f) for f in _SHARED_FIELDS if f != "hidden_sizes"}
    kwargs["id2label"] = config.id2label
    return TemplateMixingConfig(**kwargs, hidden_sizes=hidden_sizes, num_members=2, block_template_sets=sets)


def _new_pair(config: TemplateMixingConfig, like: TemplateMixingMLP, seed: int = 0) -> TemplateMixingMLP:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the parts not copied from the members (re-drawn or overwritten at growth)
        pair = TemplateMixingMLP(config)
    param = next(like.parameters())
    return pair.to(device=param.device, dtype=param.dtype)


@torch.no_grad()
def _pair_from_members(model_a: TemplateMixingMLP, model_b: TemplateMixingMLP, coefs: str) -> TemplateMixingMLP:
    config = model_a.config
    hidden = [2 * width for width in config.hidden_sizes]
    pair = _new_pair(_pair_config(config, coefs, hidden, list(DEFAULT_BLOCK_TEMPLATE_SETS)), model_a)
    layers = [
        *zip(pair.layers, model_a.layers, model_b.layers),
        (pair.classifier, model_a.classifier, model_b.classifier),
    ]
    for target, a, b in layers:
        # member m owns template set m and block m
        target.templates[0], target.templates[1] = a.templates[0], b.templates[0]
        target.coefficients[0], target.coefficients[1] = a.coefficients[0], b.coefficients[0]
    if config.use_batch_norm:
        for target, a, b in zip(pair.norms, model_a.norms, model_b.norms):
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(target, name).copy_(torch.cat([getattr(a, name), getattr(b, name)]))
            target.num_batches_tracked.copy_(torch.maximum(a.num_batches_tracked, b.num_batches_tracked))
    return pair


@torch.no_grad()
def _as_pair_with_sets(model: TemplateMixingMLP, coefs: str) -> TemplateMixingMLP:
    """A copy of a two-member model, with new template sets for the new blocks when `coefs="random_init"`."""
    config = model.config
    if coefs != "random_init" or config.block_template_sets == [0, 1, 2, 3]:
        return copy.deepcopy(model)
    pair = _new_pair(_pair_config(config, coefs, list(config.hidden_sizes), [0, 1, 2, 3]), model)
    for target, source in [*zip(pair.layers, model.layers), (pair.classifier, model.classifier)]:
        target.templates[:2] = source.templates[:2]  # the members' sets; the new sets are drawn at growth
        target.coefficients[:2] = source.coefficients[:2]
    for target, source in zip(pair.norms, model.norms):
        target.load_state_dict(source.state_dict())
    return pair


class GrowthCallback(TrainerCallback):
    r"""Grows a two-member [`TemplateMixingMLP`] in place during a `transformers.Trainer` run.

    Train a model built with `TemplateMixingConfig(num_members=2)` (two half-width members side by side, each trained
    on its own) and this callback grows it, at the start of epoch `grow_at_epoch` or of step `grow_at_step`, into
    the full-width network ([`TemplateMixingMLP.grow_`]); training then continues on the grown network. No parameter
    is added or reshaped (the new blocks' coefficients exist from the start, unused before growth), so the
    Trainer's optimizer and scheduler keep working; the members' optimizer state carries over, as in the official
    code. With `learning_rate` the optimizer's learning rate is set to it from growth on (the official code
    fine-tunes the grown network with a smaller `lr_growing`), scaled by the scheduler's factor from then on.

    A run resumed from a checkpoint saved after growth switches the model to its grown form without touching the
    restored coefficients.

    Args:
        grow_at_epoch (`int`, *optional*): grow at the start of this epoch (0-based: 2 grows after two epochs).
        grow_at_step (`int`, *optional*): grow at the start of this optimisation step instead.
        coefs (`str`, defaults to `"orthogonal"`): how the new coefficients are initialised (see `grow_`).
        scale (`float`, defaults to 1.0): norm of the new coefficients.
        seed (`int`, defaults to 0): seed of the random draws of "copy", "random" and "random_init".
        learning_rate (`float`, *optional*): the learning rate after growth.

    Example:

    ```python
    >>> model = TemplateMixingMLP(TemplateMixingConfig(hidden_sizes=[128, 128], num_members=2))
    >>> trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GrowthCallback(grow_at_epoch=20)])
    >>> trainer.train()  # epochs 0-19 train the members, then the grown network
    ```
    """

    def __init__(
        self,
        grow_at_epoch: int | None = None,
        grow_at_step: int | None = None,
        coefs: str = "orthogonal",
        scale: float = 1.0,
        seed: int = 0,
        learning_rate: float | None = None,
    ):
        if (grow_at_epoch is None) == (grow_at_step is None):
            raise ValueError("pass exactly one of grow_at_epoch and grow_at_step")
        for name, value in (("grow_at_epoch", grow_at_epoch), ("grow_at_step", grow_at_step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if coefs not in GROWTH_COEFFICIENTS or coefs == "none":
            raise ValueError(f"coefs must be one of {[c for c in GROWTH_COEFFICIENTS if c != 'none']}, got {coefs!r}")
        if learning_rate is not None and not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        self.grow_at_epoch, self.grow_at_step = grow_at_epoch, grow_at_step
        self.coefs, self.scale, self.seed, self.learning_rate = coefs, scale, seed, learning_rate
        self.grown_at_step: int | None = None

    def _due(self, state) -> bool:
        if self.grow_at_step is not None:
            return state.global_step >= self.grow_at_step
        return state.epoch is not None and round(state.epoch, 6) >= self.grow_at_epoch

    @staticmethod
    def _check(model) -> TemplateMixingMLP:
        if not isinstance(model, TemplateMixingMLP):
            raise TypeError(f"GrowthCallback grows a TemplateMixingMLP, got {type(model).__name__}")
        if model.config.num_members != 2:
            raise ValueError("GrowthCallback needs a two-member model: TemplateMixingConfig(num_members=2)")
        return model

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        model = self._check(model)
        if state.global_step > 0 and self._due(state) and model.config.trains_members:
            model.grow_("none")  # resumed after growth: the checkpoint holds the grown coefficients
            self._set_learning_rate(optimizer, lr_scheduler)
            self.grown_at_step = state.global_step

    def on_epoch_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        self._maybe_grow(state, model, optimizer, lr_scheduler)

    def on_step_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        self._maybe_grow(state, model, optimizer, lr_scheduler)

    def _maybe_grow(self, state, model, optimizer, lr_scheduler) -> None:
        model = self._check(model)
        if not model.config.trains_members or not self._due(state):
            return
        model.grow_(self.coefs, scale=self.scale, generator=torch.Generator().manual_seed(self.seed))
        self._set_learning_rate(optimizer, lr_scheduler)
        self.grown_at_step = state.global_step

    def _set_learning_rate(self, optimizer, lr_scheduler) -> None:
        if self.learning_rate is None or optimizer is None:
            return
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate
            group["initial_lr"] = self.learning_rate
        if lr_scheduler is not None and hasattr(lr_scheduler, "base_lrs"):
            lr_scheduler.base_lrs = [self.learning_rate] * len(lr_scheduler.base_lrs)


__all__ = ["GrowthCallback", "grow_mixture"]

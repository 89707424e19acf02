"""`JLCMQuantizer`: post-training codebook quantization with jointly learned codebooks and mappings (JLCM,
Yvinec, Dapogny & Bailly, ICLR 2024).

1. **Neuron re-ordering** (`reorder.py`): the neurons of each producer/consumer pair are clustered into G groups and
   permuted so the groups are contiguous; the consumers' columns get the inverse permutation (the function is
   unchanged, checked on the calibration data).
2. **Grouped codebooks**: every target `nn.Linear` becomes a [`CodebookLinear`] with one K = 2^b codebook per row
   group (layers whose neurons cannot be re-ordered get G contiguous row blocks), initialised by k-means.
3. **Joint optimisation** on calibration data: the codebooks C and the mapping scores S minimise the layer-wise
   output reconstruction

       L = Σ_l ‖X_l Ŵ_lᵀ − X_l W_lᵀ‖² / ‖X_l W_lᵀ‖²,     Ŵ_l = C_l[argmax S_l],

   (X_l the full-precision inputs of layer l), C by Adam, S by gradient steps through the proximal
   straight-through gradient of `MappingGradient` (`mapping_update="proximal"`; `"ste"` is the plain gradient the
   paper argues against).
4. The mapping is fixed (I = argmax S), the codewords rounded to float16 and sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from .codebook import (
    MAPPING_UPDATES,
    CodebookLinear,
    check_bits,
    set_submodule,
)
from .reorder import as_neuron_pair, find_neuron_pairs, reorder_neurons

INITS = ("kmeans", "uniform")


def _positive(name: str, value, kind=(int, float)) -> None:
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


class JLCMQuantizer:
    """Quantizes the `nn.Linear` layers of a model to grouped b-bit codebooks with jointly learned mappings.

    Args:
        bits (`int`): index width b (K = 2^b codewords per codebook).
        n_groups (`int`): G, codebooks per layer (groups of output neurons).
        steps (`int`): optimisation steps of the joint codebook/mapping search (0: k-means only).
        batch_size (`int`): calibration rows (tokens or examples) per step and layer.
        codebook_lr (`float`): Adam learning rate of the codewords.
        mapping_lr (`float`): step size η of the mapping scores (S ← S − η ∂L/∂S, the gradient normalised per layer).
        mapping_update (`str`): `"proximal"` (JLCM) or `"ste"` (the plain straight-through gradient); see
            `mapping_weight`.
        learn_mapping (`bool`): False keeps the k-means mapping and learns the codewords only.
        reorder (`bool`): re-order neurons into contiguous groups (otherwise groups are contiguous blocks of rows).
        init (`str`): `"kmeans"` (scikit-learn k-means per group) or `"uniform"` (evenly spaced levels, min to max:
            round-to-nearest).
        target_modules (`Iterable[str]` or None): quantize the Linears whose name contains one of these fragments
            (None: every `nn.Linear`).
        exclude (`Iterable[str]`): skip Linears whose name contains one of these fragments.
        neuron_pairs: producer/consumer pairs to re-order (`NeuronPair` or `(producers, consumers)`); default
            `find_neuron_pairs(model)`.
        keep_original (`bool`): keep the full-precision weights in the layers (for `disable_codebooks`).
        seed (`int`): seed of k-means and of the calibration batches.

    After [`quantize`], `history` holds the loss per step and `mapping_stats` the fraction of weights whose index
    changed and that moved by more than one codeword (in the order of the final sorted codebook), per layer;
    `reconstruction_error` the objective over all calibration rows before and after the search.
    """

    def __init__(
        self,
        bits: int = 2,
        n_groups: int = 4,
        *,
        steps: int = 200,
        batch_size: int = 128,
        codebook_lr: float = 1e-3,
        mapping_lr: float = 0.003,
        mapping_update: str = "proximal",
        learn_mapping: bool = True,
        reorder: bool = True,
        init: str = "kmeans",
        target_modules: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        neuron_pairs=None,
        keep_original: bool = False,
        seed: int = 0,
    ):
        self.bits = check_bits(bits)
        _positive("n_groups", n_groups, int)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an int >= 0, got {steps!r}")
        _positive("batch_size", batch_size, int)
        _positive("codebook_lr", codebook_lr)
        _positive("mapping_lr", mapping_lr)
        if mapping_update not in MAPPING_UPDATES:
            raise ValueError(f"mapping_update must be one of {MAPPING_UPDATES}, got {mapping_update!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        for name, value in (("target_modules", target_modules), ("exclude", exclude)):
            if isinstance(value, str):
                raise TypeError(f"{name} must be an iterable of name fragments, not a single string ({value!r})")
        self.n_groups, self.steps, self.batch_size = n_groups, steps, batch_size
        self.codebook_lr, self.mapping_lr, self.mapping_update = float(codebook_lr), float(mapping_lr), mapping_update
        self.learn_mapping, self.reorder, self.init = bool(learn_mapping), bool(reorder), init
        self.target_modules = None if target_modules is None else tuple(target_modules)
        self.exclude = tuple(exclude)
        self.neuron_pairs = None if neuron_pairs is None else [as_neuron_pair(p) for p in neuron_pairs]
        self.keep_original, self.seed = bool(keep_original), int(seed)
        self.history: list[float] = []
        self.mapping_stats: dict[str, dict[str, float]] = {}
        self.reorder_max_abs_diff: float | None = None
        self.reconstruction_error: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------------ targets
    def targets(self, model: nn.Module) -> dict[str, nn.Linear]:
        """`{name: linear}` of the layers this quantizer covers in `model`."""
        found = {
            name: m
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear)
            and (self.target_modules is None or any(t in name for t in self.target_modules))
            and not any(e in name for e in self.exclude)
        }
        if not found:
            raise ValueError(
                f"target_modules={self.target_modules!r} (exclude={self.exclude!r}) matches no nn.Linear in the model"
            )
        return found

    # ------------------------------------------------------------------------------------------------ quantize
    def quantize(self, model: nn.Module, calib_data) -> nn.Module:
        """Quantizes `model` in place (its target Linears become [`CodebookLinear`]s) and returns it.

        Args:
            model (`nn.Module`): a transformers (or any PyTorch) model.
            calib_data: calibration inputs: a dict of forward kwargs, a tensor (the first positional input), or an
                iterable of those (e.g. a `DataLoader`); a `labels` entry is dropped.

        Raises a `ValueError` (and leaves the weights as they were) when re-ordering a neuron pair changes the
        model's output on the calibration data by more than 1e-4 × its largest output.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        batches = _calibration_batches(calib_data)
        targets = self.targets(model)
        was_training = model.training
        model.eval()
        try:
            reference = _run(model, batches)
            groups, permuted = {}, []
            if self.reorder and self.n_groups > 1:
                pairs = find_neuron_pairs(model) if self.neuron_pairs is None else self.neuron_pairs
                pairs = [p for p in pairs if any(name in targets for name in p.producers)]
                names = {name for p in pairs for name in (*p.producers, *p.consumers)}
                state = model.state_dict()
                snapshot = {k: v.clone() for k, v in state.items() if k.rsplit(".", 1)[0] in names}
                groups, permuted = reorder_neurons(model, self.n_groups, pairs=pairs, seed=self.seed)
                after = _run(model, batches)
                diff = max((a - r).abs().max().item() for a, r in zip(after, reference))
                scale = max(r.abs().max().item() for r in reference)
                self.reorder_max_abs_diff = diff
                if diff > 1e-4 * max(scale, 1.0):
                    with torch.no_grad():  # put the weights back before refusing
                        for key, value in snapshot.items():
                            state[key].copy_(value)
                    raise ValueError(
                        f"re-ordering the neurons of {pairs} changed the model's output by {diff:.3g}: a pair is not a "
                        "producer/consumer pair with element-wise operations in between; pass neuron_pairs= or "
                        "reorder=False"
                    )
            inputs = _capture_inputs(model, targets, batches)
            layers = {}
            for name, linear in targets.items():
                sizes = groups.get(name) or _contiguous(linear.out_features, self.n_groups)
                layer = CodebookLinear.from_linear(
                    linear, bits=self.bits, group_sizes=sizes, init=self.init, seed=self.seed, keep_original=True
                )
                layers[name] = layer
                set_submodule(model, name, layer)
            model._jlcm_permuted = tuple(k for k in permuted if k.rsplit(".", 1)[0] not in targets)
            self._optimise(layers, targets, inputs)
            for layer in layers.values():
                layer.canonicalize()
                if not self.keep_original:
                    layer.original_weight = None
        finally:
            model.train(was_training)
        return model

    def _optimise(self, layers: dict[str, CodebookLinear], originals: dict[str, nn.Linear], inputs) -> None:
        self.history, self.mapping_stats = [], {}
        weights = {name: originals[name].weight.detach().float() for name in layers}
        self.reconstruction_error = {"initial": _reconstruction_error(layers, weights, inputs)}
        if self.steps == 0:
            self.reconstruction_error["final"] = self.reconstruction_error["initial"]
            return
        scores = {}
        if self.learn_mapping:
            for name, layer in layers.items():
                scores[name] = layer.start_mapping_search(self.mapping_update)
        initial = {name: layer.scores.argmax(-1) for name, layer in layers.items() if layer.scores is not None}
        codebook_opt = torch.optim.Adam([layer.codebook for layer in layers.values()], lr=self.codebook_lr)
        mapping_opt = torch.optim.SGD(list(scores.values()), lr=self.mapping_lr) if scores else None
        g = torch.Generator().manual_seed(self.seed)
        for _ in range(self.steps):
            loss = 0.0
            for name, layer in layers.items():
                x = inputs[name]
                rows = torch.randint(0, x.shape[0], (min(self.batch_size, x.shape[0]),), generator=g)
                xb = x[rows.to(x.device)]
                target = xb @ weights[name].T
                error = xb @ layer.weight.T - target
                loss = loss + error.pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)
            codebook_opt.zero_grad()
            if mapping_opt is not None:
                mapping_opt.zero_grad()
            loss.backward()
            codebook_opt.step()
            if mapping_opt is not None:
                mapping_opt.step()
            self.history.append(float(loss.detach()))
        self.reconstruction_error["final"] = _reconstruction_error(layers, weights, inputs)
        for name, layer in layers.items():
            if layer.scores is None:
                continue
            final = layer.scores.argmax(-1)
            layer.finish_mapping_search()
            # distance in codewords, measured in the order of the final (sorted) codebook of each row
            rank = torch.argsort(torch.argsort(layer.row_codebooks().detach(), dim=1), dim=1)
            jump = (rank.gather(1, final) - rank.gather(1, initial[name])).abs()
            self.mapping_stats[name] = {
                "changed_fraction": float((jump > 0).float().mean()),
                "far_jump_fraction": float((jump > 1).float().mean()),
            }


@torch.no_grad()
def _reconstruction_error(layers, weights, inputs) -> float:
    """Σ_l ‖X_l Ŵ_lᵀ − X_l W_lᵀ‖² / ‖X_l W_lᵀ‖² over all the calibration rows (the objective of the search)."""
    total = 0.0
    for name, layer in layers.items():
        target = inputs[name] @ weights[name].T
        total += float((inputs[name] @ layer.weight.T - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12))
    return total


def _contiguous(rows: int, n_groups: int) -> list[int]:
    return [len(chunk) for chunk in torch.arange(rows).tensor_split(min(n_groups, rows))]


def _calibration_batches(calib_data) -> list:
    if isinstance(calib_data, (Mapping, torch.Tensor)):
        batches = [calib_data]
    elif isinstance(calib_data, Iterable) and not isinstance(calib_data, str):
        batches = list(calib_data)
    else:
        raise TypeError(
            f"calib_data must be a dict of model inputs, a tensor, or an iterable of those, got {type(calib_data)}"
        )
    if not batches:
        raise ValueError("calib_data is empty")
    for batch in batches:
        if not isinstance(batch, (Mapping, torch.Tensor)):
            raise TypeError(f"each calibration batch must be a dict of model inputs or a tensor, got {type(batch)}")
    return [{k: v for k, v in b.items() if k != "labels"} if isinstance(b, Mapping) else b for b in batches]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _output_tensor(output) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    for key in ("logits", "last_hidden_state"):
        value = getattr(output, key, None)
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find the output tensor of a {type(output).__name__}")


@torch.no_grad()
def _run(model: nn.Module, batches) -> list[torch.Tensor]:
    device = _device(model)
    outputs = []
    for batch in batches:
        if isinstance(batch, Mapping):
            out = model(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
        else:
            out = model(batch.to(device))
        outputs.append(_output_tensor(out).detach().float())
    return outputs


@torch.no_grad()
def _capture_inputs(model: nn.Module, targets: dict[str, nn.Linear], batches) -> dict[str, torch.Tensor]:
    """The full-precision inputs of every target layer on the calibration data, flattened to `(rows, in_features)`."""
    captured = {name: [] for name in targets}
    handles = [
        module.register_forward_pre_hook(
            lambda _m, args, name=name: captured[name].append(args[0].detach().float().reshape(-1, args[0].shape[-1]))
        )
        for name, module in targets.items()
    ]
    try:
        _run(model, batches)
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(chunks) for name, chunks in captured.items()}

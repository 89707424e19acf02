"""`LazyRichTrackerCallback`: lazy/rich diagnostics of any model during a `transformers.Trainer` run.

Every `every` optimisation steps (and at the start and end of training) the callback measures, on a fixed probe set:
the model's loss, the loss of its linearisation at the current weights f(θ₀) + J₀(θ − θ₀) (`torch.func.jvp`), the
relative linearisation error, the centred NTK–target alignment of the empirical NTK (`torch.func` vmap + jacrev),
the kernel distance from the initial NTK and the relative weight change ‖θ − θ₀‖/‖θ₀‖ (Kumar et al., ICLR 2024). A
lazy run keeps the error, the kernel distance and the alignment change near zero; a rich run moves them.

Cost: the NTK needs per-example Jacobians over every trainable parameter (memory ∝ `chunk_size` × outputs ×
parameters) and the linearisation keeps a frozen copy of the model; pick a small probe set for a large model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import TrainerCallback

from hf_methods.analysis.lazy_rich.analysis import (
    LazyRichTrace,
    kernel_alignment,
    kernel_distance,
    parameter_snapshot,
    relative_weight_change,
)
from hf_methods.common.checks import check_positive_int
from hf_methods.common.ntk import LinearizedModel, empirical_ntk, model_output

__all__ = ["LazyRichTrackerCallback"]


class _ProbeModel(nn.Module):
    """model(x) or model(**{input_name: x}) read through `output_fn`: the tensor the kernel is taken of."""

    def __init__(self, model: nn.Module, input_name: str | None, output_fn: Callable):
        super().__init__()
        self.model, self.input_name, self.output_fn = model, input_name, output_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.model(x) if self.input_name is None else self.model(**{self.input_name: x})
        return self.output_fn(output)


def _identity(output):
    return output


def read_output(output) -> torch.Tensor:
    """The output tensor of a model: `output["logits"]` for a plain dict output (what a custom `Trainer` model may
    return), otherwise `hf_methods.common.ntk.model_output` (a tensor, `.logits`, or the first element of a tuple)."""
    if isinstance(output, dict) and not hasattr(output, "logits") and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    return model_output(output)


class LazyRichTrackerCallback(TrainerCallback):
    """Tracks the lazy → rich transition on a probe set during training; read the numbers from `.trace`.

    Works with any `Trainer` model whose forward maps a batch of probe inputs to `(N, K)` (or `(N,)`) outputs, given
    positionally or as the keyword `input_name` (e.g. `"pixel_values"`); a transformers output is read by its
    `.logits`. Each measurement is also appended to `state.log_history` (keys `lazy_rich/...`), so it lands in
    `trainer_state.json`.

    Args:
        probe_inputs (`torch.Tensor`): a fixed batch `(N, ...)` of inputs (N ≥ 2).
        probe_targets (`torch.Tensor`): float targets `(N,)` / `(N, K)` (MSE) or integer class labels `(N,)`
            (cross-entropy; the alignment uses their one-hot rows).
        every (`int`): measure every this many optimisation steps.
        input_name (`str`, *optional*): pass the probe inputs as this keyword instead of positionally.
        output_fn (`Callable`): reads the output tensor from the model's output (default: `.logits` / `["logits"]` when present).
        chunk_size (`int`): probe examples per vmapped Jacobian.
        track_linearization (`bool`): also measure the linearised model (keeps a frozen copy of the model).
    """

    def __init__(
        self,
        probe_inputs: torch.Tensor,
        probe_targets: torch.Tensor,
        every: int = 100,
        *,
        input_name: str | None = None,
        output_fn: Callable = read_output,
        chunk_size: int = 64,
        track_linearization: bool = True,
    ):
        if not isinstance(probe_inputs, torch.Tensor) or probe_inputs.dim() < 1 or len(probe_inputs) < 2:
            raise ValueError("probe_inputs must be a tensor batch (N, ...) with N >= 2")
        if not isinstance(probe_targets, torch.Tensor) or probe_targets.dim() not in (1, 2):
            raise ValueError("probe_targets must be a tensor (N,) or (N, K)")
        if len(probe_targets) != len(probe_inputs):
            raise ValueError(
                f"probe_targets has {len(probe_targets)} rows for {len(probe_inputs)} probe_inputs; they must match"
            )
        if not probe_targets.is_floating_point() and (probe_targets.dim() != 1 or probe_targets.dtype == torch.bool):
            raise ValueError("integer probe_targets must be class labels of shape (N,)")
        if input_name is not None and (not isinstance(input_name, str) or not input_name.isidentifier()):
            raise ValueError(f"input_name must be a keyword name such as 'pixel_values', got {input_name!r}")
        if not callable(output_fn):
            raise TypeError(f"output_fn must be callable, got {type(output_fn).__name__}")
        self.probe_inputs, self.probe_targets = probe_inputs, probe_targets
        self.every = check_positive_int("every", every)
        self.chunk_size = check_positive_int("chunk_size", chunk_size)
        self.input_name, self.output_fn = input_name, output_fn
        self.track_linearization = bool(track_linearization)
        self.trace = LazyRichTrace()
        self._initial = self._kernel0 = self._linear = self._output0 = None

    # ------------------------------------------------------------------------------------------------ measuring
    def _probe(self, model: nn.Module) -> _ProbeModel:
        return _ProbeModel(model, self.input_name, self.output_fn)

    def _loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> float:
        if targets.is_floating_point():
            return float(F.mse_loss(outputs.reshape(targets.shape).double(), targets.double()))
        if outputs.dim() != 2:
            raise ValueError(f"class-label probe_targets need (N, K) model outputs, got {tuple(outputs.shape)}")
        return float(F.cross_entropy(outputs.double(), targets))

    def _alignment_targets(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.is_floating_point():
            return targets
        return F.one_hot(targets, num_classes=outputs.shape[-1]).double()

    def measure(self, model: nn.Module, step: int) -> dict[str, float]:
        """Measures the model now, appends to `.trace` and returns the numbers (callable outside a Trainer too)."""
        reference = next((p for p in model.parameters() if p.requires_grad), None)
        if reference is None:
            raise ValueError("the model has no trainable parameters to track")
        x = self.probe_inputs.to(reference.device)
        if x.is_floating_point():
            x = x.to(reference.dtype)
        y = self.probe_targets.to(reference.device)
        was_training = model.training
        model.eval()
        try:
            probe = self._probe(model)
            if self._initial is None:  # the start of training: θ₀, K₀, f(θ₀) and the linearisation around θ₀
                self._initial = parameter_snapshot(model)
                self._kernel0 = empirical_ntk(probe, x, output_fn=_identity, chunk_size=self.chunk_size).cpu()
                with torch.no_grad():
                    self._output0 = probe(x).detach()
                if self.track_linearization:
                    self._linear = LinearizedModel(probe, output_fn=_identity)
            kernel = empirical_ntk(probe, x, output_fn=_identity, chunk_size=self.chunk_size).cpu()
            with torch.no_grad():
                outputs = probe(x)
            record = {
                "probe_loss": self._loss(outputs, y),
                "alignment": kernel_alignment(kernel, self._alignment_targets(outputs, y).cpu().to(kernel.dtype)),
                "kernel_distance": kernel_distance(kernel, self._kernel0),
                "relative_weight_change": relative_weight_change(model, self._initial),
            }
            if self._linear is not None:
                current = dict(model.named_parameters())
                with torch.no_grad():
                    for name, parameter in self._linear.current_parameters().items():
                        parameter.copy_(current[name.removeprefix("model.")])
                    linear_outputs = self._linear(x)
                moved = float((outputs - self._output0).double().square().sum())
                gap = float((outputs - linear_outputs).double().square().sum())
                record["linearized_probe_loss"] = self._loss(linear_outputs, y)
                record["linearization_error"] = gap / moved if moved > 0 else 0.0
            else:
                record["linearized_probe_loss"] = float("nan")
                record["linearization_error"] = float("nan")
        finally:
            model.train(was_training)
        self.trace.steps.append(int(step))
        for key, value in record.items():
            getattr(self.trace, key).append(value)
        return record

    # ------------------------------------------------------------------------------------------- Trainer events
    def _measure_into_state(self, state, model) -> None:
        if model is None or (self.trace.steps and self.trace.steps[-1] == state.global_step):
            return
        record = self.measure(model, state.global_step)
        state.log_history.append({**{f"lazy_rich/{k}": v for k, v in record.items()}, "step": state.global_step})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._initial = self._kernel0 = self._linear = self._output0 = None
        self.trace = LazyRichTrace()
        self._measure_into_state(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self._measure_into_state(state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._measure_into_state(state, model)

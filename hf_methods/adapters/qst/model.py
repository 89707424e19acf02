"""Quantized Side Tuning: a trainable side network on the hidden states of a frozen (optionally 4-bit) causal LM.

The frozen base model runs under `torch.no_grad()`; forward hooks on its decoder layers stream each layer's output
through a small downsampler (with autograd re-enabled on a detached input), and a hook on the base model's decoder
stack runs the side stack (a decoder of the base's own architecture at width `d/r`) and replaces the final hidden
state by the output mix before the frozen LM head. Nothing of the base model's modeling code is copied, so the base can
be a bitsandbytes NF4 model or a plain one, and `generate()` is the base model's own.

Equations (official code `YouAreSpecialToMe/QST`, `modeling_llama_qst.py`), with `h_0` the embeddings and `h_i` the
raw output of base layer `i` (before the final norm):

    D(h)  = LayerNorm(W_B · SiLU(W_A · h))                       downsample R^d -> R^{d/r}
    g_0   = D_0(h_0)
    u_i   = (1 - z_i) ⊙ D_i(h_i) + z_i ⊙ g_{i-1},   z_i = σ(ζ_i)   i = 1..L
    g_i   = s_i(u_i)                                              side decoder layer i (width d/r)
    o     = a ⊙ ĥ + (1 − a) ⊙ U(RMSNorm_qst(g_L)),  a = σ(ζ_lm)      ĥ = RMSNorm(h_L); default (official):
                                                                  ζ_lm = 1 fixed, a = σ(1) ≈ 0.73
      or  o = ĥ + γ ⊙ (U(RMSNorm_qst(g_L)) − ĥ)                  identity_init=True: γ trained, 0 at init
    logits = LMHead(o)                                            frozen

The side decoder layers start at PyTorch's default initialisation (Kaiming-uniform `nn.Linear` weights), as the
official side layers, which are plain modules never passed through transformers' `post_init`; `side_init="normal"`
gives transformers' normal(0, 0.02) instead. With the default gate the model is not the base model at init: the side
network's output counts from the first step. `identity_init=True` starts exactly at the base model, but the side
network then gets no gradient at step 0 (it is multiplied by γ = 0) and moves only as fast as the optimizer moves γ.
"""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import BASE_SIGNATURE_KEYS, WEIGHTS_NAME, QSTConfig

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class QSTDownsample(nn.Module):
    """A downsample module `D : R^d -> R^{d/r}` fed with a detached base hidden state.

    - `"adapter"` (official `AdapterLinear`): `D(h) = LayerNorm(W_B · act(W_A · h))`, `W_A ∈ R^{k×d}`,
      `W_B ∈ R^{(d/r)×k}`, no bias, both kaiming-uniform (nn.Linear's default). The official dropout is
      effectively disabled (it builds `Identity` when dropout > 0), so there is none here.
    - `"linear"`: `D(h) = W · h`, `W ∈ R^{(d/r)×d}`.
    - `"avgpool"` / `"maxpool"`: mean / max over consecutive groups of `r` hidden units, no parameters (the
      parameter-free "gradient-free" option; not in the official code).
    """

    def __init__(self, hidden_size: int, config: QSTConfig):
        super().__init__()
        self.kind = config.downsample
        self.r = config.reduction_factor
        out = hidden_size // self.r
        if self.kind == "adapter":
            self.down_a = nn.Linear(hidden_size, config.adapter_rank, bias=False)
            self.act = _ACTIVATIONS[config.activation]()
            self.down_b = nn.Linear(config.adapter_rank, out, bias=False)
            self.norm = nn.LayerNorm(out)
        elif self.kind == "linear":
            self.proj = nn.Linear(hidden_size, out, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.kind == "adapter":
            return self.norm(self.down_b(self.act(self.down_a(hidden_states))))
        if self.kind == "linear":
            return self.proj(hidden_states)
        grouped = hidden_states.unflatten(-1, (-1, self.r))
        return grouped.mean(-1) if self.kind == "avgpool" else grouped.amax(-1)


def side_config(base_config, config: QSTConfig):
    """The side stack's config: a copy of the base config at width `d/r`, MLP width `I/r`, same head counts.

    `head_dim` is set explicitly (`(d/r) / H`): transformers v5 Llama configs carry it as a field, so shrinking
    `hidden_size` alone would keep the base's head size.
    """
    r = config.reduction_factor
    side = copy.deepcopy(base_config)
    for key in ("quantization_config", "auto_map"):
        if key in side.__dict__:
            delattr(side, key)
    side.hidden_size = base_config.hidden_size // r
    side.intermediate_size = base_config.intermediate_size // r
    side.head_dim = side.hidden_size // base_config.num_attention_heads
    side.vocab_size = 1  # the side stack has no token embedding: its inputs are D_0(h_0)
    side.pad_token_id = None
    side.tie_word_embeddings = False
    side.use_cache = True
    attn = config.side_attn_implementation or getattr(base_config, "_attn_implementation", None) or "sdpa"
    side._attn_implementation = attn
    return side


def reset_to_pytorch_init(module: nn.Module) -> None:
    """Re-initialises every `nn.Linear` of `module` with PyTorch's default (Kaiming-uniform weights, uniform biases).

    `AutoModel.from_config` runs transformers' `_init_weights` (normal(0, `initializer_range`) weights); the official
    side layers are plain modules that keep PyTorch's defaults. Norm weights are 1 under both.
    """
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            sub.reset_parameters()


class QSTSideNetwork(nn.Module):
    """Every trainable part of QST: downsamplers, side decoder stack, per-layer gates, upsample and output gate.

    Args:
        base_config (`PreTrainedConfig`): the frozen base model's config (Llama family).
        config (`QSTConfig`): the QST settings.
    """

    def __init__(self, base_config, config: QSTConfig):
        super().__init__()
        from transformers import AutoModel

        d, n_layers = base_config.hidden_size, base_config.num_hidden_layers
        self.num_layers = n_layers
        self.share_embedding_downsampler = config.share_embedding_downsampler
        self.identity_init = config.identity_init
        n_down = n_layers if config.share_embedding_downsampler else n_layers + 1
        self.downsample = nn.ModuleList([QSTDownsample(d, config) for _ in range(n_down)])
        self.side = AutoModel.from_config(side_config(base_config, config))
        self.side.embed_tokens = None  # inputs come as inputs_embeds = D_0(h_0)
        if config.side_init == "pytorch":
            reset_to_pytorch_init(self.side)
        width = d // config.reduction_factor
        # ζ_i, one gate vector per side layer: z_i = σ(ζ_i) weighs the previous side state against D_i(h_i)
        self.gate_logits = nn.Parameter(torch.full((n_layers, width), float(config.gate_init)))
        self.upsample = nn.Linear(width, d)
        if config.identity_init:
            # γ in o = ĥ + γ ⊙ (U(ĝ) − ĥ); 0 at init, so the output equals the base model's exactly
            self.output_gate = nn.Parameter(torch.zeros(d))
        elif config.train_output_gate:
            # ζ_lm in o = σ(ζ_lm) ⊙ ĥ + (1 − σ(ζ_lm)) ⊙ U(ĝ), trained
            self.output_gate = nn.Parameter(torch.full((d,), float(config.output_gate_init)))
        else:
            # ζ_lm fixed, as the official `lm_head_z` (a plain tensor, never trained); saved with the side weights
            self.register_buffer("output_gate", torch.full((d,), float(config.output_gate_init)))

    def downsampler_for(self, state_index: int) -> QSTDownsample:
        """The downsampler of hidden state `state_index` (0: embeddings, i: output of base layer i)."""
        if self.share_embedding_downsampler:  # official: D_0 serves h_0 and h_1, D_{i-1} serves h_i
            return self.downsample[max(state_index - 1, 0)]
        return self.downsample[state_index]

    def mix_gate(self, layer: int, previous: torch.Tensor, downsampled: torch.Tensor) -> torch.Tensor:
        """`u_i = (1 − z_i) ⊙ D_i(h_i) + z_i ⊙ g_{i−1}`, `z_i = σ(ζ_i)` (`layer` = i − 1)."""
        z = torch.sigmoid(self.gate_logits[layer])
        return (1 - z) * downsampled + z * previous

    def mix_output(self, base_hidden: torch.Tensor, side_hidden: torch.Tensor) -> torch.Tensor:
        """The output mix of the final base hidden state `ĥ` and the upsampled side state `U(ĝ)`."""
        up = self.upsample(side_hidden)
        h = base_hidden.to(up.dtype)
        if self.identity_init:
            out = h + self.output_gate * (up - h)
        else:
            a = torch.sigmoid(self.output_gate)
            out = a * h + (1 - a) * up
        return out.to(base_hidden.dtype)


def _first_tensor(output):
    return output[0] if isinstance(output, (tuple, list)) else output


class QSTModel(nn.Module):
    """A frozen causal LM with a QST side network, PEFT-shaped (`save_pretrained`, `from_pretrained`, `generate`).

    The base model is **not** a registered submodule: `parameters()`, `state_dict()`, `.to()` and distributed
    wrappers see only the side network (`qst.*`), so checkpoints and optimizer states stay adapter-sized and no
    gradient can reach the base. Place the base model on its device before wrapping it (a 4-bit base is placed when
    loaded). The base stays usable on its own: `unload()` removes the hooks and returns it unchanged.

    Generation uses the base model's own `generate()`: the side stack keeps its key/value states in extra layers
    appended to the base model's `DynamicCache`, so reordering, cropping and batch selection apply to both stacks.

    Args:
        base_model (`PreTrainedModel`): a Llama-family `*ForCausalLM`, plain or loaded in 4-bit with bitsandbytes.
        config (`QSTConfig`): the QST settings.
    """

    def __init__(self, base_model, config: QSTConfig):
        super().__init__()
        _check_base_model(base_model)
        if not isinstance(config, QSTConfig):
            raise TypeError(f"config must be a QSTConfig, got {type(config).__name__}")
        config.check_base_config(base_model.config)
        config = copy.deepcopy(config)
        base_config = base_model.config
        config.base_config = {k: getattr(base_config, k, None) for k in BASE_SIGNATURE_KEYS}
        if config.base_model_name_or_path is None:
            config.base_model_name_or_path = getattr(base_config, "_name_or_path", None) or None
        quant = getattr(base_config, "quantization_config", None)
        if quant is not None:
            config.quantization = quant.to_dict() if hasattr(quant, "to_dict") else dict(quant)
        object.__setattr__(self, "base_model", base_model)  # deliberately not a submodule (see the class docstring)
        self.qst_config = config
        base_model.requires_grad_(False)
        device = next(base_model.parameters()).device
        self.qst = QSTSideNetwork(base_config, config).to(device=device, dtype=torch.float32)
        self._enabled = True
        self._grad = False
        self._down: list[torch.Tensor | None] = []
        self._call: dict[str, Any] = {}
        self._handles: list[Any] = []
        self._attach_hooks()

    # ------------------------------------------------------------------------------------------------ hooks
    @property
    def _decoder(self):
        return self.base_model.model

    def _attach_hooks(self) -> None:
        decoder, layers = self._decoder, self._decoder.layers
        self._handles.append(decoder.register_forward_pre_hook(self._on_decoder_start, with_kwargs=True))
        self._handles.append(decoder.register_forward_hook(self._on_decoder_end, with_kwargs=True))
        self._handles.append(layers[0].register_forward_pre_hook(self._on_first_layer_input, with_kwargs=True))
        for i, layer in enumerate(layers):
            self._handles.append(layer.register_forward_hook(self._layer_output_hook(i + 1)))
        for j, layer in enumerate(self.qst.side.layers):
            self._handles.append(layer.register_forward_pre_hook(self._side_gate_hook(j), with_kwargs=True))

    def _downsample(self, state_index: int, hidden: torch.Tensor) -> None:
        down = self.qst.downsampler_for(state_index)
        dtype = self.qst.upsample.weight.dtype
        # the input is detached: no gradient reaches the base model through the side network
        with torch.set_grad_enabled(self._grad):
            self._down[state_index] = down(hidden.detach().to(dtype))

    def _on_decoder_start(self, module, args, kwargs):
        if not self._enabled:
            return None
        self._down = [None] * (self.qst.num_layers + 1)
        self._call = {
            "attention_mask": kwargs.get("attention_mask"),
            "position_ids": kwargs.get("position_ids"),
            "cache": kwargs.get("cache", kwargs.get("past_key_values")),
        }
        return None

    def _on_first_layer_input(self, module, args, kwargs):
        if not self._enabled:
            return None
        hidden = args[0] if args else kwargs["hidden_states"]
        self._downsample(0, hidden)  # h_0: the embeddings
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None:
            self._call["cache"] = cache
        return None

    def _layer_output_hook(self, state_index: int):
        def hook(module, args, output):
            if self._enabled:
                self._downsample(state_index, _first_tensor(output))
            return None

        return hook

    def _side_gate_hook(self, layer: int):
        def hook(module, args, kwargs):
            if not self._enabled:  # the side layers called on their own (e.g. by a reference loop)
                return None
            if args:
                previous, rest = args[0], args[1:]
            else:
                previous, rest = kwargs.pop("hidden_states"), ()
            mixed = self.qst.mix_gate(layer, previous, self._down[layer + 1])
            return (mixed, *rest), kwargs

        return hook

    def _side_cache(self, cache):
        """A view of the side layers (indices L..2L-1) of the shared cache, appended on first use."""
        if cache is None or not hasattr(cache, "layers"):
            return None
        from transformers.cache_utils import DynamicLayer

        n = self.qst.num_layers
        if len(cache.layers) == n:
            cache.layers.extend(DynamicLayer() for _ in range(n))
        elif len(cache.layers) != 2 * n:
            raise ValueError(
                f"cache has {len(cache.layers)} layers; a QST model needs the base model's {n} layers plus {n} side "
                "layers (use a DynamicCache)"
            )
        view = copy.copy(cache)
        view.layers = cache.layers[n:]
        return view

    def _on_decoder_end(self, module, args, kwargs, output):
        if not self._enabled:
            return None
        if any(d is None for d in self._down):
            raise RuntimeError(
                "QST hooks did not see every base layer: was the decoder called with a subset of layers?"
            )
        call = self._call
        cache = getattr(output, "cache", None) or call["cache"]
        side_cache = self._side_cache(cache)
        with torch.set_grad_enabled(self._grad):
            side_out = self.qst.side(
                inputs_embeds=self._down[0],
                attention_mask=call["attention_mask"],
                position_ids=call["position_ids"],
                cache=side_cache,
                use_cache=side_cache is not None,
            )
            output.last_hidden_state = self.qst.mix_output(output.last_hidden_state, side_out.last_hidden_state)
        self._down, self._call = [], {}
        return output

    # ------------------------------------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        **kwargs,
    ):
        """Causal-LM forward; returns a `CausalLMOutputWithPast` with `loss` when `labels` are given.

        The base model runs under `torch.no_grad()`; only the side network builds an autograd graph.
        """
        from transformers.modeling_outputs import CausalLMOutputWithPast

        cache = kwargs.pop("past_key_values", cache)
        if use_cache is None:
            use_cache = not self.training and labels is None
        base = self.base_model
        self._grad = torch.is_grad_enabled()
        try:
            with torch.no_grad():  # not inference_mode: its tensors could not be saved for the side's backward
                outputs = self._decoder(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    cache=cache,
                    inputs_embeds=inputs_embeds,
                    use_cache=use_cache,
                    **kwargs,
                )
        finally:
            self._grad = False
        hidden = outputs.last_hidden_state
        if isinstance(logits_to_keep, int) and logits_to_keep > 0:
            hidden = hidden[:, -logits_to_keep:]
        elif not isinstance(logits_to_keep, int):
            hidden = hidden[:, logits_to_keep]
        logits = base.lm_head(hidden)  # frozen; gradients flow to `hidden` only
        loss = None
        if labels is not None:
            loss = base.loss_function(logits=logits, labels=labels, vocab_size=base.config.vocab_size)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=getattr(outputs, "cache", None))

    @torch.no_grad()
    def generate(self, *args, **kwargs):
        """The base model's `generate()`, with the side network active in every forward (both stacks cached)."""
        return self.base_model.generate(*args, **kwargs)

    # ------------------------------------------------------------------------------------------------ PEFT-like API
    @property
    def config(self):
        """The base model's config (what generation and `transformers` utilities expect)."""
        return self.base_model.config

    @property
    def generation_config(self):
        return self.base_model.generation_config

    @property
    def device(self) -> torch.device:
        return next(self.base_model.parameters()).device

    @contextmanager
    def disable_adapter(self):
        """Context manager under which the model is the plain base model (the side network is skipped)."""
        previous = self._enabled
        self._enabled = False
        try:
            yield self
        finally:
            self._enabled = previous

    def get_nb_trainable_parameters(self) -> tuple[int, int]:
        """`(trainable parameters, all parameters of base + side network)`."""
        trainable = sum(p.numel() for p in self.qst.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.qst.parameters())
        for p in self.base_model.parameters():
            # bitsandbytes packs two 4-bit values per byte of storage: count the weights, not the bytes (as PEFT)
            packed = p.__class__.__name__ == "Params4bit"
            total += p.numel() * 2 * p.element_size() if packed else p.numel()
        return trainable, total

    def print_trainable_parameters(self) -> None:
        trainable, total = self.get_nb_trainable_parameters()
        print(
            f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}"
        )

    def unload(self):
        """Removes the hooks and returns the base model, unchanged (QST has no merge: it is not a weight delta)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return self.base_model

    def save_pretrained(
        self,
        save_directory: str | Path,
        is_main_process: bool = True,
        state_dict: dict[str, torch.Tensor] | None = None,
        safe_serialization: bool = True,
        **kwargs,
    ) -> None:
        """Writes `qst_config.json` and `qst_model.safetensors` (the side network only, never the base weights).

        Args:
            save_directory (`str` or `Path`): the folder to write (created if needed).
            is_main_process (`bool`, *optional*, defaults to `True`): only the main process writes (distributed runs).
            state_dict (`dict`, *optional*): the weights to write instead of the side network's current ones, as
                `transformers.Trainer` and `accelerate` pass them: keys of `QSTModel.state_dict()` (`qst.*`) or of
                `QSTModel.qst.state_dict()`.
            safe_serialization (`bool`, *optional*, defaults to `True`): accepted for `transformers` callers; the
                weights are always written with safetensors.
            kwargs: other `save_pretrained` arguments of `transformers`/`accelerate` callers (`save_function`,
                `max_shard_size`, ...), accepted and ignored.
        """
        from safetensors.torch import save_file

        if not is_main_process:
            return
        expected = self.qst.state_dict()
        if state_dict is None:
            state_dict = expected
        else:
            state_dict = {k.removeprefix("qst."): v for k, v in state_dict.items()}
            if state_dict.keys() != expected.keys():
                missing, unexpected = sorted(expected.keys() - state_dict.keys()), sorted(state_dict.keys() - expected)
                raise ValueError(
                    f"state_dict is not this QST side network's: missing {missing[:5]}, unexpected {unexpected[:5]}"
                )
        path = Path(save_directory)
        path.mkdir(parents=True, exist_ok=True)
        self.qst_config.save_pretrained(path)
        state = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
        save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt", "method": "qst"})

    def load_side_weights(self, path: str | Path) -> None:
        """Loads `qst_model.safetensors` of a saved side network (a `save_pretrained` folder, or the file itself) into
        this model's side network, strictly (e.g. to resume from a `QSTTrainer` checkpoint)."""
        path = Path(path)
        file = path / WEIGHTS_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in {path}")
        self.qst.load_state_dict(read_side_weights(file, device=str(self.device)), strict=True)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str = "Upload QST side network",
        revision: str | None = None,
    ):
        """Uploads `qst_config.json` and `qst_model.safetensors` to the Hub model repo `repo_id` (created if needed).

        Reload with `QSTModel.from_pretrained(base, repo_id)` on the same base model.

        Args:
            repo_id (`str`): `"namespace/name"`.
            token (`str`, *optional*): a token with write access (default: `HF_TOKEN` or the one of `hf auth login`).
            private (`bool`, *optional*): visibility of a newly created repo.
            commit_message (`str`, *optional*): the commit's message.
            revision (`str`, *optional*): the branch to commit to (default: the main branch).

        Returns:
            The `huggingface_hub.CommitInfo` of the upload.
        """
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo = api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            return api.upload_folder(
                repo_id=repo.repo_id, folder_path=folder, commit_message=commit_message, revision=revision
            )

    @classmethod
    def from_pretrained(
        cls,
        base_model,
        model_id: str | Path,
        is_trainable: bool = False,
        *,
        revision: str | None = None,
        token: str | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        force_download: bool = False,
        config: QSTConfig | None = None,
    ) -> QSTModel:
        """Attaches a saved side network (a `save_pretrained` folder or a Hub repo) to `base_model`.

        Args:
            base_model (`PreTrainedModel`): the base it was trained on (plain or 4-bit); a base whose architecture or
                sizes differ raises a `ValueError`. Call `unload()` on an earlier `QSTModel` of the same base first.
            model_id (`str` or `Path`): a folder holding `qst_config.json` and `qst_model.safetensors`, or the id
                `"namespace/name"` of a Hub repo holding them (downloaded with `huggingface_hub.hf_hub_download`).
            is_trainable (`bool`, *optional*, defaults to `False`): keep the side network trainable (as PEFT).
            revision, token, cache_dir, local_files_only, force_download: passed to `hf_hub_download` for a Hub id.
            config (`QSTConfig`, *optional*): only for a folder written by a plain `transformers.Trainer`
                (`save_model` or a checkpoint: a `model.safetensors` of `qst.*` tensors and no `qst_config.json`):
                the settings the side network was built with. A folder with its own `qst_config.json` refuses it.
        """
        _check_base_model(base_model)
        if config is not None:
            return cls._from_trainer_folder(base_model, Path(model_id).expanduser(), config, is_trainable)
        hub_kwargs = {
            "revision": revision,
            "token": token,
            "cache_dir": cache_dir,
            "local_files_only": local_files_only,
            "force_download": force_download,
        }
        config_file, weights_file = _resolve_saved_files(model_id, hub_kwargs)
        config = QSTConfig.from_pretrained(config_file)
        model = cls(base_model, config)
        model.qst.load_state_dict(read_side_weights(weights_file, device=str(model.device)), strict=True)
        model.qst.requires_grad_(is_trainable)
        if not is_trainable:
            model.eval()
        return model

    @classmethod
    def _from_trainer_folder(cls, base_model, folder: Path, config: QSTConfig, is_trainable: bool) -> QSTModel:
        """`from_pretrained` for the `model.safetensors` a plain `transformers.Trainer` writes for a `QSTModel`."""
        from .config import CONFIG_NAME

        if not isinstance(config, QSTConfig):
            raise TypeError(f"config must be a QSTConfig, got {type(config).__name__}")
        if (folder / CONFIG_NAME).is_file():
            raise ValueError(f"{folder} holds its own {CONFIG_NAME}: load it without config=")
        file = folder / "model.safetensors"
        if not file.is_file():
            raise FileNotFoundError(f"no model.safetensors in {folder}: not a folder written by transformers.Trainer")
        model = cls(base_model, config)
        tensors = read_side_weights(file, device=str(model.device))
        state = {k.removeprefix("qst."): v for k, v in tensors.items()}
        expected = {k: tuple(v.shape) for k, v in model.qst.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in state.items()}
        if found != expected:
            missing, unexpected = sorted(expected.keys() - found), sorted(found.keys() - expected)
            reshaped = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
            raise ValueError(
                f"{file} does not hold a side network built with this config: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}, other shapes {reshaped[:5]}"
            )
        model.qst.load_state_dict(state, strict=True)
        model.qst.requires_grad_(is_trainable)
        if not is_trainable:
            model.eval()
        return model


def read_side_weights(file: str | Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a `qst_model.safetensors` file; a corrupted or truncated file raises a `ValueError` naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file), device=device)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"{file} is not a readable safetensors file (corrupted or truncated?): save the side network again or "
            f"download it again. The reader said: {err}"
        ) from err


_HUB_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _resolve_saved_files(model_id: str | Path, hub_kwargs: dict) -> tuple[Path, Path]:
    """`(config file, weights file)` of a saved side network: from a local folder, or downloaded from the Hub."""
    from .config import CONFIG_NAME

    path = Path(model_id).expanduser()
    if path.is_dir():
        config_file, weights_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        if not config_file.is_file():
            hint = ""
            if (path / "model.safetensors").is_file():
                hint = (
                    " It holds a model.safetensors, as a plain transformers.Trainer writes for a model that is not a "
                    "PreTrainedModel: pass the QSTConfig it was trained with (from_pretrained(base, folder, "
                    "config=...)), or train with hf_methods.adapters.qst.QSTTrainer to save the QST format."
                )
            raise FileNotFoundError(f"no {CONFIG_NAME} in {path}: not a saved QST side network.{hint}")
        if not weights_file.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in {path}")
        return config_file, weights_file
    name = str(model_id)
    if path.exists() or path.is_absolute() or not _HUB_REPO_ID.fullmatch(name):
        raise FileNotFoundError(
            f"{name}: no folder holding {CONFIG_NAME} here, and not a Hub repo id of the form 'namespace/name'"
        )
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    files = []
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            files.append(Path(hf_hub_download(name, filename, **hub_kwargs)))
        except EntryNotFoundError as err:
            raise FileNotFoundError(f"the Hub repo {name} has no {filename}: not a saved QST side network") from err
    return files[0], files[1]


def _check_base_model(base_model) -> None:
    if base_model is None:
        raise TypeError("base_model is required: pass the (optionally 4-bit) causal LM the side network reads")
    if isinstance(base_model, QSTModel):
        raise ValueError("base_model is already a QSTModel")
    config = getattr(base_model, "config", None)
    if config is None or not isinstance(base_model, nn.Module):
        raise TypeError(f"base_model must be a transformers PreTrainedModel, got {type(base_model).__name__}")
    from .config import SUPPORTED_MODEL_TYPES

    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"QST supports base models of type {SUPPORTED_MODEL_TYPES} (e.g. SmolLM2, Llama-2); got a base model of "
            f"type {getattr(config, 'model_type', None)!r} ({type(base_model).__name__})"
        )
    decoder = getattr(base_model, "model", None)
    if getattr(base_model, "lm_head", None) is None or getattr(decoder, "layers", None) is None:
        raise ValueError(
            f"base_model must be a *ForCausalLM with `.model.layers` and `.lm_head` (Llama family); got "
            f"{type(base_model).__name__}"
        )


def get_qst_model(base_model, config: QSTConfig | None = None) -> QSTModel:
    """Wraps a frozen causal LM with a new QST side network (only `qst.*` parameters train).

    Args:
        base_model (`PreTrainedModel`): a Llama-family `*ForCausalLM`, plain or loaded in 4-bit with bitsandbytes
            (`BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")`, extra `[quant]`).
        config (`QSTConfig`, *optional*): defaults to `QSTConfig()` (r = 16, k = 16, adapter downsamplers, the
            official fixed output gate σ(1) and PyTorch-initialised side layers).
    """
    if config is None:
        config = QSTConfig()
    _check_base_model(base_model)
    return QSTModel(base_model, config)


__all__ = [
    "QSTDownsample",
    "QSTModel",
    "QSTSideNetwork",
    "get_qst_model",
    "read_side_weights",
    "reset_to_pytorch_init",
    "side_config",
]

"""Speed and memory of Bone variants vs LoRA at matched trainable parameters, at 64, 256 and 1,024 tokens per step.

Methods (all built like a user would, through `get_bone_model` / `peft.get_peft_model`):

- `bat`: the P46 Bone through hf-methods' efficient path (`BatLinearFunction`, the default of `get_bone_model`);
- `bat-peft`: the same adapter through PEFT's own `MissLinear` forward (`efficient_bat=False`);
- `bone` (MiSS default) and `mini` (MiSS-mini, mini_r=64), for reference;
- `lora` at the rank whose parameter count matches Bat's (`matched_lora_rank`).

On SmolLM2 at 1,024 tokens per step only `bat`, `bat-peft` and `lora` run (`METHODS_AT_1024`): all five in turn
exceeded the memory of the 23 GB machine the results were measured on.

Two settings: one 1024×1024 `nn.Linear` (fp32; Bat/Bone r=64 and LoRA r=32 have 65,536 parameters each), and
SmolLM2-135M-Instruct with all seven projections of all 30 layers adapted (Bat/Bone r=64, 9.95M parameters, vs LoRA
r=33, 10.07M). Every token count runs `WARMUP` rounds, then `REPEATS` rounds in which every method does one
forward+backward, the order rotating from round to round (so load changes on a shared machine hit all methods alike);
`time_vs_lora` is the median over rounds of the method's time divided by LoRA's time in the same round. One thread.

Memory is the bytes of tensors (other than parameters) that autograd saves for backward during one forward
(`torch.autograd.graph.saved_tensors_hooks`, distinct storages): deterministic, unlike CPU peak memory, which torch does
not report.

Run: `python benchmarks/perf/bone.py`; writes `benchmarks/results/perf-bone.json`.
"""

from __future__ import annotations

import copy
import ctypes
import gc
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from hf_methods.harness.claims import library_versions  # noqa: E402
from hf_methods.zoo import repo_root  # noqa: E402

# ------------------------------------------------------------------------------------------ settings (before any run)
SEED = 0
THREADS = 1
R = 64
TOKENS = {64: (1, 64), 256: (4, 64), 1024: (4, 256)}  # tokens per step -> (batch, sequence length)
WARMUP, REPEATS = 1, 5
LAYER_REPEATS = 9
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
METHODS = ("bat", "bat-peft", "bone", "mini", "lora")
METHODS_AT_1024 = ("bat", "bat-peft", "lora")  # five SmolLM2 graphs at 1024 tokens in turn ran out of memory (23 GB)
TARGET_TOKENS = 256
TARGET_SAVED_VS_LORA = 1.5  # efficient Bat, SmolLM2, 256 tokens per step
TARGET_TIME_VS_LORA = 1.3


def release_memory() -> None:
    """Returns freed activation memory to the system between steps (glibc keeps it otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def saved_bytes(fn, model: nn.Module) -> int:
    """Bytes of the distinct storages autograd saves for backward while `fn()` runs, parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def build(base: nn.Module, name: str, targets, lora_rank: int) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    from hf_methods.adapters.bone import BoneConfig, get_bone_model

    base = copy.deepcopy(base)
    if name == "lora":
        return get_peft_model(base, LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, target_modules=targets))
    variant = {"bat": "bat", "bat-peft": "bat", "bone": "bone", "mini": "mini"}[name]
    config = BoneConfig(r=R, target_modules=targets, variant=variant, mini_r=R if variant == "mini" else None)
    return get_bone_model(base, config, efficient_bat=name != "bat-peft")


def measure(models: dict, make_loss, repeats: int) -> dict:
    """Per method: parameters, saved bytes, forward+backward seconds (median) and time ratio to LoRA (median of
    per-round ratios), with all methods interleaved round by round."""
    names = list(models)
    for _ in range(WARMUP):
        for name in names:
            make_loss(models[name]).backward()
    rounds = []
    for i in range(repeats):
        times = {}
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate who goes first
            start = time.perf_counter()
            make_loss(models[name]).backward()
            times[name] = time.perf_counter() - start
            release_memory()
        rounds.append(times)
    lora_saved = saved_bytes(lambda: make_loss(models["lora"]), models["lora"])
    out = {}
    for name, model in models.items():
        for p in model.parameters():
            p.grad = None
        memory = saved_bytes(lambda m=model: make_loss(m), model)
        release_memory()
        out[name] = {
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "fwd_bwd_s_median": round(statistics.median(r[name] for r in rounds), 4),
            "time_vs_lora": round(statistics.median(r[name] / r["lora"] for r in rounds), 3),
            "saved_for_backward_mb": round(memory / 2**20, 2),
            "saved_vs_lora": round(memory / lora_saved, 3),
        }
    return out


def single_layer() -> dict:
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(1024, 1024, bias=False)

        def forward(self, x):
            return self.proj(x)

    torch.manual_seed(SEED)
    base = One()
    models = {name: build(base, name, ["proj"], 32) for name in METHODS}
    weight_mb = 1024 * 1024 * 4 / 2**20
    result = {}
    for tokens in TOKENS:
        x = torch.randn(tokens, 1024, generator=torch.Generator().manual_seed(SEED), requires_grad=True)
        result[str(tokens)] = measure(models, lambda m, x=x: m(x).square().mean(), LAYER_REPEATS)
        for v in result[str(tokens)].values():
            v["saved_vs_weight"] = round(v["saved_for_backward_mb"] / weight_mb, 3)
    return result


def smollm2() -> tuple[dict, dict]:
    from hf_methods.adapters.bone import BoneConfig, check_bone_targets, matched_lora_rank
    from hf_methods.common.data import load_smollm2

    base, _ = load_smollm2()
    config = BoneConfig(r=R, target_modules=TARGETS)
    rank = matched_lora_rank(base, config)
    models = {name: build(base, name, TARGETS, rank) for name in METHODS}
    result = {}
    for tokens, (batch, length) in TOKENS.items():
        ids = torch.randint(100, 40000, (batch, length), generator=torch.Generator().manual_seed(SEED))
        chosen = {n: m for n, m in models.items() if tokens < 1024 or n in METHODS_AT_1024}
        result[str(tokens)] = measure(chosen, lambda m, ids=ids: m(input_ids=ids, labels=ids).loss, REPEATS)
        print(tokens, json.dumps(result[str(tokens)]), flush=True)
    result["lora_rank"] = rank
    return result, multiply_adds(check_bone_targets(base, config), rank)


def multiply_adds(layers, rank: int) -> dict:
    """Multiply-adds per step in the adapted layers (frozen W: no gradient of W is formed for LoRA).

    LoRA: forward `T·d·k` + `T·rank·(d+k)`, backward `T·d·k` (input gradient) + `2·T·rank·(d+k)`.
    Efficient Bat (weight side): forward `d·k·r` (W') + `T·d·k`; backward `d·k·r` (W' again) + `T·d·k` (input
    gradient) + `T·d·k` (G = gᵀx, needed because every B_a's gradient reads all of G_{a,·}) + `d·k·r` (eq. 2).
    """
    dk = sum(i * o for _, i, o in layers)
    side = sum(i + o for _, i, o in layers)
    out = {}
    for tokens in TOKENS:
        lora = 2 * tokens * dk + 3 * tokens * rank * side
        if tokens >= 2 * R:
            bat = 3 * tokens * dk + 3 * dk * R
        else:  # input side in backward (3·T·d·k), and in forward below r tokens (2·T·d·k)
            bat = 3 * tokens * dk + (2 * tokens * dk if tokens < R else tokens * dk + dk * R)
        out[str(tokens)] = {"lora": lora, "bat": bat, "bat_vs_lora": round(bat / lora, 3)}
    return out


def main() -> None:
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    layer = single_layer()
    model, counts = smollm2()
    at_target = model[str(TARGET_TOKENS)]["bat"]
    report = {
        "name": "bone",
        "baseline": "lora",
        "what": "forward+backward time and bytes saved for backward, ratios to LoRA at matched parameters, at "
        "64, 256 and 1024 tokens per step; 'bat' = hf-methods' efficient Bat path, 'bat-peft' = PEFT's MissLinear",
        "settings": {
            "tokens_per_step": {str(t): list(s) for t, s in TOKENS.items()},
            "r": R,
            "warmup": WARMUP,
            "repeats": REPEATS,
            "layer_repeats": LAYER_REPEATS,
            "threads": THREADS,
            "targets": TARGETS,
        },
        "targets": {
            "tokens_per_step": TARGET_TOKENS,
            "bat_saved_vs_lora_max": TARGET_SAVED_VS_LORA,
            "bat_time_vs_lora_max": TARGET_TIME_VS_LORA,
            "saved_met": at_target["saved_vs_lora"] <= TARGET_SAVED_VS_LORA,
            "time_met": at_target["time_vs_lora"] <= TARGET_TIME_VS_LORA,
        },
        "single_linear_1024": layer,
        "smollm2_135m_all_projections": model,
        "smollm2_adapted_layer_multiply_adds": counts,
        "notes": "Ratios, not seconds: the machine is shared with other jobs. Memory: the efficient Bat path saves the "
        "layer input and the r×r blocks only (W' is rebuilt in backward; a 4-bit W is dequantized again), PEFT's "
        "path keeps W' and a copy of W per layer. Time: Bat's gradient needs the full weight-sized outer product "
        "G = gᵀx (T·d·k multiply-adds) that LoRA on a frozen W never forms, plus building W' twice (2·d·k·r); "
        "smollm2_adapted_layer_multiply_adds gives the resulting floor of the ratio in the adapted layers.",
        "versions": library_versions(),
    }
    report["runtime_s"] = round(time.perf_counter() - start, 1)
    path = repo_root() / "benchmarks" / "results" / "perf-bone.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

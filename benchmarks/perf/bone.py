"""Speed and memory of Bone variants vs LoRA at matched trainable parameters, as ratios from the same run.

Two settings; each method's forward+backward is timed against LoRA's with `hf_methods.harness.claims.time_ratio`
(warm-up, then the two interleaved, so load changes on a shared machine hit both alike; medians of the repeats):

1. one 1024×1024 `nn.Linear` (fp32), input 8×64 tokens: Bat r=64, Bone (MiSS default) r=64 and LoRA r=32 (65,536
   parameters each), MiSS-mini r=64, mini_r=64 (4,096);
2. SmolLM2-135M-Instruct, all seven projections of all 30 layers (the paper's targets), a batch of 2×32 tokens:
   Bat r=64 and Bone r=64 (9.95M parameters) vs LoRA r=33 (10.07M, the matched rank), plus mini.

Memory is measured as the bytes of tensors (other than parameters) saved for backward during one forward pass
(`torch.autograd.graph.saved_tensors_hooks`, deduplicated by storage), which is deterministic; CPU torch has no peak
allocator statistic. Expected from PEFT's code: Bat saves about twice the targeted weights (it materialises W' per
forward), MiSS and LoRA save activation-sized tensors only.

Run: `python benchmarks/perf/bone.py`; writes `benchmarks/results/perf-bone.json`.
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from hf_methods.harness.claims import library_versions, time_ratio  # noqa: E402
from hf_methods.zoo import repo_root  # noqa: E402

SEED = 0
REPS_LAYER, REPS_MODEL = 7, 5
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def saved_bytes(fn, model: nn.Module) -> int:
    """Bytes of the distinct storages autograd saves for backward while `fn()` runs, parameters excluded (they are
    held anyway): what backward costs on top of the model."""
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


def adapters(r_lora: int):
    from peft import LoraConfig

    from hf_methods.adapters.bone import BoneConfig

    return {
        "bat": lambda t: BoneConfig(r=64, target_modules=t, variant="bat"),
        "bone": lambda t: BoneConfig(r=64, target_modules=t, variant="bone"),
        "mini": lambda t: BoneConfig(r=64, target_modules=t, variant="mini", mini_r=64),
        "lora": lambda t: LoraConfig(r=r_lora, lora_alpha=2 * r_lora, target_modules=t),
    }


def measure(models: dict, make_loss, reps: int) -> dict:
    """Per method: trainable parameters, bytes saved for backward, and forward+backward time as a ratio to LoRA."""
    out = {}
    base_m = saved_bytes(lambda: make_loss(models["lora"]), models["lora"])
    for name, model in models.items():
        memory = saved_bytes(lambda m=model: make_loss(m), model)
        timing = time_ratio(
            lambda m=model: make_loss(m).backward(), lambda: make_loss(models["lora"]).backward(), repeats=reps
        )
        out[name] = {
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "fwd_bwd_s_median": round(timing["a_median_s"], 4),
            "time_vs_lora": round(timing["ratio"], 3),
            "saved_for_backward_mb": round(memory / 2**20, 2),
            "saved_vs_lora": round(memory / base_m, 3),
        }
    return out


def single_layer() -> dict:
    from peft import get_peft_model

    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(1024, 1024, bias=False)

        def forward(self, x):
            return self.proj(x)

    torch.manual_seed(SEED)
    template = One()
    x = torch.randn(8, 64, 1024)
    models = {}
    for name, make in adapters(32).items():
        model = One()
        model.load_state_dict(template.state_dict())
        models[name] = get_peft_model(model, make(["proj"]))
    result = measure(models, lambda m: m(x).square().mean(), REPS_LAYER)
    weight_mb = 1024 * 1024 * 4 / 2**20
    for v in result.values():
        v["saved_vs_weight"] = round(v["saved_for_backward_mb"] / weight_mb, 3)
    return result


def smollm2() -> dict:
    import copy

    from peft import get_peft_model

    from hf_methods.adapters.bone import BoneConfig, matched_lora_rank
    from hf_methods.common.data import load_smollm2

    base, _ = load_smollm2()
    rank = matched_lora_rank(base, BoneConfig(r=64, target_modules=TARGETS))
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(100, 40000, (2, 32), generator=g)
    models = {name: get_peft_model(copy.deepcopy(base), make(TARGETS)) for name, make in adapters(rank).items()}
    result = measure(models, lambda m: m(input_ids=ids, labels=ids).loss, REPS_MODEL)
    result["lora"]["rank"] = rank
    return result


def main() -> None:
    torch.set_num_threads(int(os.environ.get("BONE_THREADS", "1")))
    start = time.perf_counter()
    report = {
        "name": "bone",
        "baseline": "lora",
        "what": "forward+backward time and bytes saved for backward, ratios to LoRA at matched parameters",
        "single_linear_1024": single_layer(),
        "smollm2_135m_all_projections_2x32": smollm2(),
        "notes": "Timings are medians on a 2-core machine shared with other jobs: read the ratios, not the seconds "
        "(LoRA timed against itself shows their noise). "
        "Bat rebuilds W' = W + W·B + B for every targeted layer on every forward (PEFT has no fused kernel like "
        "the official flash-bat), which the ratios show.",
        "versions": library_versions(),
    }
    report["runtime_s"] = round(time.perf_counter() - start, 1)
    path = repo_root() / "benchmarks" / "results" / "perf-bone.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

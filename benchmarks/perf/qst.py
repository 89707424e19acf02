"""Training memory and step time of QST against LoRA, QLoRA and full fine-tuning on SmolLM2-135M (issue 4).

Target (issue 4, from the paper's "up to 2.3× less memory, up to 3× faster"): QST peak training memory <= 0.45× QLoRA's
and QST step time <= 0.5× QLoRA's, at the same batch and sequence length, as ratios from one run.

Configurations (batch 4 × 64 random tokens, labels = inputs, AdamW, one process):
- `full`:  fp32 base, every parameter trained;
- `lora`:  fp32 base + PEFT LoRA r=64, alpha 16, all seven projections (QLoRA's defaults);
- `qlora`: bitsandbytes NF4 + double-quant base + the same LoRA (the QLoRA recipe);
- `qst`:   the same NF4 base + a QST side network, r=16, k=16 (the paper's setting);
- `qst_fp32`: QST on the fp32 base (separates the side-network effect from quantization).

Memory is counted, not sampled (CPU has no allocator peak counter for torch, and RSS of a process that loaded and
quantized a model is dominated by loading): weights = bytes of every parameter and buffer storage (4-bit packed
weights and their quantization state included, via `get_memory_footprint()` of the base + the adapter's parameters);
gradients = bytes of the trainable parameters; optimizer = AdamW's two fp32 states per trainable parameter;
activations = bytes of the distinct tensors autograd saves for backward during one forward
(`torch.autograd.graph.saved_tensors_hooks`), excluding storages that are parameters (already counted as weights).
Peak = weights + gradients + optimizer + activations: the memory live at the start of backward, without transient
workspaces. Step time = median wall time of forward + backward + optimizer step over the timed steps after one
warm-up step; on CPU bitsandbytes' 4-bit layers run a slow fallback (no `kernels` package), so 4-bit step times are
dominated by dequantization and say little about a GPU.

    python benchmarks/perf/qst.py [--steps 2] [--steps_4bit 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

import torch

BATCH, SEQ = 4, 64
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def saved_activation_bytes(model, batch) -> tuple[int, torch.Tensor]:
    """Bytes of distinct non-parameter storages saved for backward in one forward; returns (bytes, loss)."""
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    base = getattr(model, "base_model", None)
    if base is not None:
        param_ptrs |= {p.untyped_storage().data_ptr() for p in base.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in param_ptrs:
                seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(**batch).loss
    return sum(seen.values()), loss


def measure(name, model, weight_bytes, batch, steps, lr=1e-4) -> dict:
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    model.train()
    act_bytes, loss = saved_activation_bytes(model, batch)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    grad_bytes = sum(p.numel() * p.element_size() for p in trainable)
    optim_bytes = sum(2 * p.numel() * 4 for p in trainable)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    mib = 2**20
    row = {
        "trainable_params": n_train,
        "weights_mib": weight_bytes / mib,
        "gradients_mib": grad_bytes / mib,
        "optimizer_mib": optim_bytes / mib,
        "activations_mib": act_bytes / mib,
        "peak_mib": (weight_bytes + grad_bytes + optim_bytes + act_bytes) / mib,
        "step_s": statistics.median(times),
        "step_s_all": times,
    }
    print(
        f"[perf-qst] {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float | int)),
        flush=True,
    )
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="timed steps per fp32 configuration")
    parser.add_argument("--steps_4bit", type=int, default=1, help="timed steps per 4-bit configuration")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from peft import LoraConfig, get_peft_model
    from transformers import BitsAndBytesConfig

    from hf_methods.adapters.qst import QSTConfig, get_qst_model
    from hf_methods.common.data import load_smollm2
    from hf_methods.zoo import repo_root

    start = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 49152, (BATCH, SEQ), generator=g)
    batch = {"input_ids": ids, "labels": ids}
    lora_cfg = dict(r=64, lora_alpha=16, target_modules=LORA_TARGETS, lora_dropout=0.0)
    qst_cfg = QSTConfig(reduction_factor=16, adapter_rank=16)
    rows = {}

    def adapter_bytes(model):
        return sum(p.numel() * p.element_size() for n, p in model.named_parameters() if p.requires_grad)

    # ---- 4-bit base: QST, then QLoRA on the same quantized weights
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )
    t0 = time.perf_counter()
    base4, _ = load_smollm2(quantization_config=quant, device_map="cpu")
    load_4bit_s = time.perf_counter() - t0
    base4_bytes = base4.get_memory_footprint()
    qst = get_qst_model(base4, qst_cfg)
    rows["qst"] = measure("qst", qst, base4_bytes + adapter_bytes(qst), batch, args.steps_4bit)
    qst.unload()
    del qst
    gc.collect()
    base4.requires_grad_(False)
    qlora = get_peft_model(base4, LoraConfig(**lora_cfg))
    rows["qlora"] = measure("qlora", qlora, base4_bytes + adapter_bytes(qlora), batch, args.steps_4bit)
    del qlora, base4
    gc.collect()

    # ---- fp32 base: QST, LoRA, then full fine-tuning (last: it changes the weights)
    base, _ = load_smollm2()
    base_bytes = base.get_memory_footprint()
    qst = get_qst_model(base, qst_cfg)
    rows["qst_fp32"] = measure("qst_fp32", qst, base_bytes + adapter_bytes(qst), batch, args.steps)
    qst.unload()
    del qst
    gc.collect()
    base.requires_grad_(False)
    lora = get_peft_model(base, LoraConfig(**lora_cfg))
    rows["lora"] = measure("lora", lora, base_bytes + adapter_bytes(lora), batch, args.steps)
    base = lora.unload()
    del lora
    gc.collect()
    base.requires_grad_(True)
    rows["full"] = measure("full", base, base_bytes, batch, args.steps)

    ratios = {
        "qst_vs_qlora_peak_memory": rows["qst"]["peak_mib"] / rows["qlora"]["peak_mib"],
        "qst_vs_qlora_step_time": rows["qst"]["step_s"] / rows["qlora"]["step_s"],
        "qst_vs_qlora_activations": rows["qst"]["activations_mib"] / rows["qlora"]["activations_mib"],
        "qst_vs_full_peak_memory": rows["qst"]["peak_mib"] / rows["full"]["peak_mib"],
        "qst_vs_lora_peak_memory": rows["qst"]["peak_mib"] / rows["lora"]["peak_mib"],
        "qst_fp32_vs_lora_step_time": rows["qst_fp32"]["step_s"] / rows["lora"]["step_s"],
        "qst_fp32_vs_lora_activations": rows["qst_fp32"]["activations_mib"] / rows["lora"]["activations_mib"],
        "qst_fp32_vs_full_step_time": rows["qst_fp32"]["step_s"] / rows["full"]["step_s"],
    }
    targets = {"qst_vs_qlora_peak_memory": 0.45, "qst_vs_qlora_step_time": 0.5}
    result = {
        "benchmark": "qst",
        "model": "SmolLM2-135M-Instruct",
        "batch": BATCH,
        "seq_len": SEQ,
        "configs": rows,
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "targets": targets,
        "met": {k: ratios[k] <= v for k, v in targets.items()},
        "load_4bit_s": round(load_4bit_s, 1),
        "settings": {
            "lora": lora_cfg,
            "qst": {"reduction_factor": 16, "adapter_rank": 16, "downsample": "adapter"},
            "quantization": "bitsandbytes NF4, double quant, fp32 compute, CPU",
            "optimizer": "AdamW fp32",
            "timed_steps": {"fp32": args.steps, "4bit": args.steps_4bit},
            "threads": args.threads,
        },
        "notes": __doc__.split("\n\n", 2)[2].split("\n\n    python")[0].replace("\n", " "),
        "runtime_s": round(time.perf_counter() - start, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(args.out) if args.out else repo_root() / "benchmarks" / "results" / "perf-qst.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ratios": result["ratios"], "met": result["met"]}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

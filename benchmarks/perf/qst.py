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
workspaces. Step times are ratios from `hf_methods.harness.claims.time_ratio`: forward + backward + optimizer step of
the two models interleaved, `--warmup` (2) warm-up steps each, then the median of `--repeats` (>= 5) timed steps each;
QST vs QLoRA on two copies of the NF4 base, QST vs LoRA and QST vs full fine-tuning on fp32 copies. On CPU
bitsandbytes' 4-bit layers run a slow fallback (no `kernels` package), so 4-bit step times are dominated by
dequantization and say little about a GPU (one 4-bit SmolLM2 step took minutes on a loaded 2-core machine).

    python benchmarks/perf/qst.py [--repeats 5] [--warmup 2] [--model tiny]   # tiny: a quick check of the script
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import torch

from hf_methods.adapters.qst.training import make_optimizer, saved_activation_bytes, train_step
from hf_methods.harness.claims import time_ratio

BATCH, SEQ = 4, 64
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def memory_row(name: str, model, weight_bytes: int, batch: dict) -> dict:
    """Counted memory of one training step of `model` (see the module docstring), in MiB."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    act_bytes, loss = saved_activation_bytes(model, batch)
    loss.backward()
    model.zero_grad(set_to_none=True)
    grad_bytes = sum(p.numel() * p.element_size() for p in trainable)
    optim_bytes = sum(2 * p.numel() * 4 for p in trainable)
    mib = 2**20
    row = {
        "trainable_params": sum(p.numel() for p in trainable),
        "weights_mib": weight_bytes / mib,
        "gradients_mib": grad_bytes / mib,
        "optimizer_mib": optim_bytes / mib,
        "activations_mib": act_bytes / mib,
        "peak_mib": (weight_bytes + grad_bytes + optim_bytes + act_bytes) / mib,
    }
    print(f"[perf-qst] {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    return row


def stepper(model, batch: dict):
    """One AdamW training step of `model` on `batch`, as a function of no arguments (for `time_ratio`)."""
    optimizer = make_optimizer(model.train(), 1e-4)
    return lambda: train_step(model, batch, optimizer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model (>= 5)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up steps per model")
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from hf_methods.adapters.qst import QSTConfig, get_qst_model
    from hf_methods.zoo import repo_root

    start = time.perf_counter()
    if args.model == "smollm2":
        from hf_methods.common.data import load_smollm2, smollm2_path

        base, _ = load_smollm2()
        folder, qst_kwargs = smollm2_path(), {"reduction_factor": 16, "adapter_rank": 16}
    else:
        from hf_methods.common.tiny import tiny_llama

        base = tiny_llama(0, hidden_size=256, intermediate_size=512, num_hidden_layers=4)
        folder, qst_kwargs = Path(tempfile.mkdtemp(prefix="perf-qst-")), {"reduction_factor": 4, "adapter_rank": 8}
        base.save_pretrained(folder)
    ids = torch.randint(0, base.config.vocab_size, (BATCH, SEQ), generator=torch.Generator().manual_seed(0))
    batch = {"input_ids": ids, "labels": ids}
    lora_cfg = dict(r=64, lora_alpha=16, target_modules=LORA_TARGETS, lora_dropout=0.0)
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )

    def load_4bit():
        return AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, device_map="cpu").eval()

    def with_lora(model):
        return get_peft_model(model.requires_grad_(False), LoraConfig(**lora_cfg))

    def adapter_bytes(model):
        return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)

    # ---- NF4 base: QST and QLoRA, each on its own copy (QLoRA rewrites its base's modules)
    t0 = time.perf_counter()
    qst4, qlora = get_qst_model(load_4bit(), QSTConfig(**qst_kwargs)), with_lora(load_4bit())
    load_4bit_s = (time.perf_counter() - t0) / 2
    base4_bytes = qst4.base_model.get_memory_footprint()
    rows = {
        "qst": memory_row("qst", qst4, base4_bytes + adapter_bytes(qst4), batch),
        "qlora": memory_row("qlora", qlora, base4_bytes + adapter_bytes(qlora), batch),
    }
    timings = {"qst_vs_qlora": time_ratio(stepper(qst4, batch), stepper(qlora, batch), **_timing(args))}
    del qst4, qlora

    # ---- fp32 base: QST, LoRA and full fine-tuning, each on its own copy
    base_bytes = base.get_memory_footprint()
    qst = get_qst_model(copy.deepcopy(base), QSTConfig(**qst_kwargs))
    lora = with_lora(copy.deepcopy(base))
    full = base.requires_grad_(True)
    rows["qst_fp32"] = memory_row("qst_fp32", qst, base_bytes + adapter_bytes(qst), batch)
    rows["lora"] = memory_row("lora", lora, base_bytes + adapter_bytes(lora), batch)
    rows["full"] = memory_row("full", full, base_bytes, batch)
    timings["qst_fp32_vs_lora"] = time_ratio(stepper(qst, batch), stepper(lora, batch), **_timing(args))
    timings["qst_fp32_vs_full"] = time_ratio(stepper(qst, batch), stepper(full, batch), **_timing(args))

    ratios = {
        "qst_vs_qlora_peak_memory": rows["qst"]["peak_mib"] / rows["qlora"]["peak_mib"],
        "qst_vs_qlora_step_time": timings["qst_vs_qlora"]["ratio"],
        "qst_vs_qlora_activations": rows["qst"]["activations_mib"] / rows["qlora"]["activations_mib"],
        "qst_vs_full_peak_memory": rows["qst"]["peak_mib"] / rows["full"]["peak_mib"],
        "qst_vs_lora_peak_memory": rows["qst"]["peak_mib"] / rows["lora"]["peak_mib"],
        "qst_fp32_vs_lora_step_time": timings["qst_fp32_vs_lora"]["ratio"],
        "qst_fp32_vs_lora_activations": rows["qst_fp32"]["activations_mib"] / rows["lora"]["activations_mib"],
        "qst_fp32_vs_full_step_time": timings["qst_fp32_vs_full"]["ratio"],
    }
    targets = {"qst_vs_qlora_peak_memory": 0.45, "qst_vs_qlora_step_time": 0.5}
    result = {
        "benchmark": "qst",
        "model": "SmolLM2-135M-Instruct" if args.model == "smollm2" else "tiny Llama (d=256, 4 layers)",
        "batch": BATCH,
        "seq_len": SEQ,
        "configs": rows,
        "timings": timings,
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "targets": targets,
        "met": {k: ratios[k] <= v for k, v in targets.items()},
        "load_4bit_s": round(load_4bit_s, 1),
        "settings": {
            "lora": lora_cfg,
            "qst": {**qst_kwargs, "downsample": "adapter"},
            "quantization": "bitsandbytes NF4, double quant, fp32 compute, CPU",
            "optimizer": "AdamW fp32",
            "timing": _timing(args),
            "threads": args.threads,
        },
        "notes": __doc__.split("\n\n", 2)[2].split("\n\n    python")[0].replace("\n", " "),
        "runtime_s": round(time.perf_counter() - start, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if args.out:
        out = Path(args.out)
    elif args.model == "smollm2":
        out = repo_root() / "benchmarks" / "results" / "perf-qst.json"
    else:
        out = Path(tempfile.mkdtemp(prefix="perf-qst-tiny-")) / "perf-qst.json"  # never over the SmolLM2 results
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ratios": result["ratios"], "met": result["met"]}, indent=2))
    print(f"wrote {out}")


def _timing(args) -> dict:
    return {"warmup": args.warmup, "repeats": args.repeats}


if __name__ == "__main__":
    main()

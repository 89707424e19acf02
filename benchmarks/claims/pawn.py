"""Claim of P08 (PAWN, Miralles-González et al.): competitive in-domain, better on unseen domains and generators.

Claim A (synthetic, minutes; the default run). A two-domain word language (`hf_methods.models.pawn.synthetic`, built
on `hf_methods.common.markov`): human text is the chain of a domain sampled at temperature 1, machine text the same
chain at temperature 0.6, so the machine is *not* the backbone and zero-shot likelihood has no home advantage. A tiny
Llama backbone learns both domains from human text; detectors train on 1,500 + 1,500 texts of domain A and are tested
on 500 + 500 texts of each domain. Detectors: PAWN and MPN (paper-size heads), all-MiniLM-L6-v2 fine-tuned on the
texts, and mean log-probability (zero-shot reference, no rule). Five seeds (each redraws the chains, the backbone, the
texts and the detectors). About 4-5 minutes per seed on one thread (the smoke run: 30 s).

Held when PAWN's AUROC ≥ MPN's − 0.01 in-domain and PAWN's AUROC ≥ the fine-tuned MiniLM's on the unseen domain.
AUROC is not a mean over documents, so the rules pair on seeds (unit = seed): mean paired difference over the five
seeds with its percentile bootstrap interval. Inside each seed a paired document bootstrap (resampling test documents,
both detectors scored on the same resample) gives a per-seed interval, reported in `details`, not used by the rules.

Claim B (real text): `python benchmarks/claims/pawn.py --real` on `data/pawn/detection-large.jsonl` (built by
`python scripts/build_pawn_dataset.py --large`), 5-fold cross-validation over openings, one decoding setting held out
as the unseen generator; same rules plus PAWN ≥ MiniLM on the unseen generator. Without that file it says so and
stops. Its results go to `benchmarks/results/pawn-real/pawn.json`.
"""

from __future__ import annotations

import sys

import torch

from hf_methods.harness.claims import Claim, Compare
from hf_methods.models.pawn.evaluation import HEAD, score_detectors
from hf_methods.zoo import repo_root

TRAIN = {"epochs": 10, "batch_size": 16, "learning_rate": 1e-3, "weight_decay": 0.01, "max_grad_norm": 1.0}
MINILM = {"epochs": 2, "batch_size": 16, "learning_rate": 1e-4, "max_length": 128}  # whole texts
RULES = [
    Compare("in-domain: PAWN ≥ MPN − 0.01 (AUROC)", "auroc_in_domain", "PAWN", "MPN", margin=-0.01),
    Compare("unseen domain: PAWN ≥ fine-tuned MiniLM (AUROC)", "auroc_unseen_domain", "PAWN", "MiniLM", margin=0.0),
]
TASK = {"type": "text-classification", "dataset_type": "synthetic", "split": "test"}

CLAIM = Claim(
    slug="pawn",
    seeds=[0, 1, 2, 3, 4],
    settings={
        "vocab": 64,
        "dirichlet_alpha": 0.3,
        "domain_b_shifted_rows": 0.5,
        "words_per_text": 48,
        "human_temperature": 1.0,
        "machine_temperature": 0.6,
        "n_train_per_class": 1500,
        "n_test_per_class": 500,
        "backbone": {"texts_per_domain": 2000, "steps": 600, "batch_size": 32, "learning_rate": 3e-3},
        "head": HEAD,
        "train": TRAIN,
        "minilm": MINILM,
        "document_bootstrap_samples": 200,
    },
    smoke={
        "n_train_per_class": 60,
        "n_test_per_class": 40,
        "backbone": {"texts_per_domain": 100, "steps": 20, "batch_size": 16, "learning_rate": 3e-3},
        "train": {**TRAIN, "epochs": 1},
        "minilm": {**MINILM, "epochs": 1},
        "document_bootstrap_samples": 20,
        "seeds": [0],
    },  # fmt: skip
    rules=RULES,
    task={**TASK, "dataset_name": "two-domain Markov word language, machine = chain at T=0.6"},
)


def synthetic_seed(seed: int, s: dict) -> dict:
    """One seed of Claim A: chains, backbone, texts, detectors; AUROCs per test domain."""
    from datasets import Dataset

    from hf_methods.models.pawn import synthetic as lang

    torch.set_num_threads(1)
    words = lang.made_up_words(s["vocab"], seed)
    chains = lang.two_domain_chains(s["vocab"], s["dirichlet_alpha"], s["domain_b_shifted_rows"], seed)
    tokenizer = lang.word_tokenizer(words)
    n_words, b = s["words_per_text"], s["backbone"]

    def texts(domain, n, temperature, offset):
        return lang.chain_texts(chains[domain], words, n, n_words, temperature=temperature, seed=seed * 100 + offset)

    corpus = texts("A", b["texts_per_domain"], 1.0, 0) + texts("B", b["texts_per_domain"], 1.0, 1)
    lm = lang.train_chain_backbone(corpus, tokenizer, steps=b["steps"], batch_size=b["batch_size"],
                              learning_rate=b["learning_rate"], seed=seed)  # fmt: skip

    def detection(domain, n, offset):
        human = texts(domain, n, s["human_temperature"], offset)
        machine = texts(domain, n, s["machine_temperature"], offset + 1)
        return Dataset.from_dict({"text": human + machine, "label": [0] * n + [1] * n, "id": list(range(2 * n))})

    train = detection("A", s["n_train_per_class"], 10)
    tests = {
        "in_domain": detection("A", s["n_test_per_class"], 20),
        "unseen_domain": detection("B", s["n_test_per_class"], 30),
    }
    return score_detectors(lm, tokenizer, train, tests, s, seed, max_length=n_words + 1)


def record(claim, result: dict, unit) -> None:
    for test, by_name in result.items():
        for name, value in by_name.items():
            if name.endswith("interval"):
                claim.details.setdefault("document_bootstrap", {}).setdefault(str(unit), {})[f"{test}: {name}"] = value
            else:
                claim.record(name, f"auroc_{test}", value, unit=unit)


def run(claim) -> None:
    torch.set_num_threads(1)
    for seed in claim.seeds:
        record(claim, claim.cached(f"synthetic-seed{seed}", synthetic_seed, seed, claim.settings), seed)
    claim.note(
        "Machine text is the domain's own chain at temperature 0.6, not the backbone's samples; mean log-probability "
        "is reported as the zero-shot reference and is not a bar. Rules pair detectors on seeds; per-seed document "
        "bootstrap intervals are in details.document_bootstrap."
    )


LARGE_SET = "data/pawn/detection-large.jsonl"
CLAIM_B = Claim(
    slug="pawn",
    seeds=[0],
    settings={
        "data_file": LARGE_SET,
        "backbone": "smollm2-135m-instruct",
        "max_length": 128,
        "train_domains": ["bible", "python-docs"],
        "unseen_domain": "jargon",
        "unseen_generator": "sample-t0.8-k40",
        "folds": 5,
        "head": HEAD,
        "train": TRAIN,
        "minilm": MINILM,
        "document_bootstrap_samples": 200,
    },
    smoke={"folds": 2, "train": {**TRAIN, "epochs": 1}, "minilm": {**MINILM, "epochs": 1}},
    rules=[*RULES, Compare("unseen generator: PAWN ≥ MiniLM (AUROC)", "auroc_unseen_generator", "PAWN", "MiniLM")],
    task={**TASK, "dataset_type": LARGE_SET, "dataset_name": "human vs SmolLM2-135M text, three domains"},
)


def run_real(claim) -> None:
    """Claim B: k-fold over the training domains' openings; unit = fold."""
    from hf_methods.common.data import load_smollm2
    from hf_methods.models.pawn import load_pawn_dataset

    torch.set_num_threads(1)
    s = claim.settings
    data = load_pawn_dataset(s["data_file"])
    lm, tokenizer = load_smollm2()
    seen = [d in s["train_domains"] for d in data["domain"]]
    unseen_gen = [g == s["unseen_generator"] for g in data["decoding"]]
    openings = sorted({o for o, keep in zip(data["opening_id"], seen) if keep})
    order = torch.randperm(len(openings), generator=torch.Generator().manual_seed(claim.seeds[0])).tolist()
    backbone = {"backbone_name_or_path": s["backbone"], "backbone_hidden_size": lm.config.hidden_size}
    for fold in range(s["folds"]):
        held = {openings[i] for i in order[fold :: s["folds"]]}
        rows = {"train": [], "in_domain": [], "unseen_domain": [], "unseen_generator": []}
        for i, (opening, label) in enumerate(zip(data["opening_id"], data["label"])):
            if not seen[i]:
                rows["unseen_domain"].append(i)
            elif opening not in held:
                if not unseen_gen[i]:
                    rows["train"].append(i)
            else:
                rows["unseen_generator" if unseen_gen[i] else "in_domain"].append(i)
                if label == 0:  # the held-out human texts are the negatives of the unseen-generator test too
                    rows["unseen_generator"].append(i)
        tests = {name: data.select(idx) for name, idx in rows.items() if name != "train"}
        result = claim.cached(
            f"real-fold{fold}", score_detectors, lm, tokenizer, data.select(rows["train"]), tests, s,
            claim.seeds[0], s["max_length"], backbone,
        )  # fmt: skip
        record(claim, result, f"fold{fold}")
    claim.plot_points(
        "auroc-real",
        ["auroc_in_domain", "auroc_unseen_domain", "auroc_unseen_generator"],
        methods=["PAWN", "MPN", "MiniLM", "mean log-probability"],
        title="PAWN on real text: AUROC per fold (5-fold CV), mean and 95% bootstrap interval",
    )


if __name__ == "__main__":
    if "--real" not in sys.argv:
        CLAIM.main(run)
    elif not (repo_root() / LARGE_SET).is_file():
        print(f"Claim B skipped: {LARGE_SET} is absent; build it with `python scripts/build_pawn_dataset.py --large`.")
    else:
        sys.argv.remove("--real")
        CLAIM_B.settings["data_file"] = str(repo_root() / LARGE_SET)
        if "--results-dir" not in sys.argv and "--smoke" not in sys.argv:
            sys.argv += ["--results-dir", str(repo_root() / "benchmarks" / "results" / "pawn-real")]
        CLAIM_B.main(run_real)

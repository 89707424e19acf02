# Copyright 2025 The hf-methods contributors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The hf-methods catalogue: one `Method` record per paper, for all 64 papers, implemented or not.

Each record states what a method is (paper, arXiv id, official code, kind, tags), where it lives in the repository
(`folder`, `recipe`, `model_type`), which public names it ships (`entry_points`, import strings of the form
``"hf_methods.<kind>.<slug>:<Name>"``) and what its CPU benchmark checks (`claim`). The CLI (`hf-methods list|show`),
the README table and the model cards are all generated from these records.

The status of a method is derived from the repository every time it is read, never typed by hand:

- ``"planned"``: an entry point does not import (or the record has none), or the entry points import but the test file
  ``tests/<kind>/test_<slug>.py`` does not exist yet;
- ``"implemented"``: every entry point imports and the test file exists;
- ``"claim held"`` / ``"claim not held"``: implemented, and ``benchmarks/results/<slug>.json`` exists and records
  ``"outcome": "held"`` or ``"outcome": "did not hold"``.

Importing this module is cheap: it only uses the standard library. The entry points (and with them torch and
transformers) are imported only when a status is asked for.

Example:

```python
>>> from hf_methods.zoo import get_method, list_methods
>>> get_method("bone").folder
'hf_methods/adapters/bone'
>>> [m.slug for m in list_methods(kind="generation")]
['act', 'hydra', 'loki']
```
"""

import difflib
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KINDS",
    "METHODS",
    "STATUSES",
    "Method",
    "entry_points_import",
    "get_method",
    "list_methods",
    "repo_root",
]

KINDS = ("models", "adapters", "generation", "training", "analysis")
STATUSES = ("planned", "implemented", "claim held", "claim not held")

_OUTCOME_TO_STATUS = {"held": "claim held", "did not hold": "claim not held"}
_PAPER_ID_RE = re.compile(r"^P(0[1-9]|[1-5][0-9]|6[0-4])$")
_ARXIV_RE = re.compile(r"^\d{4}\.\d{4,5}$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def repo_root() -> Path:
    """The root of the hf-methods checkout (the folder holding `hf_methods/`, `tests/` and `benchmarks/`)."""
    return Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Method:
    """One paper of the zoo.

    Args:
        slug (`str`): Short identifier, fixed by DESIGN.md §9; names the folder, recipe, card, claim script and tests.
        paper_id (`str`): `"P01"` to `"P64"`, the paper's number in `papers.md`.
        title (`str`): Exact paper title.
        arxiv (`str`, *optional*): arXiv identifier such as `"2409.15371"`, or `None` when it could not be confirmed.
        official_code (`str`, *optional*): `"owner/repo"` of the official GitHub code, or `None` when none is public.
        kind (`str`): One of `KINDS`; the subpackage the method lives in.
        tags (`tuple[str, ...]`): Two to five short lowercase tags.
        entry_points (`tuple[str, ...]`): Import strings `"hf_methods.<kind>.<slug>:<Name>"` of the public names.
        recipe (`str`, *optional*): Path of the Accelerate recipe, `"recipes/<slug>.py"`.
        claim (`str`): One sentence: what the paper claims and what the CPU benchmark checks.
        venue (`str`, *optional*): Publication venue, e.g. `"ICML 2023"`, when known.
        usage (`str`, *optional*): A short snippet showing the public API.
        notes (`str`, *optional*): Deviations from the paper or caveats (e.g. reconstruction from the paper text).
    """

    slug: str
    paper_id: str
    title: str
    arxiv: str | None
    official_code: str | None
    kind: str
    tags: tuple[str, ...]
    entry_points: tuple[str, ...]
    recipe: str | None
    claim: str
    venue: str = ""
    usage: str = ""
    notes: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"`kind` of {self.slug!r} must be one of {KINDS}, got {self.kind!r}.")
        if not _PAPER_ID_RE.match(self.paper_id):
            raise ValueError(f"`paper_id` of {self.slug!r} must look like 'P01'..'P64', got {self.paper_id!r}.")
        if self.arxiv is not None and not _ARXIV_RE.match(self.arxiv):
            raise ValueError(f"`arxiv` of {self.slug!r} must look like '2301.12345' or be None, got {self.arxiv!r}.")
        if self.official_code is not None and self.official_code.count("/") != 1:
            raise ValueError(
                f"`official_code` of {self.slug!r} must be 'owner/repo' or None, got {self.official_code!r}."
            )
        if not 2 <= len(self.tags) <= 5 or not all(_TAG_RE.match(tag) for tag in self.tags):
            raise ValueError(f"`tags` of {self.slug!r} must be 2 to 5 short lowercase tags, got {self.tags!r}.")
        prefix = f"hf_methods.{self.kind}.{self.slug}:"
        for entry_point in self.entry_points:
            if not entry_point.startswith(prefix) or not entry_point[len(prefix) :].isidentifier():
                raise ValueError(
                    f"`entry_points` of {self.slug!r} must look like '{prefix}Name', got {entry_point!r}."
                )
        if self.recipe is not None and self.recipe != f"recipes/{self.slug}.py":
            raise ValueError(
                f"`recipe` of {self.slug!r} must be 'recipes/{self.slug}.py' or None, got {self.recipe!r}."
            )

    @property
    def status(self) -> str:
        """`"planned"`, `"implemented"`, `"claim held"` or `"claim not held"`, derived from the repository."""
        if not entry_points_import(self) or not _test_file(self).is_file():
            return "planned"
        result = self.result
        if result is None:
            return "implemented"
        return _OUTCOME_TO_STATUS.get(result.get("outcome"), "implemented")

    @property
    def result(self) -> dict | None:
        """The parsed `benchmarks/results/<slug>.json` written by the claim script, or `None` when absent."""
        path = _result_file(self)
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"The benchmark result {path} is not valid JSON: {error}") from error
        if not isinstance(result, dict):
            raise ValueError(f"The benchmark result {path} must hold a JSON object, got {type(result).__name__}.")
        return result

    @property
    def paper_url(self) -> str | None:
        """`https://arxiv.org/abs/<arxiv>`, or `None` when the arXiv id is unknown."""
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else None

    @property
    def code_url(self) -> str | None:
        """`https://github.com/<official_code>`, or `None` when there is no public official code."""
        return f"https://github.com/{self.official_code}" if self.official_code else None

    @property
    def folder(self) -> str:
        """The method's package, relative to the repository root: `"hf_methods/<kind>/<slug>"`."""
        return f"hf_methods/{self.kind}/{self.slug}"

    @property
    def model_type(self) -> str:
        """The `model_type` used for the method's configs and Auto classes: `"hfm-<slug>"`."""
        return f"hfm-{self.slug}"


def _test_file(method: Method) -> Path:
    return repo_root() / "tests" / method.kind / f"test_{method.slug}.py"


def _result_file(method: Method) -> Path:
    return repo_root() / "benchmarks" / "results" / f"{method.slug}.json"


_RECORDS = (
    Method(
        slug="random_features",
        paper_id="P01",
        title="How Powerful are Shallow Neural Networks with Bandlimited Random Weights?",
        arxiv="2008.08427",
        official_code=None,
        kind="models",
        tags=("random-features", "approximation-theory", "ridgelet"),
        entry_points=(
            "hf_methods.models.random_features:RandomFeatureConfig",
            "hf_methods.models.random_features:RandomFeatureModel",
        ),
        recipe="recipes/random_features.py",
        claim=(
            "Random nets whose hidden weights come from a bounded range have a non-zero approximation-error floor and "
            "the adequate range grows with target complexity; the CPU check fits tanh random features to sin(2πkx) "
            "and asserts the error plateaus above 0.5 for λ=1 at any width, falls below 0.01 for λ=16, and that the "
            "smallest sufficient λ is non-decreasing in k."
        ),
        venue="ICML 2023",
        usage=(
            "from hf_methods import RandomFeatureConfig, RandomFeatureModel\n"
            "m = RandomFeatureModel(RandomFeatureConfig(in_dim=1, width=400, bandwidth=16.0, activation='tanh'))\n"
            "m.fit_readout(X, y, ridge=1e-6)  # closed-form readout; hidden weights are frozen buffers"
        ),
        notes=(
            "No official code: implemented from the paper's model definition, with a numpy simulation in the tests as "
            "the reference; the thresholds belong to the CPU check, not to figures in the paper."
        ),
    ),
    Method(
        slug="terminator",
        paper_id="P02",
        title="HyperZ·Z·W Operator Connects Slow-Fast Networks for Full Context Interaction",
        arxiv="2401.17948",
        official_code="hyperevolnet/Terminator",
        kind="models",
        tags=("architecture", "hyper-kernels", "implicit-mlp", "vision"),
        entry_points=(
            "hf_methods.models.terminator:TerminatorConfig",
            "hf_methods.models.terminator:TerminatorForImageClassification",
            "hf_methods.models.terminator:HyperZZWGlobal",
            "hf_methods.models.terminator:slow_neural_loss",
        ),
        recipe="recipes/terminator.py",
        claim=(
            "The Terminator slow-fast network (HyperZ·Z·W, no residuals) is claimed competitive on pixel-level and "
            "image classification with fewer parameters; at CPU scale the check verifies the operator contracts, "
            "zero-mean features and a decreasing slow loss, and asserts ≥0.93 digits accuracy within 0.02 of a "
            "same-size plain CNN (soft)."
        ),
        usage=(
            "model = TerminatorForImageClassification(TerminatorConfig(image_size=8, channels=[1, 8, 16]))\n"
            "out = model(pixel_values, labels=y)  # out.loss = CE + λ·slow loss"
        ),
        notes=(
            "Reconstruction from paper text for the modules missing from the public code (g_ibs, linear); "
            "Kar3 is replaced by AdamW."
        ),
    ),
    Method(
        slug="vssd",
        paper_id="P03",
        title="VSSD: Vision Mamba with Non-Casual State Space Duality",
        arxiv="2407.18559",
        official_code="YuHengsss/VSSD",
        kind="models",
        tags=("state-space-model", "mamba", "vision", "linear-attention"),
        entry_points=(
            "hf_methods.models.vssd:VSSDConfig",
            "hf_methods.models.vssd:VSSDModel",
            "hf_methods.models.vssd:VSSDForImageClassification",
            "hf_methods.models.vssd:NonCausalSSD",
        ),
        recipe="recipes/vssd.py",
        claim=(
            "VSSD's non-causal state space duality beats earlier SSM vision backbones (ImageNet-1K Tiny 83.6%); the "
            "CPU check verifies NC-SSD against its O(L²) reference and its non-causality, and asserts ≥0.93 digits "
            "accuracy with the non-causal variant no worse than a causal-masked one (soft)."
        ),
        usage=(
            "config = VSSDConfig(embed_dim=32, depths=[1, 1], num_heads=[2, 4], image_size=8, patch_size=1,\n"
            "                    num_labels=10)\n"
            "model = VSSDForImageClassification(config)"
        ),
        notes="Pure-torch NC-SSD path only; the causal/bidirectional mamba_ssm ablation paths are not ported.",
    ),
    Method(
        slug="qst",
        paper_id="P04",
        title="Quantized Side Tuning: Fast and Memory-Efficient Tuning of Quantized Large Language Models",
        arxiv="2401.07159",
        official_code="YouAreSpecialToMe/QST",
        kind="adapters",
        tags=("peft", "side-tuning", "quantization", "memory-efficient"),
        entry_points=(
            "hf_methods.adapters.qst:QSTConfig",
            "hf_methods.adapters.qst:get_qst_model",
            "hf_methods.adapters.qst:QSTModel",
        ),
        recipe="recipes/qst.py",
        claim=(
            "Paper: up to 2.3x less training memory and up to 3x faster than QLoRA at competitive accuracy; the CPU "
            "check fine-tunes SmolLM2-135M on arithmetic word problems with QST and LoRA (fp32 base, 40 steps, 3 "
            "seeds) and a tiny Llama across two Markov languages, counts saved-for-backward bytes, asserts no "
            "gradient reaches the base, and reads the peak-memory and step-time ratios to QLoRA on an NF4 "
            "SmolLM2-135M from benchmarks/perf/qst.py."
        ),
        venue="ACL 2024",
        usage=(
            "from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig\n"
            "from hf_methods.adapters.qst import QSTConfig, QSTModel, get_qst_model\n"
            "repo = 'HuggingFaceTB/SmolLM2-135M-Instruct'\n"
            "bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True)\n"
            "base = AutoModelForCausalLM.from_pretrained(repo, quantization_config=bnb)\n"
            "ids = AutoTokenizer.from_pretrained(repo)('2 + 3 =', return_tensors='pt').input_ids\n"
            "model = get_qst_model(base, QSTConfig(reduction_factor=16, adapter_rank=16))  # only qst.* trains\n"
            "loss = model(input_ids=ids, labels=ids).loss\n"
            "out = model.generate(input_ids=ids, max_new_tokens=16)  # base + side KV caches\n"
            "model.save_pretrained('out')  # qst_config.json + qst_model.safetensors\n"
            "model = QSTModel.from_pretrained(base, 'out')"
        ),
        notes=(
            "PEFT-shaped API outside PEFT (PEFT's method enum is closed to out-of-tree tuners). The side network is "
            "attached to the unmodified base with forward hooks instead of copied modeling code; the base runs under "
            "torch.no_grad() and is not a registered submodule of QSTModel (state_dict, optimizer and checkpoints hold "
            "the side network only). generate() is the base model's own: the side stack keeps its KV states in L "
            "extra layers of the base's DynamicCache. Deviations from the official code (YouAreSpecialToMe/QST), each "
            "a bug or pitfall named in the brief: (1) output mix o = h + gamma*(U(g) - h) with gamma = 0 at init, so "
            "the model equals the base exactly at init (identity_init=False gives the official sigmoid(zeta_lm) gate, "
            "zeta_lm = 1); (2) the output gate is a registered, trained parameter (the official lm_head_z is a plain "
            "tensor after .to(device) and never trains); (3) the embeddings get their own downsampler "
            "(share_embedding_downsampler=True restores the official sharing of D_0 with layer 1); (4) side weights "
            "stay fp32 (the official code casts every module to bf16 by an always-true condition); (5) no vocab+1 "
            "loss reshape and no forced rope_theta; (6) no adapter dropout (it is effectively off in the official "
            "code). Pooling downsamplers ('avgpool'/'maxpool') are a reconstruction of the paper's parameter-free "
            "option, unverified against the paper text; only 'adapter' is in the official code. Llama-family bases "
            "only; no sequence-classification head and no multi-task side networks yet. The claim run uses an fp32 "
            "base (bitsandbytes 4-bit is a slow fallback on CPU); the 4-bit paths are timed in perf-qst.json."
        ),
    ),
    Method(
        slug="arphmm",
        paper_id="P05",
        title=(
            "Autoregressive Hidden Markov Models with partial knowledge on latent space applied to aero-engines "
            "prognostics"
        ),
        arxiv="2105.00211",
        official_code="emmanuelramasso/ARPHMM_RULpred",
        kind="models",
        tags=("hmm", "prognostics", "time-series", "em"),
        entry_points=(
            "hf_methods.models.arphmm:ARPHMMConfig",
            "hf_methods.models.arphmm:ARPHMMModel",
        ),
        recipe="recipes/arphmm.py",
        claim=(
            "Adding partial knowledge of the states (plausibilities) to an autoregressive HMM improves health-state "
            "estimation and RUL prediction over a plain ARHMM; on synthetic run-to-failure data the check asserts an "
            "exact reduction to the ARHMM when pl≡1, monotone EM, +0.10 state-decoding accuracy and a lower RUL RMSE."
        ),
        venue="PHME 2016",
        usage=(
            "m = ARPHMMModel(ARPHMMConfig(n_states=4, ar_order=3))\n"
            "m.fit_em(seqs, plausibilities=pls)\n"
            "gamma = m.posterior_states(seq)"
        ),
        notes=(
            "The official code is MATLAB; CMAPSS is not available offline, so the check uses synthetic degradation "
            "data."
        ),
    ),
    Method(
        slug="act",
        paper_id="P06",
        title=(
            "Unveiling and Harnessing Hidden Attention Sinks: Enhancing Large Language Models without Training "
            "through Attention Calibration"
        ),
        arxiv="2406.15765",
        official_code="GATECH-EIC/ACT",
        kind="generation",
        tags=("attention-sinks", "training-free", "attention-calibration", "llm"),
        entry_points=(
            "hf_methods.generation.act:ActConfig",
            "hf_methods.generation.act:act_calibrate",
            "hf_methods.generation.act:apply_act",
            "hf_methods.generation.act:remove_act",
            "hf_methods.generation.act:calibrate_attention",
            "hf_methods.generation.act:find_act_heads",
            "hf_methods.generation.act:sink_statistics",
            "hf_methods.generation.act:plot_attention_sinks",
        ),
        recipe="recipes/act.py",
        claim=(
            "ACT raises few-shot accuracy (up to +7.30% average on Llama-30B) by calibrating hidden, non-initial "
            "attention sinks; the CPU check measures hidden sinks in SmolLM2-135M, that the greedy head search never "
            "lowers calibration accuracy, and whether ACT adds >= 1 point of held-out 3-shot accuracy (3 seeds)."
        ),
        venue="ICML 2024",
        usage=(
            "from hf_methods.generation.act import ActConfig, act_calibrate, apply_act, find_act_heads\n"
            "# calibration = [{'text': prompt, 'choices': [' bible', ' jargon', ' python'], 'label': 0}, ...]\n"
            "config = find_act_heads(model, calibration, tokenizer=tokenizer, beta=0.4, threshold=0.1)\n"
            "with act_calibrate(model, config):  # the 'act_eager' attention function on the chosen heads\n"
            "    logits = model(**inputs).logits\n"
            "apply_act(model, ActConfig(heads={5: [0, 3]}))  # permanent; save_pretrained keeps it in config.json\n"
            "model.save_pretrained('calibrated')  # config.json carries act_config and attn_implementation\n"
            "# in a new process: import any name of hf_methods.generation.act (registers 'act_eager'), then\n"
            "# AutoModelForCausalLM.from_pretrained('calibrated') is calibrated again"
        ),
        notes=(
            "A custom attention function registered with AttentionInterface and AttentionMaskInterface ('act_eager', "
            "eager math plus the calibration on the selected query heads), not hooks or a patched Llama. Settings live "
            "in the model config (act_config, attn_implementation). Departures from the official code: padded "
            "batches are handled (the sink normaliser counts the valid queries that see a key; the official code uses "
            "batch element 0 only), decoding steps are not calibrated by default (the official decode path sets "
            "A[0, 0] = 1 and breaks row sums), and the default head search is cumulative greedy (a head is kept only "
            "if it improves on the heads kept so far; strategy='independent' is the official per-head test). The "
            "search skips heads without hidden sinks on the calibration prompts and can be limited to the heads with "
            "the most hidden-sink mass (max_candidates). The CPU claim is tiny: SmolLM2-135M, one offline 3-shot task, "
            "12 calibration and 32 held-out prompts per seed; the paper used 7B-30B models and real benchmarks. There "
            "SmolLM2-135M scored near chance (0.35 for 3 classes) and no single head changed calibration accuracy, so "
            "the search kept no head and the held-out accuracy was unchanged. Prefill cost (benchmarks/perf/act.py, "
            "1x128 tokens, CPU): act_eager with every head of layers 2-28 calibrated is 1.05x eager and 1.11x sdpa."
        ),
    ),
    Method(
        slug="lighthubert",
        paper_id="P07",
        title=(
            "LightHuBERT: Lightweight and Configurable Speech Representation Learning with Once-for-All Hidden-Unit "
            "BERT"
        ),
        arxiv="2203.15610",
        official_code="mechanicalsea/lighthubert",
        kind="models",
        tags=("speech", "once-for-all", "distillation", "supernet"),
        entry_points=(
            "hf_methods.models.lighthubert:LightHuBERTConfig",
            "hf_methods.models.lighthubert:LightHuBERTModel",
            "hf_methods.models.lighthubert:OnceForAllDistillationTrainer",
        ),
        recipe="recipes/lighthubert.py",
        claim=(
            "A once-for-all LightHuBERT supernet with two-stage distillation gives subnets that keep HuBERT-level "
            "quality with 29% fewer parameters; on synthetic speech the check asserts exact slicing, that stage-2 "
            "min/mid subnets reach ≤0.7x the distillation loss of stage-1-only slices, and that the max subnet stays "
            "within 1.1x of its stage-1 loss."
        ),
        usage=(
            "sup = LightHuBERTModel(LightHuBERTConfig.small())\n"
            "trainer = OnceForAllDistillationTrainer(model=sup, teacher=teacher, stage=2, args=args,\n"
            "                                        train_dataset=ds)\n"
            "sub = sup.extract_subnet(sup.config.min_subnet)"
        ),
        notes=(
            "The distillation training code is not released: the two-stage loss is a reconstruction from the paper "
            "text, and real HuBERT weights are replaced by a tiny teacher offline."
        ),
    ),
    Method(
        slug="pawn",
        paper_id="P08",
        title=(
            "Not all tokens are created equal: Perplexity Attention Weighted Networks for AI generated text detection"
        ),
        arxiv="2501.03940",
        official_code="pablomiralles22/ai-gen-detection",
        kind="models",
        tags=("ai-text-detection", "classifier-head", "perplexity", "llm"),
        entry_points=(
            "hf_methods.models.pawn:PawnConfig",
            "hf_methods.models.pawn:PawnForSequenceClassification",
            "hf_methods.models.pawn:pawn_features",
            "hf_methods.models.pawn:cache_pawn_features",
            "hf_methods.models.pawn:load_pawn_dataset",
        ),
        recipe="recipes/pawn.py",
        claim=(
            "PAWN is competitive in-domain with fine-tuned LM detectors and generalises better to unseen domains, and "
            "in its ablation the hidden-state-only head (HSFF) overfits domains while the metrics-only mean (MPN) "
            "generalises; the CPU check trains on Bible + Python-docs human vs SmolLM2-135M text and compares AUROC "
            "in-domain and on the unseen Jargon File against MPN, HSFF, zero-shot mean log-likelihood and a "
            "fine-tuned MiniLM (3 seeds)."
        ),
        usage=(
            "from transformers import AutoModelForSequenceClassification, pipeline\n"
            "from hf_methods.models.pawn import PawnConfig, PawnForSequenceClassification, cache_pawn_features\n"
            "det = PawnForSequenceClassification(PawnConfig(backbone_name_or_path='smollm2-135m-instruct'))\n"
            "feats = cache_pawn_features(dataset, det, tokenizer, cache_dir='feats')  # backbone runs once\n"
            "out = det(metrics=m, hidden_states=h, attention_mask=mask)  # or det(input_ids=..., attention_mask=...)\n"
            "det = AutoModelForSequenceClassification.from_pretrained('./pawn-smollm2')  # heads; backbone offline\n"
            "pipeline('text-classification', model=det, tokenizer=tokenizer)(text, truncation=True, max_length=512)"
        ),
        notes=(
            "Reconstruction: the official source was not available for review; built from the paper text, with the "
            "metric order (alphabetical), `>=` ties, bias-free LayerNorm and residual MLPs from a third-party port's "
            "notes (unverified). Only the heads are saved; the frozen backbone is resolved offline from "
            "`backbone_name_or_path` on the first raw-text forward (the alias 'smollm2-135m-instruct' is hf-methods' "
            "converted SmolLM2-135M-Instruct folder under ~/.cache/hf_methods, or pass `backbone=` to "
            "`from_pretrained`). Inputs longer than `max_length` raise a ValueError: truncate with the tokenizer. "
            "Position ids come from the attention mask, so left or right padding gives the same prediction. Metrics "
            "are standardised with training-set mean/sd (buffers saved with the heads; not in the paper). The "
            "pipeline's single score is sigmoid(logit) = P(machine). The detection set (data/pawn, 240 documents, 3 "
            "domains, 4 decoding settings) is generated by the same SmolLM2 that serves as backbone, an easier setting "
            "than the paper's unseen generators; test sets are small."
        ),
    ),
    Method(
        slug="hydra",
        paper_id="P09",
        title="Hydra: Sequentially-Dependent Draft Heads for Medusa Decoding",
        arxiv="2402.05109",
        official_code="zankner/Hydra",
        kind="generation",
        tags=("speculative-decoding", "draft-heads", "medusa", "llm"),
        entry_points=(
            "hf_methods.generation.hydra:HydraConfig",
            "hf_methods.generation.hydra:HydraHeads",
            "hf_methods.generation.hydra:HydraForCausalLM",
            "hf_methods.generation.hydra:hydra_generate",
            "hf_methods.generation.hydra:default_tree",
        ),
        recipe="recipes/hydra.py",
        claim=(
            "Sequentially dependent Hydra heads accept more tokens per base forward and decode faster than Medusa "
            "heads, and the Hydra++ recipe more still, losslessly (paper: Hydra++ 1.31x Medusa's and 2.7x "
            "autoregressive throughput); the CPU check orders Medusa < Hydra < Hydra++ in τ and wall-clock speed on a "
            "tiny Llama over 3 seeds and asserts greedy output equals plain generate()."
        ),
        venue="COLM 2024",
        usage=(
            "from hf_methods.generation.hydra import HydraHeads, HydraForCausalLM, hydra_generate\n"
            "heads = HydraHeads.from_base(base, head_kind='hydra++', num_heads=3)  # or medusa / hydra; then train\n"
            "model = HydraForCausalLM(base, heads)\n"
            "out = model.generate(**inputs, max_new_tokens=64)  # token-for-token equal to greedy decoding\n"
            "out = base.generate(**inputs, custom_generate=hydra_generate, draft_heads=heads, max_new_tokens=64)"
        ),
        notes=(
            "Batch size 1, like the originals; greedy acceptance is lossless (tested token for token against greedy "
            "generate() on a tiny Llama and SmolLM2-135M for every head kind), typical acceptance is opt-in and lossy. "
            "Deviations: stacked ResBlocks have independent weights (the official code repeats one instance); the "
            "residual Linear of a Hydra head's first block starts as [I, 0, ...] (official: random) so Hydra and "
            "Medusa heads start from the same predictor; `share_lm_head=True` (the recipe's CPU default) uses one "
            "frozen copy of the base lm_head for all heads (legacy Medusa) instead of one trainable lm_head per head; "
            "heads keep a frozen copy of the base input embedding. The default tree is generated from a simple "
            "rank-decay acceptance model (`default_tree(num_heads, size)`), not Medusa's tuned mc_sim_7b_63. The "
            "Hydra++ prefix layer is a one-layer LlamaModel over base hidden states with its own KV cache. The CPU "
            "claim uses a synthetic Markov-chain language and a tiny Llama (as the method brief prescribes); the "
            "SmolLM2 acceptance/speed numbers come from heads trained for minutes, far below the paper's budget."
        ),
    ),
    Method(
        slug="weight_compander",
        paper_id="P10",
        title="Weight Compander: A Simple Weight Reparameterization for Regularization",
        arxiv="2306.16993",
        official_code=None,
        kind="adapters",
        tags=("regularization", "reparameterization", "weights"),
        entry_points=(
            "hf_methods.adapters.weight_compander:WeightCompanderConfig",
            "hf_methods.adapters.weight_compander:get_weight_compander_model",
            "hf_methods.adapters.weight_compander:apply_weight_compander",
            "hf_methods.adapters.weight_compander:remove_weight_compander",
        ),
        recipe="recipes/weight_compander.py",
        claim=(
            "Reparameterising every weight through a saturating compander improves CNN generalisation on top of "
            "standard regularisation; the CPU check asserts bounded, odd, monotone effective weights, exact baking "
            "and ≥30% fewer near-zero weights, and that digits accuracy is within 0.005 of the baseline (gain "
            "reported only)."
        ),
        venue="IJCNN 2023",
        usage=(
            "model = apply_weight_compander(model, modules=(nn.Linear, nn.Conv2d), learnable=True)\n"
            "...  # train as usual\n"
            "remove_weight_compander(model); model.save_pretrained('out')"
        ),
        notes="No official code: the compander's closed form is a reconstruction from the paper text until confirmed.",
    ),
    Method(
        slug="gbnn",
        paper_id="P11",
        title="Sequential Training of Neural Networks with Gradient Boosting",
        arxiv="1909.12098",
        official_code="GAA-UAM/GBNN",
        kind="training",
        tags=("gradient-boosting", "tabular", "mlp"),
        entry_points=("hf_methods.training.gbnn:GradientBoostedMLPTrainer",),
        recipe="recipes/gbnn.py",
        claim=(
            "Training hidden units by gradient boosting is competitive with Adam/L-BFGS-trained MLPs and tolerates "
            "switching off the last-trained units; the CPU check asserts the assembled MLP equals the boosting "
            "decision function and that GBNN is within 0.02 accuracy (1.1x RMSE) of an Adam MLP on four sklearn "
            "datasets."
        ),
        usage=(
            "model = GradientBoostedMLPTrainer(total_units=100).fit(X_train, y_train)  # returns a PreTrainedModel\n"
            "model.truncate_hidden(75)"
        ),
    ),
    Method(
        slug="blindspot",
        paper_id="P12",
        title="Deep Regression Unlearning",
        arxiv="2210.08196",
        official_code="ayushkumartarun/deep-regression-unlearning",
        kind="training",
        tags=("machine-unlearning", "regression", "privacy"),
        entry_points=(
            "hf_methods.training.blindspot:BlindspotUnlearningTrainer",
            "hf_methods.training.blindspot:gaussian_amnesiac_relabel",
        ),
        recipe="recipes/blindspot.py",
        claim=(
            "Blindspot unlearning brings a regression model's forget-set error close to retraining from scratch "
            "(AgeDB forget MAE 21.63 vs gold 24.31) while keeping the retain error; on make_friedman1 the check "
            "asserts Blindspot halves fine-tuning's gap to gold on forget MAE, keeps retain MAE within 1.15x and "
            "brings the regression MIA closer to gold."
        ),
        venue="ICML 2023",
        usage=(
            "trainer = BlindspotUnlearningTrainer(model=copy_of_original, original_model=original, args=args,\n"
            "                                     train_dataset=mixed_ds, proxy_epochs=2, at_beta=50)\n"
            "trainer.train()"
        ),
    ),
    Method(
        slug="srat",
        paper_id="P13",
        title="Imbalanced Adversarial Training with Reweighting",
        arxiv="2107.13639",
        official_code=None,
        kind="training",
        tags=("adversarial-training", "class-imbalance", "reweighting"),
        entry_points=(
            "hf_methods.training.srat:SeparableReweightedATLoss",
            "hf_methods.training.srat:SRATTrainer",
        ),
        recipe="recipes/srat.py",
        claim=(
            "SRAT's reweighting plus feature-separation loss improves minority-class robust accuracy over reweighted "
            "adversarial training on imbalanced data; on step-imbalanced digits with PGD the check asserts a falling "
            "separation loss and a higher Fisher ratio (hard) and +0.02 minority robust accuracy (soft)."
        ),
        usage=(
            "trainer = SRATTrainer(model=model, args=args, train_dataset=imbalanced_ds,\n"
            "                      attack=PGDConfig(eps=0.15, steps=5), class_weights='effective_num', drw_start=20)"
        ),
        notes="No official code found: the separation loss is a reconstruction from the paper text.",
    ),
    Method(
        slug="hidenseek",
        paper_id="P14",
        title="HideNseek: Federated Lottery Ticket via Server-side Pruning and Sign Supermask",
        arxiv="2206.04385",
        official_code=None,
        kind="training",
        tags=("federated-learning", "pruning", "supermask", "lottery-ticket"),
        entry_points=(
            "hf_methods.training.hidenseek:HideNseekFederatedTrainer",
            "hf_methods.training.hidenseek:SignSupermaskLinear",
            "hf_methods.training.hidenseek:synflow_prune",
        ),
        recipe="recipes/hidenseek.py",
        claim=(
            "Server-side SynFlow pruning plus client sign supermasks beats binary-supermask federated pruning in "
            "accuracy and communication (up to +40.6% accuracy, −39.7% communication); on non-IID digits with 10 "
            "clients the check asserts ≥0.05 over a binary supermask and ≥0.80 accuracy, one bit per kept weight, "
            "data-agnostic masks and no layer collapse."
        ),
        usage=(
            "mask = synflow_prune(model, density=0.2, iterations=100)\n"
            "fl = HideNseekFederatedTrainer(model, clients, density=0.2, rounds=30, local_epochs=2)\n"
            "global_model = fl.fit(); global_model.export_dense().save_pretrained('out')"
        ),
        notes="No official code found: the server aggregation of sign masks is a reconstruction from the paper text.",
    ),
    Method(
        slug="d2nwg",
        paper_id="P15",
        title="Diffusion-Based Neural Network Weights Generation",
        arxiv="2402.18153",
        official_code="sorobedio/DNNWG",
        kind="models",
        tags=("weight-generation", "diffusion", "hypernetwork", "transfer-learning"),
        entry_points=(
            "hf_methods.models.d2nwg:D2NWGPipeline",
            "hf_methods.models.d2nwg:WeightVAE",
            "hf_methods.models.d2nwg:LatentWeightDiffusion",
            "hf_methods.models.d2nwg:DatasetSetEncoder",
        ),
        recipe="recipes/d2nwg.py",
        claim=(
            "Latent diffusion over a zoo of weights, conditioned on a dataset embedding, generates weights that "
            "transfer to seen and unseen tasks without fine-tuning; on 36 digit-pair tasks the check asserts "
            "generated linear classifiers reach ≥0.85 held-out accuracy, the best of 5 reaches ≥0.9x direct training, "
            "and conditioning beats shuffled conditioning by ≥0.10."
        ),
        usage=(
            "pipe = D2NWGPipeline(vae_config, diffusion_config, encoder_config)\n"
            "pipe.train_vae(zoo); pipe.train_diffusion(zoo, dataset_embeddings)\n"
            "state_dicts = pipe.generate_weights(support_set, n=5)"
        ),
    ),
    Method(
        slug="tanglenas",
        paper_id="P16",
        title="Weight-Entanglement Meets Gradient-Based Neural Architecture Search",
        arxiv="2312.10440",
        official_code="automl/TangleNAS",
        kind="training",
        tags=("nas", "weight-entanglement", "supernet", "darts"),
        entry_points=(
            "hf_methods.training.tanglenas:TangleNASTrainer",
            "hf_methods.training.tanglenas:EntangledLinear",
            "hf_methods.training.tanglenas:EntangledConv2d",
        ),
        recipe="recipes/tanglenas.py",
        claim=(
            "Gradient-based NAS with weight superposition in weight-entangled spaces beats single-path supernet "
            "search at similar memory; the CPU check asserts the exact mixing and slicing identities and the "
            "largest-op parameter count, and that the DARTS-derived architecture on digits is at least the median of "
            "six random ones (soft)."
        ),
        venue="AutoML 2024",
        usage=(
            "trainer = TangleNASTrainer(model=supernet, args=args, train_dataset=train, eval_dataset=val,\n"
            "                           arch_lr=3e-4, optimizer='darts')\n"
            "trainer.train(); sub = supernet.extract_subnet()"
        ),
        notes=(
            "The paper's final version links automl/TangleNAS; the brief reviewed the public copy "
            "hoanglocla9/TangleNAS (possibly a fork)."
        ),
    ),
    Method(
        slug="diti",
        paper_id="P17",
        title="Exploring Diffusion Time-steps for Unsupervised Representation Learning",
        arxiv="2401.11430",
        official_code="yue-zhongqi/diti",
        kind="models",
        tags=("representation-learning", "diffusion", "disentanglement"),
        entry_points=(
            "hf_methods.models.diti:DiTiConfig",
            "hf_methods.models.diti:DiTiEncoder",
            "hf_methods.models.diti:DiTiTrainer",
        ),
        recipe="recipes/diti.py",
        claim=(
            "Timestep-chunked features learned against a frozen DDPM disentangle fine attributes (early t) from "
            "coarse ones (late t); on synthetic 8x8 images the check asserts the mask and gradient properties exactly "
            "and that fine-texture R² favours chunk 0 and coarse-position R² favours chunk 3 by ≥0.2 (soft)."
        ),
        venue="ICLR 2024",
        usage=(
            "enc = DiTiEncoder(DiTiConfig(latent_dim=16, num_chunks=4))\n"
            "trainer = DiTiTrainer(model=enc, frozen_diffusion=ddpm, k=4, mode='stop_grad', args=args,\n"
            "                      train_dataset=ds)\n"
            "trainer.train()\n"
            "z = enc(pixel_values).representation"
        ),
    ),
    Method(
        slug="done",
        paper_id="P18",
        title="Doubly Robust Instance-Reweighted Adversarial Training",
        arxiv=None,
        official_code=None,
        kind="training",
        tags=("adversarial-training", "dro", "reweighting"),
        entry_points=(
            "hf_methods.training.done:DONETrainer",
            "hf_methods.training.done:kl_dro_weights",
        ),
        recipe="recipes/done.py",
        claim=(
            "KL-DRO instance weights (DONE) improve worst-class robust accuracy over standard adversarial training "
            "without lowering average robustness; the CPU check asserts the weight limits (uniform as r→∞, argmax as "
            "r→0) and, on digits with PGD, worst-class robust accuracy ≥ AT + 0.02 (soft)."
        ),
        venue="ICLR 2024",
        usage=(
            "w = kl_dro_weights(per_sample_losses, r=2.0)\n"
            "attack = PGDConfig(eps=0.1, steps=5)\n"
            "trainer = DONETrainer(model=model, args=args, train_dataset=ds, attack=attack, r=2.0, beta=0.9)"
        ),
        notes=(
            "No official code ('codes will be available soon'): the weight schedule is a reconstruction from the "
            "paper text."
        ),
    ),
    Method(
        slug="crkd",
        paper_id="P19",
        title="Class-relation Knowledge Distillation for Novel Class Discovery",
        arxiv="2307.09158",
        official_code="kleinzcy/Cr-KD-NCD",
        kind="training",
        tags=("novel-class-discovery", "distillation", "clustering"),
        entry_points=(
            "hf_methods.training.crkd:class_relation_kd_loss",
            "hf_methods.training.crkd:CrKDNCDTrainer",
        ),
        recipe="recipes/crkd.py",
        claim=(
            "Class-relation distillation from a known-class teacher improves novel-class discovery over UNO-style "
            "baselines; on digits (known 0–4, novel 5–9) the check asserts mean-1 KD weights and a frozen teacher "
            "exactly and +0.02 novel-class Hungarian accuracy (soft)."
        ),
        venue="ICCV 2023",
        usage=(
            "loss_kd = class_relation_kd_loss(old_logits, new_logits, mask_unlab, T=4, temperature=0.1)\n"
            "CrKDNCDTrainer(model=model, teacher=pretrained, args=args, train_dataset=ds, alpha=0.1).train()"
        ),
    ),
    Method(
        slug="rss",
        paper_id="P20",
        title="Out-Of-Domain Unlabeled Data Improves Generalization",
        arxiv="2310.00027",
        official_code="deepmancer/rss-training-iclr2024",
        kind="training",
        tags=("semi-supervised", "distributional-robustness", "self-training"),
        entry_points=(
            "hf_methods.training.rss:RobustSelfSupervisedTrainer",
            "hf_methods.training.rss:linear_robust_ramp_loss",
        ),
        recipe="recipes/rss.py",
        claim=(
            "Robust self-training with out-of-domain unlabelled data provably improves on labelled-only ERM under a "
            "cluster assumption; on a d=200 Gaussian mixture with 10 labels the check asserts RSS ≥ ERM + 0.10 and "
            "non-decreasing accuracy as the unlabelled set grows from 100 to 2000."
        ),
        venue="ICLR 2024",
        usage=(
            "trainer = RobustSelfSupervisedTrainer(\n"
            "    model=model, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled,\n"
            "    gamma=1.0, gamma_unlabeled=0.5, lam=1.0,\n"
            ")"
        ),
    ),
    Method(
        slug="aggregate",
        paper_id="P21",
        title="Learning from Aggregate responses: Instance Level versus Bag Level Loss Functions",
        arxiv=None,
        official_code=None,
        kind="training",
        tags=("aggregate-learning", "label-privacy", "differential-privacy", "loss"),
        entry_points=(
            "hf_methods.training.aggregate:AggregateResponseLoss",
            "hf_methods.training.aggregate:BagCollator",
            "hf_methods.training.aggregate:privatize_bag_responses",
            "hf_methods.training.aggregate:linear_interpolating_estimator",
        ),
        recipe="recipes/aggregate.py",
        claim=(
            "The interpolating loss between bag-level and instance-level losses beats both for a suitable ρ, with the "
            "instance loss better at low SNR and the bag loss at high SNR; the linear-regression check asserts the "
            "loss identity to 1e-8, a ≥25% risk reduction at SNR 0.5 and bag ≤ instance/5 at SNR 8."
        ),
        venue="ICLR 2024",
        usage=(
            "loss_fn = AggregateResponseLoss(mode='interpolate', rho=0.1)\n"
            "loss = loss_fn(model(x).squeeze(-1), bag_ids, bag_targets)"
        ),
        notes="No official code: follows the paper's definitions, with a numpy simulation in the tests as reference.",
    ),
    Method(
        slug="projection_head",
        paper_id="P22",
        title="Investigating the Benefits of Projection Head for Representation Learning",
        arxiv="2403.11391",
        official_code=None,
        kind="analysis",
        tags=("representation-learning", "contrastive", "projection-head"),
        entry_points=(
            "hf_methods.analysis.projection_head:layerwise_feature_gains",
            "hf_methods.analysis.projection_head:FixedReweightProjectionHead",
        ),
        recipe="recipes/projection_head.py",
        claim=(
            "Pre-projection features weight input features more evenly than post-projection ones, so they transfer "
            "better; the check asserts a 2-layer linear contrastive net roughly squares the feature-gain ratio at its "
            "output and a probe on pre-projection features beats post-projection by 0.05, and reports the κ-head "
            "effect (soft)."
        ),
        venue="ICLR 2024",
        usage=(
            "gains = layerwise_feature_gains(encoder, feature_dirs=E)  # dataclass: g1, g2 per feature\n"
            "head = FixedReweightProjectionHead(dim=64, kappa=2.0)"
        ),
        notes="The official repository was not identified with certainty; the κ-head follows a public SpuCo file.",
    ),
    Method(
        slug="pbn",
        paper_id="P23",
        title="A Practical Approach to Novel Class Discovery in Tabular Data",
        arxiv="2311.05440",
        official_code="ColinTr/PracticalNCD",
        kind="models",
        tags=("novel-class-discovery", "tabular", "clustering"),
        entry_points=(
            "hf_methods.models.pbn:PBNConfig",
            "hf_methods.models.pbn:PBNForNovelClassDiscovery",
            "hf_methods.models.pbn:PBNTrainer",
            "hf_methods.models.pbn:estimate_num_novel_classes",
        ),
        recipe="recipes/pbn.py",
        claim=(
            "A simple projection-based NCD model tuned by hidden-class k-fold search competes with complex NCD "
            "methods and its latent space estimates the number of novel classes; on digits the check asserts PBN + "
            "k-means beats raw-feature k-means by 0.05 and a silhouette-estimated k in {4, 5, 6}."
        ),
        venue="Data Mining and Knowledge Discovery",
        usage=(
            "model = PBNForNovelClassDiscovery(PBNConfig(input_dim=64, latent_dim=16, num_known=5, w=0.5))\n"
            "PBNTrainer(model=model, args=args, train_dataset=mixed).train()\n"
            "k = estimate_num_novel_classes(model.encode(x_unlab), k_range=range(2, 11))"
        ),
    ),
    Method(
        slug="self_distillation",
        paper_id="P24",
        title=(
            "Even your Teacher Needs Guidance: Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation"
        ),
        arxiv="2102.13088",
        official_code="Kennethborup/self_distillation",
        kind="training",
        tags=("self-distillation", "kernel-regression", "regularization"),
        entry_points=(
            "hf_methods.training.self_distillation:SelfDistillationTrainer",
            "hf_methods.training.self_distillation:krr_self_distillation",
            "hf_methods.training.self_distillation:krr_distillation_limit",
            "hf_methods.training.self_distillation:optimal_alpha",
        ),
        recipe="recipes/self_distillation.py",
        claim=(
            "Self-distillation with ground-truth weight α converges to kernel ridge regression with λ/α instead of "
            "collapsing, and α has a closed-form optimum; the kernel check asserts the limit to 1e-6, collapse at α=0 "
            "and that the clipped α* is never beaten by a grid of α values."
        ),
        venue="NeurIPS 2021",
        usage=(
            "f_T = krr_self_distillation(K, y, alpha=0.3, steps=200, lam=0.1)\n"
            "f_inf = krr_distillation_limit(K, y, alpha=0.3, lam=0.1)"
        ),
    ),
    Method(
        slug="inductive_bias",
        paper_id="P25",
        title="Towards Exact Computation of Inductive Bias",
        arxiv="2406.15941",
        official_code="FieteLab/Exact-Inductive-Bias",
        kind="analysis",
        tags=("inductive-bias", "generalization", "information-theory"),
        entry_points=(
            "hf_methods.analysis.inductive_bias:inductive_bias_kernel",
            "hf_methods.analysis.inductive_bias:inductive_bias_models",
        ),
        recipe="recipes/inductive_bias.py",
        claim=(
            "Inductive bias can be estimated directly as −log P(error ≤ ε) from a non-central χ² fitted to sampled "
            "hypotheses, higher-dimensional tasks need more of it and CNNs encode more than MLPs; the check recovers "
            "known χ² parameters within 5% and asserts these orderings on digits and iris."
        ),
        venue="IJCAI 2024",
        usage=(
            "ib = inductive_bias_kernel(X_tr, Y_tr, X_te, Y_te, target_error=0.01, n_samples=10_000, sigma=1.0)\n"
            "print(ib.bits)"
        ),
        notes="The official code has bugs (a syntax error, a stray breakpoint) and is re-implemented, not vendored.",
    ),
    Method(
        slug="lazy_rich",
        paper_id="P26",
        title="Grokking as the Transition from Lazy to Rich Training Dynamics",
        arxiv="2310.06110",
        official_code=None,
        kind="analysis",
        tags=("grokking", "ntk", "feature-learning"),
        entry_points=(
            "hf_methods.analysis.lazy_rich:LazyRichTrackerCallback",
            "hf_methods.analysis.lazy_rich:empirical_ntk",
            "hf_methods.analysis.lazy_rich:kernel_alignment",
            "hf_methods.analysis.lazy_rich:linearized_model",
        ),
        recipe="recipes/lazy_rich.py",
        claim=(
            "Grokking arises when training moves from lazy (kernel) to rich (feature-learning) dynamics, with the "
            "delay set by the output scale α; on a shrunk polynomial task the check asserts a grokking gap and a late "
            "test-loss drop at α=1 and no grokking (kernel-level test loss) at α=20."
        ),
        venue="ICLR 2024",
        usage="cb = LazyRichTrackerCallback(probe_inputs=X_te, probe_targets=y_te, every=100)",
        notes="No public repository (supplementary material only): the JAX/neural-tangents code is ported to torch.",
    ),
    Method(
        slug="salun",
        paper_id="P27",
        title=(
            "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image Classification and "
            "Generation"
        ),
        arxiv="2310.12508",
        official_code="OPTML-Group/Unlearn-Saliency",
        kind="training",
        tags=("machine-unlearning", "saliency", "masks"),
        entry_points=(
            "hf_methods.training.salun:SalUnTrainer",
            "hf_methods.training.salun:compute_weight_saliency_mask",
        ),
        recipe="recipes/salun.py",
        claim=(
            "Saliency-masked random-label unlearning (SalUn) comes close to retraining (about a 0.2% gap on CIFAR-10) "
            "and is more stable than prior unlearning methods; on digits class forgetting the check asserts ≥95% "
            "unlearning accuracy at ≤3 points retain/test loss, and less retain damage than gradient ascent."
        ),
        venue="ICLR 2024",
        usage=(
            "mask = compute_weight_saliency_mask(model, forget_dl, keep_ratio=0.5)\n"
            "SalUnTrainer(model, args, forget_dataset=f, retain_dataset=r, mask=mask, num_classes=10).train()"
        ),
        notes="Only the classification variant is checked on CPU; the diffusion variant is out of scope of the check.",
    ),
    Method(
        slug="rws",
        paper_id="P28",
        title="Robust Weight Signatures: Gaining Robustness as Easy as Patching Weights?",
        arxiv="2302.12480",
        official_code="VITA-Group/Robust_Weight_Signatures",
        kind="adapters",
        tags=("robustness", "task-vectors", "weight-patching"),
        entry_points=("hf_methods.adapters.rws:RobustWeightSignature",),
        recipe="recipes/rws.py",
        claim=(
            "Corruption robustness lives in shallow-layer weight differences that can be extracted, scaled, patched "
            "into a clean model and transferred; on a tiny digits CNN the check asserts patching the conv layers adds "
            "≥10 points noisy accuracy at ≤3 clean points, monotone scaling, exact removal and ≥5 points on transfer."
        ),
        venue="ICML 2023",
        usage=(
            "rws = RobustWeightSignature.extract(clean_model, noisy_model, pretrained, n_shallow_layers=2)\n"
            "rws.apply(model, scale=1.0); rws.remove(model); rws.save_pretrained('rws-gaussian-noise')"
        ),
    ),
    Method(
        slug="deep_ntk",
        paper_id="P29",
        title="Wide and Deep Neural Networks Achieve Optimality for Classification",
        arxiv="2204.14126",
        official_code=None,
        kind="analysis",
        tags=("ntk", "kernel-methods", "theory"),
        entry_points=(
            "hf_methods.analysis.deep_ntk:DeepNTKClassifier",
            "hf_methods.analysis.deep_ntk:ntk_kernel",
        ),
        recipe="recipes/deep_ntk.py",
        claim=(
            "Infinitely wide and deep NTK classifiers implement 1-NN, majority vote or singular-kernel (optimal) "
            "classifiers depending on the activation; on PCA digits the check asserts ≥97% agreement with 1-NN and "
            "with majority vote in their regimes and ≥95% with the best singular-kernel classifier for ReLU."
        ),
        venue="PNAS 2023",
        usage="clf = DeepNTKClassifier(depth=200, hermite_coeffs=[0, 0.5**0.5, 0.5**0.5]).fit(X, y); clf.predict(Xt)",
        notes="Theoretical paper without official code: follows the standard NTK recursion, normalised per layer.",
    ),
    Method(
        slug="filter_db",
        paper_id="P30",
        title="CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters",
        arxiv="2203.15331",
        official_code="paulgavrikov/CNN-Filter-DB",
        kind="analysis",
        tags=("cnn", "filters", "distribution-shift", "model-quality"),
        entry_points=(
            "hf_methods.analysis.filter_db:measure_conv_quality",
            "hf_methods.analysis.filter_db:filter_distribution_shift",
        ),
        recipe="recipes/filter_db.py",
        claim=(
            "Trained 3×3 filter distributions shift little across datasets but vary with depth, and many pretrained "
            "models contain degenerate layers; the check asserts the quality metrics on constructed layers (random, "
            "copied and 40% zero filters) and that seed-to-seed filter shift is smaller than first-to-last-layer "
            "shift."
        ),
        venue="CVPR 2022",
        usage=(
            "q = measure_conv_quality(model)  # {layer: sparsity, variance_entropy, orthogonality}\n"
            "d = filter_distribution_shift(filters_a, filters_b)  # PCA-KL"
        ),
    ),
    Method(
        slug="transcoder",
        paper_id="P31",
        title="Transcoders Find Interpretable LLM Feature Circuits",
        arxiv="2406.11944",
        official_code="jacobdunefsky/transcoder_circuits",
        kind="models",
        tags=("interpretability", "sparse-autoencoder", "circuits", "llm"),
        entry_points=(
            "hf_methods.models.transcoder:TranscoderConfig",
            "hf_methods.models.transcoder:TranscoderModel",
            "hf_methods.models.transcoder:attach_transcoder",
            "hf_methods.models.transcoder:splice",
        ),
        recipe="recipes/transcoder.py",
        claim=(
            "Transcoders replace an MLP with a sparse wide MLP at least as faithfully as SAEs and enable "
            "weights-based circuit attribution; on a tiny GPT-2 the check asserts FVU < 0.2 at L0 < 40, a splice CE "
            "increase below 30% of zero-ablation's, and the attribution identity to 1e-5."
        ),
        venue="NeurIPS 2024",
        usage=(
            "tc = TranscoderModel(TranscoderConfig(d_in=768, d_out=768, expansion=32, l1_coeff=1.4e-4))\n"
            "with splice(gpt2, layer=8, transcoder=tc):\n"
            "    loss = gpt2(**batch, labels=ids).loss"
        ),
    ),
    Method(
        slug="monotone_dbm",
        paper_id="P32",
        title="Monotone deep Boltzmann machines",
        arxiv="2307.04990",
        official_code="locuslab/MonotoneDBM",
        kind="models",
        tags=("boltzmann-machine", "mean-field", "deep-equilibrium"),
        entry_points=(
            "hf_methods.models.monotone_dbm:MonotoneDBMConfig",
            "hf_methods.models.monotone_dbm:MonotoneDBMModel",
            "hf_methods.models.monotone_dbm:ProxSoftmax",
        ),
        recipe="recipes/monotone_dbm.py",
        claim=(
            "Monotone DBMs allow intra-layer connections with a guaranteed unique mean-field fixed point, enabling "
            "joint completion and classification; on binarised digits the check asserts prox-softmax correctness, "
            "fixed-point uniqueness where naive mean-field fails, ≥75% label accuracy and completion ≥5 points above "
            "a per-pixel marginal baseline."
        ),
        usage=(
            "m = MonotoneDBMModel(MonotoneDBMConfig(num_bins=2, sizes=[(2, 8, 8, 1), (16, 4, 4, 4), (10, 1)]))\n"
            "logits = m(x_onehot, mask=obs_mask).label_marginals"
        ),
        notes="A dense coupling matrix stands in for the multi-tier convolutions at 8x8.",
    ),
    Method(
        slug="data_diet",
        paper_id="P33",
        title="Deep Learning on a Data Diet: Finding Important Examples Early in Training",
        arxiv="2107.07075",
        official_code="mansheej/data_diet",
        kind="training",
        tags=("data-pruning", "data-selection", "label-noise"),
        entry_points=(
            "hf_methods.training.data_diet:EL2NScorer",
            "hf_methods.training.data_diet:GraNdScorer",
            "hf_methods.training.data_diet:prune_dataset",
            "hf_methods.training.data_diet:ScoreRecorderCallback",
        ),
        recipe="recipes/data_diet.py",
        claim=(
            "EL2N scores computed a few epochs into training find important and mislabelled examples, so half of "
            "CIFAR-10 can be pruned without losing accuracy; on digits with 10% flipped labels the check asserts the "
            "top-10% EL2N set holds ≥50% of the flips and that keep-60% pruning matches random pruning and beats "
            "keep-easiest by 2 points."
        ),
        venue="NeurIPS 2021",
        usage=(
            "scores = EL2NScorer(model_init=make_model, n_runs=5, score_epoch=3).score(train_ds)\n"
            "subset = prune_dataset(train_ds, scores, keep_frac=0.5, mode='keep_max', offset=0)"
        ),
    ),
    Method(
        slug="adawac",
        paper_id="P34",
        title=(
            "Adaptively Weighted Data Augmentation Consistency Regularization for Robust Optimization under Concept "
            "Shift"
        ),
        arxiv="2210.01891",
        official_code="gail-yxie/adawac",
        kind="training",
        tags=("consistency-regularization", "sample-reweighting", "segmentation", "concept-shift"),
        entry_points=(
            "hf_methods.training.adawac:AdaWACLoss",
            "hf_methods.training.adawac:AdaWACTrainer",
        ),
        recipe="recipes/adawac.py",
        claim=(
            "Per-sample mirror-ascent weights between supervised and consistency losses (AdaWAC) make segmentation "
            "robust to label-sparse samples; on synthetic 16x16 segmentation the check asserts lower supervised "
            "weights on label-sparse samples, weights on the simplex, and Dice ≥ ERM + 0.03."
        ),
        venue="ICML 2023",
        usage=(
            "loss_fn = AdaWACLoss(num_samples=len(ds), lr_w=8.0, dac_coef=2.0, dice_ratio=0.5)\n"
            "loss = loss_fn(logits1, logits2, lat1, lat2, y1, y2, idx)"
        ),
    ),
    Method(
        slug="ldr",
        paper_id="P35",
        title=(
            "Label Distributionally Robust Losses for Multi-class Classification: Consistency, Robustness and "
            "Adaptivity"
        ),
        arxiv="2112.14869",
        official_code="Optimization-AI/ICML2023_LDR",
        kind="training",
        tags=("loss", "label-noise", "dro"),
        entry_points=(
            "hf_methods.training.ldr:LDRKLLoss",
            "hf_methods.training.ldr:ALDRKLLoss",
        ),
        recipe="recipes/ldr.py",
        claim=(
            "LDR-KL and the adaptive ALDR-KL losses are top-k consistent and robust to label noise; the CPU check "
            "asserts the cross-entropy and max-margin limits and ALDR's λ bounds exactly, and that on digits with 60% "
            "uniform label noise both beat cross-entropy by ≥5 points of clean test accuracy."
        ),
        venue="ICML 2023",
        usage=(
            "from hf_methods import ALDRKLLoss, LDRKLLoss, LDRTrainer\n"
            "loss = LDRKLLoss(lambda_=10.0, margin=0.1)(logits, labels)\n"
            "aldr = ALDRKLLoss(num_samples=len(train_set), lambda0=10.0, alpha=2.0)\n"
            "loss = aldr(logits, labels, sample_idx)  # per-sample λ_i buffer, indexed by the dataset index\n"
            "# with transformers.Trainer: a 'sample_idx' column and remove_unused_columns=False\n"
            "trainer = LDRTrainer(model=model, args=training_args, train_dataset=train_set, loss=aldr)"
        ),
        notes=(
            "LDR-KL normalises scores as softplus(f)/mean(softplus(f)) and ALDR-KL as f/(‖f‖₁/K), as the official code "
            "does (normalize=False gives raw logits, where LDR-KL with c=0, λ=1 equals CE − log K). The claim run keeps "
            "the official defaults (λ=10, c=0.1, α=2, lr 1e-3, steps at epochs 50/75) on a 64-256-256-10 tanh MLP; the "
            "official code cross-validates λ over {0.1, 1, 10}, and its uniform noise may keep the true label while "
            "ours always changes it."
        ),
    ),
    Method(
        slug="unsup_pretraining",
        paper_id="P36",
        title="On the Provable Advantage of Unsupervised Pretraining",
        arxiv="2303.01566",
        official_code=None,
        kind="analysis",
        tags=("theory", "pretraining", "sample-complexity"),
        entry_points=("hf_methods.analysis.unsup_pretraining:MLEPretrainThenERM",),
        recipe="recipes/unsup_pretraining.py",
        claim=(
            "MLE pretraining on unlabelled data followed by ERM provably beats supervised-only learning when m ≫ n "
            "and the composed class is more complex; on a factor model (d=200, r=5) the check asserts ≤0.3x the "
            "excess risk of ridge at n=20 and 40, roughly 1/n scaling, and that the advantage mostly disappears when "
            "m=n."
        ),
        venue="ICLR 2024",
        usage=(
            "est = MLEPretrainThenERM(latent='factor', r=5).fit_unlabeled(X_u).fit_labeled(X_l, y_l)\n"
            "y_hat = est.predict(X_te)"
        ),
        notes="Theory paper without code; sklearn's FactorAnalysis and GaussianMixture serve as test references.",
    ),
    Method(
        slug="weight_matching",
        paper_id="P37",
        title="Analysis of Linear Mode Connectivity via Permutation-Based Weight Matching",
        arxiv="2402.04051",
        official_code=None,
        kind="adapters",
        tags=("model-merging", "mode-connectivity", "permutation"),
        entry_points=(
            "hf_methods.adapters.weight_matching:weight_matching",
            "hf_methods.adapters.weight_matching:apply_permutation",
            "hf_methods.adapters.weight_matching:interpolation_barrier",
            "hf_methods.adapters.weight_matching:singular_vector_alignment",
        ),
        recipe="recipes/weight_matching.py",
        claim=(
            "Weight matching reaches linear mode connectivity by aligning the dominant singular directions rather "
            "than by reducing L2 distance; on two digits MLPs the check asserts the barrier at least halves, singular "
            "values are unchanged by the permutation, top singular vectors align far better than bottom ones, and a "
            "3-model merge beats naive averaging."
        ),
        venue="ICLR 2025",
        usage=(
            "perm = weight_matching(mlp_a, mlp_b); mlp_b_p = apply_permutation(mlp_b, perm)\n"
            "barrier = interpolation_barrier(mlp_a, mlp_b_p, test_dl)"
        ),
        notes="No official code: weight matching follows Git Re-Basin; the R ≥ 0.8 threshold is yet to be calibrated.",
    ),
    Method(
        slug="rd_pruning",
        paper_id="P38",
        title="Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep Neural Networks",
        arxiv="2308.10438",
        official_code="Akimoto-Cris/RD_VIT_PRUNE",
        kind="adapters",
        tags=("pruning", "rate-distortion", "sparsity"),
        entry_points=(
            "hf_methods.adapters.rd_pruning:RDLayerAdaptivePruner",
            "hf_methods.adapters.rd_pruning:PruneAndFinetuneCallback",
        ),
        recipe="recipes/rd_pruning.py",
        claim=(
            "Layer-wise rate-distortion curves with a DP allocation prune better than other layer-adaptive methods "
            "(+1.0% ResNet-32 on CIFAR-10, +4.6% ResNet-50 on ImageNet); on a digits MLP the check asserts distortion "
            "additivity, that the DP equals brute force, and at 90% sparsity without fine-tuning ≥ uniform + 5 points."
        ),
        venue="ICCV 2023",
        usage=(
            "pruner = RDLayerAdaptivePruner(model, calib_dl, levels=50, worst_case=True)\n"
            "amounts = pruner.allocate(target_sparsity=0.9); pruner.apply(amounts)"
        ),
    ),
    Method(
        slug="ofq",
        paper_id="P39",
        title="Oscillation-free Quantization for Low-bit Vision Transformers",
        arxiv="2302.02210",
        official_code="nbasyl/OFQ",
        kind="adapters",
        tags=("quantization", "qat", "vision-transformer"),
        entry_points=(
            "hf_methods.adapters.ofq:quantize_vit",
            "hf_methods.adapters.ofq:StatsQuantizer",
            "hf_methods.adapters.ofq:OscillationTracker",
            "hf_methods.adapters.ofq:CGACallback",
        ),
        recipe="recipes/ofq.py",
        claim=(
            "StatsQ, confidence-guided annealing and query-key reparameterisation remove weight oscillation in "
            "low-bit ViT QAT (W2A2 DeiT-T 64.33%, +9.8 points over the prior state of the art); on a tiny HF ViT on "
            "digits the check asserts StatsQ oscillates ≤0.7x as often as LSQ within 1 point of its accuracy and that "
            "CGA cuts late flips by ≥80%."
        ),
        venue="ICML 2023",
        usage=(
            "qmodel = quantize_vit(vit, w_bits=2, a_bits=2, weight_quantizer='statsq', qk_reparam=True)\n"
            "trainer = Trainer(qmodel, ..., callbacks=[OscillationTracker(), CGACallback(boundary_range=0.005)])"
        ),
    ),
    Method(
        slug="presto",
        paper_id="P40",
        title="Predicting Rare Events by Shrinking Towards Proportional Odds",
        arxiv="2305.18700",
        official_code="gregfaletto/presto",
        kind="models",
        tags=("ordinal-regression", "rare-events", "sparsity"),
        entry_points=(
            "hf_methods.models.presto:PrestoConfig",
            "hf_methods.models.presto:PrestoForOrdinalClassification",
            "hf_methods.models.presto:PrestoFISTA",
            "hf_methods.models.presto:ProximalL1Callback",
        ),
        recipe="recipes/presto.py",
        claim=(
            "Shrinking cumulative-logit slopes towards proportional odds with an L1 penalty on adjacent differences "
            "estimates rare-class probabilities better than logistic regression and proportional odds; on the paper's "
            "sparse-difference simulation the check asserts PRESTO's rare-class MSE ≤0.9x the better baseline and a "
            "win in ≥60% of repetitions."
        ),
        venue="ICML 2023",
        usage=(
            "m = PrestoForOrdinalClassification(PrestoConfig(n_features=10, num_classes=4, l1_lambda=0.01))\n"
            "PrestoFISTA(m, lam=0.01).fit(X, y); probs = m(X).probs"
        ),
        notes="The official code is R (ordinalNet); this is a pure torch/numpy FISTA port.",
    ),
    Method(
        slug="fedau",
        paper_id="P41",
        title="A Lightweight Method for Tackling Unknown Participation Statistics in Federated Averaging",
        arxiv="2306.03401",
        official_code="IBM/fedau",
        kind="training",
        tags=("federated-learning", "aggregation", "client-participation"),
        entry_points=("hf_methods.training.fedau:FedAUAggregator",),
        recipe="recipes/fedau.py",
        claim=(
            "Online inverse-participation aggregation weights let FedAvg converge to the true objective under "
            "unknown, heterogeneous participation; on a 40-client least-squares problem the check asserts FedAU ends "
            "≤0.3x as far from the optimum as FedAvg and within 1.5x of the known-probability oracle."
        ),
        usage=(
            "agg = FedAUAggregator(num_clients=50, cutoff_K=None)\n"
            "w = simulate_federated(model_init, clients, participation=bernoulli(p), aggregator=agg, rounds=2000)"
        ),
    ),
    Method(
        slug="binary_continual",
        paper_id="P42",
        title="Statistical mechanics of continual learning: variational principle and mean-field potential",
        arxiv="2212.02846",
        official_code="Chan-Li/VCL",
        kind="training",
        tags=("continual-learning", "binary-networks", "variational-inference", "mean-field"),
        entry_points=(
            "hf_methods.training.binary_continual:VariationalBinaryMLPConfig",
            "hf_methods.training.binary_continual:VariationalBinaryMLP",
            "hf_methods.training.binary_continual:BinaryMeanFieldLinear",
            "hf_methods.training.binary_continual:ContinualVCLTrainer",
        ),
        recipe="recipes/binary_continual.py",
        claim=(
            "Variational continual learning for binary-weight networks, derived from mean-field theory, beats "
            "metaplasticity on permuted tasks; on five permuted-digits tasks the check asserts the KL term adds ≥10 "
            "points of average accuracy, mean-field and sampled evaluations agree within 5 points, and the KL "
            "gradient matches autograd."
        ),
        venue="Commun. Theor. Phys. 2023",
        usage=(
            "m = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[64, 256, 10], beta_schedule='tanh'))\n"
            "ContinualVCLTrainer(m, tasks=[ds1, ds2, ds3], prior='previous_task').train()"
        ),
    ),
    Method(
        slug="ecaml",
        paper_id="P43",
        title="Energy Confused Adversarial Metric Learning for Zero-Shot Image Retrieval and Clustering",
        arxiv="1901.07169",
        official_code="chenbinghui1/ECAML",
        kind="training",
        tags=("metric-learning", "zero-shot", "regularization"),
        entry_points=(
            "hf_methods.training.ecaml:EnergyConfusionLoss",
            "hf_methods.training.ecaml:MetricLearningTrainer",
        ),
        recipe="recipes/ecaml.py",
        claim=(
            "An energy-confusion regulariser on detached features improves zero-shot retrieval and clustering; on a "
            "seen/unseen digits split the check asserts the EC term only changes the head and that it raises unseen "
            "Recall@1 by 2 points or cuts reliance on a spurious channel by 30% (a small-scale gain is not "
            "guaranteed)."
        ),
        venue="AAAI 2019",
        usage=(
            "emb, emb_ec = head(h), head(h.detach())\n"
            "loss = binomial_loss(emb, y) + 0.13 * EnergyConfusionLoss(num_partners=10)(emb_ec, y)"
        ),
        notes="The official code is Caffe/C++; the loss is ported to torch.",
    ),
    Method(
        slug="wad",
        paper_id="P44",
        title="Semi-Supervised Learning via Weight-aware Distillation under Class Distribution Mismatch",
        arxiv="2308.11874",
        official_code="RUC-DWBI-ML/research",
        kind="training",
        tags=("semi-supervised", "distillation", "open-set"),
        entry_points=(
            "hf_methods.training.wad:WADTrainer",
            "hf_methods.training.wad:prototype_pseudo_labels",
        ),
        recipe="recipes/wad.py",
        claim=(
            "Weight-aware distillation from a contrastive teacher beats SSL baselines when the unlabelled data "
            "contain unknown classes; on digits with 60% unknown-class unlabelled data the check asserts the WAD "
            "weights separate known from unknown samples (AUROC ≥0.75) and WAD beats naive pseudo-labelling and "
            "labelled-only training by 3 points."
        ),
        usage=(
            "yhat, w = prototype_pseudo_labels(teacher(X_u), teacher(X_l), y_l)\n"
            "WADTrainer(student, labeled_ds, unlabeled_ds, teacher=teacher, rounds=5, alpha=0.1).train()"
        ),
        notes="The official code lives in the WAD-master/ folder of RUC-DWBI-ML/research.",
    ),
    Method(
        slug="stable",
        paper_id="P45",
        title="Reliable Representations Make A Stronger Defender: Unsupervised Structure Refinement for Robust GNN",
        arxiv="2207.00012",
        official_code="likuanppd/STABLE",
        kind="models",
        tags=("gnn", "adversarial-robustness", "graph-structure-learning"),
        entry_points=(
            "hf_methods.models.stable:STABLEConfig",
            "hf_methods.models.stable:STABLEForNodeClassification",
            "hf_methods.models.stable:stable_refine_graph",
        ),
        recipe="recipes/stable.py",
        claim=(
            "Refining the graph from contrastive embeddings plus an advanced GCN defends GNNs against structure "
            "attacks better than prior defenders; on a digits 10-NN graph under DICE the check asserts the attack "
            "costs a GCN ≥5 points and STABLE recovers ≥60% of that drop, with fewer inter-class edges after "
            "refinement."
        ),
        venue="KDD 2022",
        usage=(
            "adj_ref, emb = stable_refine_graph(X, A_perturbed, jaccard_t=0.03, cos_t=0.1, k=5, beta=2.0)\n"
            "model = STABLEForNodeClassification(STABLEConfig(in_dim=emb.shape[1], n_classes=7, alpha=0.3))"
        ),
        notes="Metattack (deeprobust) and Cora are unavailable offline: the check uses DICE on a digits graph.",
    ),
    Method(
        slug="bone",
        paper_id="P46",
        title=(
            "Bone: Block Affine Transformation as Parameter Efficient Fine-tuning Methods for Large Language Models"
        ),
        arxiv="2409.15371",
        official_code="JL-er/Bone",
        kind="adapters",
        tags=("peft", "llm", "fine-tuning"),
        entry_points=(
            "hf_methods.adapters.bone:BoneConfig",
            "hf_methods.adapters.bone:get_bone_model",
            "hf_methods.adapters.bone:add_bone_adapter",
            "hf_methods.adapters.bone:check_bone_targets",
            "hf_methods.adapters.bone:count_bone_parameters",
            "hf_methods.adapters.bone:matched_lora_rank",
            "hf_methods.adapters.bone:bone_delta_weight",
            "hf_methods.adapters.bone:bone_variant",
        ),
        recipe="recipes/bone.py",
        claim=(
            "Bone (the v1 paper's Block Affine, PEFT MiSS 'bat') converges faster and fits better than LoRA and PiSSA "
            "at a matched parameter count (LLaMA2-7B GSM8K 49.36 vs 43.52 PiSSA); the CPU check fine-tunes "
            "SmolLM2-135M on arithmetic word problems with Bone r=64 vs LoRA/PiSSA r=33 (3 seeds) and compares "
            "training-loss convergence, held-out answer loss and exact match."
        ),
        usage=(
            "from peft import get_peft_model\n"
            "from hf_methods.adapters.bone import BoneConfig, get_bone_model\n"
            "config = BoneConfig(r=64, target_modules='all-linear')   # variant='bat': the P46 (v1) Bone\n"
            "model = get_peft_model(base, config)                      # config is a plain peft.MissConfig\n"
            "model = get_bone_model(base, config)                      # same, with early checks of the layers\n"
            "BoneConfig(r=64, variant='bone')                          # the v4+/DiSHA/MiSS 'Bone'\n"
            "BoneConfig(r=64, variant='mini', mini_r=64)               # MiSS-mini"
        ),
        notes=(
            "Wraps PEFT's MiSS, no re-implementation. Variant map: 'bat' = paper v1-v3 Bone (Bone-col, "
            "W'_ab = W_ab + W_ab B_a + B_a, d·r params) = MissConfig(init_weights='bat'); 'bone' (alias 'miss') = "
            "paper v4+ Bone / DiSHA / MiSS = MissConfig(init_weights=True); 'mini' = MiSS-mini. Bat-row, Bone-free "
            "and Bone-AB (v1 code) are not in PEFT and not offered. BoneConfig returns a plain peft.MissConfig, so "
            "saved adapters reload with PeftModel.from_pretrained without hf-methods; get_bone_model / "
            "add_bone_adapter add early errors (bat divisibility, Conv1D/Embedding/Conv targets, bat on forward-only "
            "quantized layers, mixing variants on one layer, a peft 0.21.2 crash). PEFT's bat path rebuilds W' in "
            "fp32 on every forward (about 2x the targeted weight bytes saved for backward, slower than LoRA) and "
            "ignores dropout. Old PEFT BoneConfig checkpoints (peft < 0.19) need PEFT's convert-bone-to-miss script."
        ),
    ),
    Method(
        slug="enas_memory",
        paper_id="P47",
        title="Understanding Neural Architecture Search Techniques",
        arxiv="1904.00438",
        official_code=None,
        kind="training",
        tags=("nas", "enas", "reinforcement-learning"),
        entry_points=(
            "hf_methods.training.enas_memory:ENASConfig",
            "hf_methods.training.enas_memory:ENASController",
            "hf_methods.training.enas_memory:ENASSearch",
            "hf_methods.training.enas_memory:hidden_state_graph_correlation",
        ),
        recipe="recipes/enas_memory.py",
        claim=(
            "ENAS performs about as well as random search with weight sharing, and its controller's hidden states "
            "only encode graph similarity when trained with a memory buffer; the digits check asserts ENAS and random "
            "search differ by <2 points and that the buffer raises the hidden-state/graph Spearman ρ by ≥0.1 (margins "
            "unverified)."
        ),
        usage=(
            "search = ENASSearch(ENASController(ENASConfig(num_nodes=4)), supernet, memory_buffer_size=256)\n"
            "rho = hidden_state_graph_correlation(search.controller, n=200)"
        ),
        notes="No official code: the memory buffer is a reconstruction from the paper text; the result is noisy.",
    ),
    Method(
        slug="grok_corrupted",
        paper_id="P48",
        title=(
            "To grok or not to grok: Disentangling generalization and memorization on corrupted algorithmic datasets"
        ),
        arxiv="2310.13061",
        official_code="d-doshi/Grokking",
        kind="analysis",
        tags=("grokking", "memorization", "label-noise", "interpretability"),
        entry_points=(
            "hf_methods.analysis.grok_corrupted:fourier_ipr",
            "hf_methods.analysis.grok_corrupted:prune_low_ipr_neurons",
            "hf_methods.analysis.grok_corrupted:IPRCallback",
            "hf_methods.analysis.grok_corrupted:GrokMLPModel",
        ),
        recipe="recipes/grok_corrupted.py",
        claim=(
            "Networks can memorise corrupted modular-arithmetic labels while still generalising, the memorising "
            "neurons have low Fourier IPR and pruning them removes the memorisation, and weight decay unlearns it; "
            "the check asserts pruning drops corrupted-train accuracy by >0.5 without hurting test, and with weight "
            "decay test >0.99 with corrupted-train <0.6."
        ),
        usage=(
            "ds = modular_arithmetic(p=97, frac=0.5, noise=0.35)\n"
            "ipr = fourier_ipr(model); pruned = prune_low_ipr_neurons(model, n=300)"
        ),
    ),
    Method(
        slug="lottery_jackpot",
        paper_id="P49",
        title="Lottery Jackpots Exist in Pre-trained Models",
        arxiv="2104.08700",
        official_code="zyxxmu/lottery-jackpots",
        kind="adapters",
        tags=("pruning", "lottery-ticket", "masks", "sparsity"),
        entry_points=(
            "hf_methods.adapters.lottery_jackpot:JackpotMaskConfig",
            "hf_methods.adapters.lottery_jackpot:apply_jackpot_masks",
            "hf_methods.adapters.lottery_jackpot:JackpotSearchTrainer",
        ),
        recipe="recipes/lottery_jackpot.py",
        claim=(
            "Pretrained models contain sparse masks ('jackpots') that keep accuracy without any weight training, "
            "found cheaply from a magnitude initialisation; on a 95%-pruned digits MLP the check asserts the score "
            "search regains ≥0.3 over magnitude pruning to within 0.03 of dense, at exact sparsity with bit-identical "
            "weights."
        ),
        venue="TPAMI 2023",
        usage=(
            "model = apply_jackpot_masks(pretrained, JackpotMaskConfig(sparsity=0.9))\n"
            "JackpotSearchTrainer(model=model, args=args, train_dataset=ds).train()"
        ),
    ),
    Method(
        slug="hpm",
        paper_id="P50",
        title="Bootstrap Masked Visual Modeling via Hard Patches Mining",
        arxiv=None,
        official_code="Haochen-Wang409/HPM",
        kind="training",
        tags=("masked-image-modeling", "self-supervised", "vision-transformer"),
        entry_points=(
            "hf_methods.training.hpm:HPMConfig",
            "hf_methods.training.hpm:HPMForPreTraining",
        ),
        recipe="recipes/hpm.py",
        claim=(
            "Masking the patches that a loss predictor marks as hard bootstraps better masked-image representations "
            "than random masking (ViT-B 84.2% vs MAE 83.6%); on 8x8 digits the check asserts predicted and actual "
            "patch losses correlate (ρ > 0.3) and HPM masks are ≥1.1x harder than random ones, reporting linear-probe "
            "accuracy only."
        ),
        usage=(
            "model = HPMForPreTraining(HPMConfig(image_size=8, patch_size=2, hidden_size=64, mask_ratio=0.75))\n"
            "out = model(pixel_values, epoch=e, total_epochs=T)  # out.loss = reconstruction + rank loss"
        ),
        notes=(
            "The title and abstract are the journal extension (image and video), while the brief's numbers come from "
            "the CVPR 2023 conference paper 'Hard Patches Mining for Masked Image Modeling' (arXiv 2304.05919)."
        ),
    ),
    Method(
        slug="dis_vs_gen",
        paper_id="P51",
        title="Revisiting Discriminative vs. Generative Classifiers: Theory and Implications",
        arxiv="2302.02334",
        official_code="ML-GSAI/Revisiting-Dis-vs-Gen-Classifiers",
        kind="analysis",
        tags=("naive-bayes", "linear-probe", "sample-complexity"),
        entry_points=(
            "hf_methods.analysis.dis_vs_gen:GaussianNBHead",
            "hf_methods.analysis.dis_vs_gen:linear_eval",
            "hf_methods.analysis.dis_vs_gen:sample_complexity_curve",
        ),
        recipe="recipes/dis_vs_gen.py",
        claim=(
            "Naive Bayes needs O(log n) samples versus O(n) for logistic regression to approach its asymptotic error, "
            "so a Gaussian NB linear-eval head converges faster; on the paper's easy Gaussian mixture the check "
            "asserts NB error ≤0.02 by m=36 while logistic regression is still ≥0.2 at m=144."
        ),
        venue="ICML 2023",
        usage=(
            "head = GaussianNBHead(num_features=768, num_labels=10).fit(feats, labels)  # one pass, no SGD\n"
            "logits = head(feats_test)"
        ),
    ),
    Method(
        slug="ponita",
        paper_id="P52",
        title="Fast, Expressive SE(n) Equivariant Networks through Weight-Sharing in Position-Orientation Space",
        arxiv=None,
        official_code="ebekkers/ponita",
        kind="models",
        tags=("equivariance", "point-clouds", "geometric-deep-learning"),
        entry_points=(
            "hf_methods.models.ponita:PonitaConfig",
            "hf_methods.models.ponita:PonitaModel",
        ),
        recipe="recipes/ponita.py",
        claim=(
            "Weight sharing over position-orientation space gives fast, expressive SE(n)-equivariant networks "
            "competitive with steerable models (rMD17, N-body, QM9); the check asserts exact SE(3) invariance and "
            "equivariance in point-cloud mode and that on a 5-particle N-body task PONITA halves an MLP's error and "
            "beats constant velocity (margins unverified)."
        ),
        venue="ICLR 2024",
        usage=(
            "config = PonitaConfig(input_dim=1, hidden_dim=64, num_layers=4, num_ori=12, output_dim_vec=1)\n"
            "model = PonitaModel(config)\n"
            "out = model(x=x, pos=pos, vec=vel, batch=batch)"
        ),
        notes="Ports the pure-torch ebekkers/ponita-torch (fibre-bundle mode); torch-geometric is not needed.",
    ),
    Method(
        slug="advunlearn",
        paper_id="P53",
        title="Defensive Unlearning with Adversarial Training for Robust Concept Erasure in Diffusion Models",
        arxiv="2405.15234",
        official_code="OPTML-Group/AdvUnlearn",
        kind="training",
        tags=("machine-unlearning", "diffusion", "adversarial-training", "concept-erasure"),
        entry_points=(
            "hf_methods.training.advunlearn:AdvUnlearnTrainer",
            "hf_methods.training.advunlearn:SoftPromptAttack",
        ),
        recipe="recipes/advunlearn.py",
        claim=(
            "Training the text encoder adversarially during concept erasure (AdvUnlearn) cuts prompt-attack success "
            "(about 21% vs 73% for ESD on SD v1.4 nudity) at similar utility; on a tiny conditional diffusion model "
            "on digits the check asserts an ASR ≥0.2 below ESD with ≥0.8x retained-digit accuracy (risky; property "
            "tests as fallback)."
        ),
        venue="NeurIPS 2024",
        usage=(
            "attack = SoftPromptAttack(k=1, steps=30, lr=1e-3)\n"
            "trainer = AdvUnlearnTrainer(unet, text_encoder, scheduler, concept='digit three', attack=attack)\n"
            "trainer.train(); text_encoder.save_pretrained('advunlearn-text-encoder')"
        ),
        notes="Real Stable Diffusion needs diffusers (optional); the CPU check uses a tiny class-conditional DDPM.",
    ),
    Method(
        slug="comp_sum",
        paper_id="P54",
        title="Cross-Entropy Loss Functions: Theoretical Analysis and Applications",
        arxiv="2304.07288",
        official_code=None,
        kind="training",
        tags=("loss", "h-consistency", "adversarial-training"),
        entry_points=(
            "hf_methods.training.comp_sum:comp_sum_loss",
            "hf_methods.training.comp_sum:smooth_adv_comp_sum_loss",
            "hf_methods.training.comp_sum:AdvCompSumTrainer",
        ),
        recipe="recipes/comp_sum.py",
        claim=(
            "Comp-sum losses (CE, GCE, MAE, …) admit tight H-consistency bounds and smooth adversarial comp-sum "
            "training beats TRADES-style baselines; the check asserts the τ special cases exactly, the CE-like vs MAE "
            "convergence ordering on digits, and robust accuracy ≥ standard + 0.2 (beating TRADES is reported only)."
        ),
        venue="ICML 2023",
        usage=(
            "loss = comp_sum_loss(logits, labels, tau=1.5)  # GCE with q=0.5\n"
            "trainer = AdvCompSumTrainer(model, args, tau=1.0, nu=6.0, eps=0.1, pgd_steps=10)"
        ),
        notes="No official code: the adversarial hyperparameters are a reconstruction from the paper text.",
    ),
    Method(
        slug="jlcm",
        paper_id="P55",
        title="Network Memory Footprint Compression Through Jointly Learnable Codebooks and Mappings",
        arxiv="2309.17361",
        official_code=None,
        kind="adapters",
        tags=("quantization", "codebooks", "compression"),
        entry_points=(
            "hf_methods.adapters.jlcm:JLCMQuantizer",
            "hf_methods.adapters.jlcm:CodebookLinear",
        ),
        recipe="recipes/jlcm.py",
        claim=(
            "Jointly learned grouped codebooks and mappings compress networks better than prior codebook methods "
            "(Llama-7B to about 2 GB); on a digits MLP at 2 bits per weight the check asserts exact neuron "
            "re-ordering, JLCM ≥ per-tensor k-means + 0.05 accuracy at ≤2.1 bits per weight, and fewer large index "
            "jumps than plain STE (margins unverified)."
        ),
        venue="ICLR 2024",
        usage=(
            "qmodel = JLCMQuantizer(bits=2, n_groups=4).quantize(model, calib_dataloader)\n"
            "print(qmodel.memory_footprint_bytes())"
        ),
        notes="No official code: the proximal index update is a reconstruction from the paper text.",
    ),
    Method(
        slug="shrinkmatch",
        paper_id="P56",
        title="Shrinking Class Space for Enhanced Certainty in Semi-Supervised Learning",
        arxiv="2308.06777",
        official_code="LiheYoung/ShrinkMatch",
        kind="training",
        tags=("semi-supervised", "pseudo-labeling", "consistency-regularization"),
        entry_points=(
            "hf_methods.training.shrinkmatch:ShrinkMatchTrainer",
            "hf_methods.training.shrinkmatch:shrink_loss",
            "hf_methods.training.shrinkmatch:AuxHeadWrapper",
        ),
        recipe="recipes/shrinkmatch.py",
        claim=(
            "Shrinking the class space of uncertain samples lets ShrinkMatch learn from them and beat FixMatch-style "
            "SSL (STL-10 with 40 labels 85.98 vs 70.85); on digits with 3 labels per class the check asserts the "
            "shrink_loss properties exactly, no accuracy loss versus FixMatch, and ≥1.5x more unlabelled samples "
            "receiving gradient."
        ),
        venue="ICCV 2023",
        usage=(
            "loss_s = shrink_loss(p_w.detach(), aux_logits_s, threshold=0.95)\n"
            "model = AuxHeadWrapper(backbone, num_labels=10)"
        ),
    ),
    Method(
        slug="metrix",
        paper_id="P57",
        title="It Takes Two to Tango: Mixup for Deep Metric Learning",
        arxiv="2106.04990",
        official_code="billpsomas/Metrix_ICLR22",
        kind="training",
        tags=("metric-learning", "mixup", "data-augmentation"),
        entry_points=(
            "hf_methods.training.metrix:metrix_loss",
            "hf_methods.training.metrix:MetrixTrainer",
            "hf_methods.training.metrix:utilization",
        ),
        recipe="recipes/metrix.py",
        claim=(
            "Metrix (mixup of examples and pair targets for metric learning) improves R@1 over the base losses on "
            "four retrieval benchmarks; on a zero-shot digits split the check asserts the λ=0/1 limits exactly and a "
            "≥0.01 unseen R@1 gain with a lower utilization distance (margin uncertain)."
        ),
        venue="ICLR 2022",
        usage="loss = contrastive_loss(emb, y) + metrix_loss(emb, y, level='embedding', alpha=2.0, weight=0.4)",
        notes="Pair mining is re-implemented instead of depending on pytorch-metric-learning.",
    ),
    Method(
        slug="mixturegrowth",
        paper_id="P58",
        title="MixtureGrowth: Growing Neural Networks by Recombining Learned Parameters",
        arxiv="2311.04251",
        official_code="chaudatascience/mixturegrowth",
        kind="training",
        tags=("network-growth", "parameter-templates", "efficiency"),
        entry_points=(
            "hf_methods.training.mixturegrowth:TemplateMixingConfig",
            "hf_methods.training.mixturegrowth:TemplateMixingMLP",
            "hf_methods.training.mixturegrowth:grow_mixture",
            "hf_methods.training.mixturegrowth:GrowthCallback",
        ),
        recipe="recipes/mixturegrowth.py",
        claim=(
            "Growing a network by recombining trained parameter templates beats earlier growth methods by 2–2.5% "
            "top-1 and matches a large net trained from scratch; on digits the check asserts MixtureGrowth is ≥0.1 "
            "more accurate than random-init growth right after growing and no worse after fine-tuning."
        ),
        venue="WACV 2024",
        usage=(
            "small0 = TemplateMixingMLP(cfg_half, template_set=0)\n"
            "small1 = TemplateMixingMLP(cfg_half, template_set=1)\n"
            "big = grow_mixture(small0, small1, coefs='orthogonal')"
        ),
    ),
    Method(
        slug="grokking_tickets",
        paper_id="P59",
        title="Grokking Tickets: Lottery Tickets Accelerate Grokking",
        arxiv="2310.19470",
        official_code="gouki510/Grokking-Tickets",
        kind="training",
        tags=("grokking", "lottery-ticket", "pruning"),
        entry_points=("hf_methods.training.grokking_tickets:GrokkingTicketsRecipe",),
        recipe="recipes/grokking_tickets.py",
        claim=(
            "Magnitude-pruned lottery tickets taken after generalisation and rewound to initialisation grok much "
            "faster than dense nets, while random masks do not; on the P48 quadratic-MLP modular-arithmetic setup the "
            "check asserts the ticket reaches 95% test accuracy in ≤0.6x the dense steps and the random mask never "
            "does so before the dense run."
        ),
        venue="TMLR",
        usage=(
            "report = GrokkingTicketsRecipe(model, dataset, keep=0.4, prune_at='generalized', rewind='init').run()\n"
            "print(report.steps_to_threshold)"
        ),
        notes=(
            "The official setting (lr 1e-3, p=67) does not grok within 6000 CPU steps, so the check uses the P48 "
            "quadratic-MLP setup; later arXiv versions are retitled 'Bridging Lottery Ticket and Grokking'."
        ),
    ),
    Method(
        slug="p2c",
        paper_id="P60",
        title="Prefer to Classify: Improving Text Classifiers via Auxiliary Preference Learning",
        arxiv="2306.04925",
        official_code="minnesotanlp/p2c",
        kind="training",
        tags=("text-classification", "preference-learning", "multi-task"),
        entry_points=(
            "hf_methods.training.p2c:P2CForSequenceClassification",
            "hf_methods.training.p2c:P2CTrainer",
            "hf_methods.training.p2c:preference_from_votes",
        ),
        recipe="recipes/p2c.py",
        claim=(
            "Auxiliary preference heads trained on pairwise preferences (P2C) improve text classifiers over CE and "
            "soft-label training; on a synthetic annotator task the check asserts P2C ≥ CE + 0.01 accuracy over five "
            "seeds and a preference-head pair accuracy above 0.7."
        ),
        venue="ICML 2023",
        usage=(
            "model = P2CForSequenceClassification.from_pretrained_backbone(encoder, num_labels=2, n_pref_heads=3)\n"
            "trainer = P2CTrainer(model=model, train_dataset=pair_ds, lambda_cons=1.0, lambda_div=0.1)"
        ),
        notes=(
            "No annotated text task is available offline: the check uses simulated annotators; the GPT-3 preference "
            "path is documented only."
        ),
    ),
    Method(
        slug="pointer_net",
        paper_id="P61",
        title="Pointer Networks",
        arxiv="1506.03134",
        official_code=None,
        kind="models",
        tags=("seq2seq", "attention", "combinatorial-optimization"),
        entry_points=(
            "hf_methods.models.pointer_net:PointerNetworkConfig",
            "hf_methods.models.pointer_net:PointerNetworkModel",
        ),
        recipe="recipes/pointer_net.py",
        claim=(
            "Pointer Networks learn combinatorial outputs (sorting, convex hulls, small TSP) over a variable-size "
            "output vocabulary and generalise beyond training lengths; the check asserts ≥0.8 exact sorting at n=10, "
            "≥0.7 per-position accuracy at unseen n=12, ≥0.9 convex-hull area coverage and valid constrained beams."
        ),
        venue="NeurIPS 2015",
        usage=(
            "model = PointerNetworkModel(PointerNetworkConfig(input_dim=2, hidden_size=128))\n"
            "tour = model.generate(points, num_beams=3, constraint='permutation')"
        ),
        notes="No official code (never released); decoding is a custom constrained beam search, not generate().",
    ),
    Method(
        slug="harmonic_denoiser",
        paper_id="P62",
        title="Generalization in diffusion models arises from geometry-adaptive harmonic representations",
        arxiv="2310.02557",
        official_code="LabForComputationalVision/memorization_generalization_in_diffusion_models",
        kind="analysis",
        tags=("diffusion", "generalization", "memorization", "denoising"),
        entry_points=(
            "hf_methods.analysis.harmonic_denoiser:BiasFreeDenoiserConfig",
            "hf_methods.analysis.harmonic_denoiser:BiasFreeDenoiser",
            "hf_methods.analysis.harmonic_denoiser:denoiser_jacobian_eigs",
            "hf_methods.analysis.harmonic_denoiser:generalization_gap",
        ),
        recipe="recipes/harmonic_denoiser.py",
        claim=(
            "Denoisers trained on large disjoint training sets learn the same score, through geometry-adaptive "
            "harmonic bases, while small sets are memorised; the check asserts bias-free homogeneity and D(y)=J(y)y "
            "exactly, and that sample similarity between disjoint-split models rises by ≥0.2 from N=10 (memorising) "
            "to N=800."
        ),
        venue="ICLR 2024",
        usage=(
            "a, b = BiasFreeDenoiser(cfg), BiasFreeDenoiser(cfg)  # trained on disjoint splits\n"
            "sim = generalization_gap(a, b, n_samples=16); lam, vecs = denoiser_jacobian_eigs(a, noisy_img)"
        ),
    ),
    Method(
        slug="mhim_mil",
        paper_id="P63",
        title=(
            "Multiple Instance Learning Framework with Masked Hard Instance Mining for Whole Slide Image "
            "Classification"
        ),
        arxiv="2307.15254",
        official_code="DearCaat/MHIM-MIL",
        kind="training",
        tags=("multiple-instance-learning", "hard-mining", "pathology", "ema-teacher"),
        entry_points=(
            "hf_methods.training.mhim_mil:ABMILConfig",
            "hf_methods.training.mhim_mil:ABMILForBagClassification",
            "hf_methods.training.mhim_mil:MHIMTrainer",
        ),
        recipe="recipes/mhim_mil.py",
        claim=(
            "Masking an EMA teacher's most-attended instances forces an attention-MIL student to learn hard instances "
            "(CAMELYON-16 AUC 0.958 for ABMIL); on synthetic digit bags whose test positives are all hard the check "
            "asserts MHIM AUC ≥ a 40-epoch ABMIL baseline + 0.02 and exact masking and EMA properties."
        ),
        venue="ICCV 2023",
        usage=(
            "student = ABMILForBagClassification(ABMILConfig(input_dim=64, hidden=128, num_labels=2))\n"
            "MHIMTrainer(model=student, teacher=pretrained_abmil, args=args, train_dataset=bags).train()"
        ),
        notes="Follows the ICCV version (branch v1), not the IJCV 2025 instance-merging extension on master.",
    ),
    Method(
        slug="loki",
        paper_id="P64",
        title="Geometry-Aware Adaptation for Pretrained Models",
        arxiv="2307.12226",
        official_code="SprocketLab/loki",
        kind="generation",
        tags=("prediction-rule", "label-metric", "zero-shot"),
        entry_points=(
            "hf_methods.generation.loki:LokiPredictor",
            "hf_methods.generation.loki:frechet_variance_scores",
        ),
        recipe="recipes/loki.py",
        claim=(
            "Replacing argmax by the Fréchet mean over a label metric lets a classifier predict unseen classes and "
            "lowers the expected squared distance (up to 29.7% over SimCLR on ImageNet); on a 20-class line metric "
            "trained on even classes only the check asserts ≥10% lower E[d²] and ≥0.2 accuracy on the unseen classes."
        ),
        venue="NeurIPS 2023",
        usage=(
            "loki = LokiPredictor(sq_dist=D2, observed=obs_ids)\n"
            "y_hat = loki.predict(model(**batch).logits.softmax(-1))"
        ),
    ),
)

METHODS: dict[str, Method] = {method.slug: method for method in _RECORDS}


def _check_catalogue() -> None:
    """Cheap consistency checks on the literal records above (run once at import)."""
    if len(METHODS) != len(_RECORDS):
        raise RuntimeError("Two catalogue records share a slug.")
    expected_ids = [f"P{i:02d}" for i in range(1, len(_RECORDS) + 1)]
    if [method.paper_id for method in _RECORDS] != expected_ids:
        raise RuntimeError("Catalogue records must be in paper order P01, P02, ... without gaps.")


_check_catalogue()


def get_method(slug: str) -> Method:
    """Return the record for a slug (e.g. `"bone"`) or a paper id (e.g. `"P46"` or `"p46"`).

    Raises:
        `ValueError`: when nothing matches; the message suggests close slugs, matching titles too.
    """
    if isinstance(slug, Method):
        return slug
    if not isinstance(slug, str):
        raise TypeError(f"`slug` must be a string such as 'bone' or 'P46', got {type(slug).__name__}.")
    key = slug.strip()
    if key in METHODS:
        return METHODS[key]
    lowered = key.lower()
    for method in _RECORDS:
        if lowered in (method.slug.lower(), method.paper_id.lower(), method.title.lower()):
            return method

    candidates: dict[str, str] = {}
    for method in _RECORDS:
        candidates.setdefault(method.slug.lower(), method.slug)
        candidates.setdefault(method.title.lower(), method.slug)
    suggestions = []
    for match in difflib.get_close_matches(lowered, list(candidates), n=3, cutoff=0.6):
        if candidates[match] not in suggestions:
            suggestions.append(candidates[match])
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise ValueError(f"Unknown method {slug!r}.{hint} Run `hf-methods list` to see all {len(METHODS)}.")


def list_methods(kind: str | None = None, status: str | None = None) -> list[Method]:
    """The methods in paper order, optionally only those of one `kind` and/or one derived `status`.

    Raises:
        `ValueError`: for a `kind` not in `KINDS` or a `status` not in `STATUSES`.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}: `kind` must be one of {', '.join(KINDS)}.")
    if status is not None and status not in STATUSES:
        raise ValueError(f"Unknown status {status!r}: `status` must be one of {', '.join(STATUSES)}.")
    methods = [method for method in _RECORDS if kind is None or method.kind == kind]
    if status is not None:
        methods = [method for method in methods if method.status == status]
    return methods


def entry_points_import(method: Method | str) -> bool:
    """Whether every entry point of `method` (a `Method`, slug or paper id) imports.

    Each `"module:Name"` is checked with `importlib.import_module(module)` then `getattr(module, Name)`; any exception
    counts as a failure. A method without entry points does not import.
    """
    method = get_method(method)
    if not method.entry_points:
        return False
    for entry_point in method.entry_points:
        module_name, _, attribute = entry_point.partition(":")
        try:
            getattr(importlib.import_module(module_name), attribute)
        except Exception:
            return False
    return True

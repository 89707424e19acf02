"""Building blocks shared by two or more methods; no method-specific logic.

- `data`: offline datasets and models (digits, MNIST, corpora, WordNet, speech clips, SmolLM2, MiniLM) with clear errors;
- `tiny`: tiny transformers configs and models built in code (the test and claim bases);
- `markov`: Markov-chain languages (synthetic token data with a known distribution);
- `layers`: parsing layer selections such as `"22-29"` or `"last4"`;
- `instruct`: the arithmetic word-problem instruction task;
- `mlp`: a plain MLP as a transformers model (`hfm-mlp`);
- `checks`: argument checks (logits/labels, bounded numbers) and the `"mean" | "sum" | "none"` loss reductions;
- `evaluation`: batched top-1 accuracy of a classifier on tensors, training mode restored;
- `batches`: `TensorDictDataset`, in-memory tensors as a dataset whose batches come out already collated;
- `checkpointing`: a `Trainer` mixin that saves one more module's state (a loss's running buffers) in checkpoints;
- `adversarial`: projected gradient attacks (`PGDConfig`, `pgd_attack`), the penalised inner maximisation and
  class-wise (robust) accuracy, for the adversarial-training methods;
- `splits`: imbalanced subsets, seen/unseen class splits and non-IID client splits;
- `metric_learning`: pair masks, contrastive and binomial-deviance losses, Recall@K and clustering NMI;
- `distill`: a teacher–student `Trainer` base, soft-target KL and attention transfer;
- `unlearning`: unlearning baselines (fine-tune, gradient ascent, random labels, retrain) and metrics (UA, RA, TA,
  MIA-efficacy, Avg. Gap);
- `masks`: weight masks as `torch.nn.utils.parametrize` parametrizations (magnitude masks, exact top-k, learned
  score masks with a straight-through gradient), baking to vanilla weights, sparsity statistics, mask files;
- `federated`: federated learning in one process — client updates, the `Aggregator` interface with FedAvg,
  participation patterns (Bernoulli, Markov, cyclic), `simulate_federated` with bits uploaded;
- `flower`: the same aggregators as a Flower `Strategy` (`AggregatorStrategy`; optional extra `federated`);
- `packing`: low-bit integer codes packed into a byte stream (quantised weights saved at their real size);
- `augment`: random augmentations of small image batches in torch (translate, flip, brightness/contrast, noise,
  cutout), FixMatch-style weak/strong presets and two-view pairs;
- `contrastive`: SimCLR's NT-Xent and the supervised contrastive (SupCon) loss;
- `ema`: exponential-moving-average (momentum) teachers on `AveragedModel`, with a `Trainer` callback;
- `clustering`: balanced Sinkhorn–Knopp assignments and Hungarian-matched clustering accuracy;
- `graph`: dense graph utilities (adjacency, k-NN graph, GCN norm, edge similarity, PyG inputs), random/DICE attacks;
- `supernet`: sliceable ("once-for-all") Linear / LayerNorm / Conv1d / Conv2d (channels and centre-cropped kernels) /
  attention / feed-forward layers that compute with a leading slice of their weights and extract it as a plain layer
  (weight-sharing supernets, NAS);
- `diffusion`: glue over diffusers (optional extra `diffusion`): the zoo's tiny U-Net and noise schedule, the
  ε-prediction loss for any denoiser, sampling with classifier-free guidance, a short denoiser-fitting loop, digits
  as images in [-1, 1];
- `ntk`: the empirical neural tangent kernel (`torch.func` vmap + jacrev), the linearised model (one jvp per forward)
  and kernel–target alignment.

A shared block with public names or Auto classes declares them here, once.
"""

#: Public names of the shared blocks (`from hf_methods import MLPConfig`).
EXPORTS = {
    "MLPConfig": "hf_methods.common.mlp",
    "MLPForImageClassification": "hf_methods.common.mlp",
    "MLPModel": "hf_methods.common.mlp",
}

#: Auto classes of the shared blocks, in the form of `Method.auto_classes`, by `model_type`.
AUTO_CLASSES = {
    "hfm-mlp": {
        "AutoConfig": "hf_methods.common.mlp.configuration_mlp:MLPConfig",
        "AutoModel": "hf_methods.common.mlp.modeling_mlp:MLPModel",
        "AutoModelForImageClassification": "hf_methods.common.mlp.modeling_mlp:MLPForImageClassification",
    },
}

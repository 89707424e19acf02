"""The catalogue record of `tanglenas` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
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
        "hf_methods.training.tanglenas:TangleNASConvConfig",
        "hf_methods.training.tanglenas:TangleNASConvNet",
        "hf_methods.training.tanglenas:TangleNASSearchLoss",
    ),
    recipe="recipes/tanglenas.py",
    claim=(
        "Gradient-based NAS with weight superposition in weight-entangled spaces beats single-path one-shot (SPOS) "
        "search at similar memory; the CPU check asserts the exact identities (one-hot α = the sliced op, W_mix "
        "forward = output superposition), the largest-op parameter count and ≤1.2× one op's activation memory, and, "
        "on digits over 5 seeds, that the DARTS-derived architecture retrained from scratch is within 0.005 of (or "
        "above) both the median of six random architectures and SPOS's architecture found at equal budget."
    ),
    venue="AutoML 2024",
    usage=(
        "import tempfile\n"
        "\n"
        "import torch\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import TangleNASConvConfig, TangleNASConvNet, TangleNASTrainer\n"
        "from hf_methods.common.batches import TensorDictDataset, collate_batch\n"
        "\n"
        "x, y = torch.rand(96, 1, 8, 8), torch.randint(0, 10, (96,))\n"
        "train = TensorDictDataset(pixel_values=x[:64], labels=y[:64])\n"
        "val = TensorDictDataset(pixel_values=x[64:], labels=y[64:])  # the architecture steps' data\n"
        "supernet = TangleNASConvNet(TangleNASConvConfig())  # kernels {1,3,5} × widths {4,8,16} × hidden {16,32,64}\n"
        "args = TrainingArguments(tempfile.mkdtemp(), max_steps=4, per_device_train_batch_size=16,\n"
        "                         remove_unused_columns=False, report_to=[])\n"
        "trainer = TangleNASTrainer(model=supernet, args=args, train_dataset=train, arch_dataset=val,\n"
        "                           data_collator=collate_batch, arch_lr=3e-4, optimizer='darts')\n"
        "trainer.train()\n"
        "architecture = supernet.derive_architecture()  # the argmax of every β\n"
        "subnet = supernet.extract_subnet()  # a standalone TangleNASConvNet holding the supernet's slices\n"
        "subnet.save_pretrained(tempfile.mkdtemp())"
    ),
    notes=(
        "The paper's final version links automl/TangleNAS; the public copy read while building this method is "
        "hoanglocla9/TangleNAS (possibly a fork), whose toy space (operations_we.py) crops kernels at the centre as "
        "here. Width choices are mixed with the same weight superposition (leading channels, masked by "
        "Σ_c α_c 1[o < c]), so a layer keeps its largest width while searching; kernel and width choices of one "
        "layer are independent (joint weight α_k·α_c). The architecture step is first-order DARTS (no unrolled "
        "second-order gradient), alternating with the weight step on separate batches; GDAS uses a hard "
        "straight-through Gumbel-softmax and DrNAS samples Dirichlet(elu(β) + 1) as the official sampler does. "
        "The toy space here has no batch norm (weight and output superposition are equal only for ops linear in W "
        "before any nonlinearity or normalisation). The claim's search margins are parity rules (the paper's gains "
        "are on much larger spaces), SPOS scores the whole 243-architecture space instead of running evolution, and "
        "the architecture learning rate is 3e-3 (10× DARTS's 3e-4: the search has ~360 steps). The Trainer's "
        "architecture batches restart their order on resume (the recipe's are a function of the step). In the claim "
        "run the DARTS rule derived the largest architecture in every seed, so on digits its edge over the random "
        "and SPOS architectures reflects that the largest network is the best one there."
    ),
)

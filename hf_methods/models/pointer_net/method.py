"""The catalogue record of `pointer_net` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="pointer_net",
    paper_id="P61",
    title="Pointer Networks",
    arxiv="1506.03134",
    official_code=None,
    kind="models",
    tags=("seq2seq", "attention", "combinatorial-optimization"),
    entry_points=(
        "hf_methods.models.pointer_net:PointerNetConfig",
        "hf_methods.models.pointer_net:PointerNetModel",
        "hf_methods.models.pointer_net:PointerNetForSequenceOrdering",
        "hf_methods.models.pointer_net:sorting_task",
        "hf_methods.models.pointer_net:convex_hull_task",
    ),
    auto_classes={
        "AutoConfig": "hf_methods.models.pointer_net.configuration_pointer_net:PointerNetConfig",
        "AutoModel": "hf_methods.models.pointer_net.modeling_pointer_net:PointerNetModel",
        "AutoModelForPreTraining": "hf_methods.models.pointer_net.modeling_pointer_net:PointerNetForSequenceOrdering",
    },
    recipe="recipes/pointer_net.py",
    claim=(
        "A Pointer Network, whose output at each step is attention over the input positions, learns sorting and "
        "planar convex hulls and generalises beyond its training lengths; the check trains on 5–10 inputs and "
        "asserts ≥0.8 exact sorting at n=10, ≥0.7 per-position sorting accuracy at unseen n=12, ≥0.9 convex-hull "
        "area coverage, ≥0.4 hull accuracy, no repeated index under constrained greedy/beam decoding, and beam "
        "width 1 = greedy."
    ),
    venue="NeurIPS 2015",
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import PointerNetConfig, PointerNetForSequenceOrdering, sorting_task\n"
        "\n"
        "data = sorting_task(256, min_points=5, max_points=10, seed=0)  # points (256, 10, 1), attention_mask, labels\n"
        "model = PointerNetForSequenceOrdering(PointerNetConfig(input_dim=1, hidden_size=64))\n"
        "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "for _ in range(5):  # teacher forcing: cross-entropy over input positions\n"
        "    loss = model(**data).loss\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    optimizer.zero_grad()\n"
        "points = torch.rand(2, 12, 1)  # longer than any training example: the output vocabulary grows with n\n"
        "order = model.generate(points, num_beams=3, constraint='permutation').sequences  # (2, 12), no index twice"
    ),
    notes=(
        "No official code (never released): built from the paper. The head is registered with "
        "`AutoModelForPreTraining` (transformers has no Auto class for pointing outputs) and the base encoder–decoder "
        "with `AutoModel`. Decoding is the model's own `generate` (greedy, or beam search restricted to valid "
        "outputs as in the paper), not `GenerationMixin.generate`, whose vocabulary is fixed; already-chosen and "
        "padded positions are masked before the softmax. Convex hulls are closed polygons decoded under the 'cycle' "
        "constraint (the sequence ends by pointing at its first vertex again) instead of with an end symbol; hull "
        "labels are counter-clockwise from the lowest-index vertex (`scipy.spatial.ConvexHull`). The training "
        "forward pass applies no visited mask (as in the paper). The claim check uses Adam instead of the paper's "
        "SGD (learning rate 1.0), smaller LSTMs and 50k–100k training examples instead of 1M."
    ),
)

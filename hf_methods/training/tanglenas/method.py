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
        "The paper's final version links automl/TangleNAS; the public copy read while planning this method is "
        "hoanglocla9/TangleNAS (possibly a fork)."
    ),
)

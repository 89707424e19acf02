"""The catalogue record of `diti` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
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
)

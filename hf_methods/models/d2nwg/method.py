"""The catalogue record of `d2nwg` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
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
)

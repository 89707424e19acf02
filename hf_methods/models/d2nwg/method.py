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
        "hf_methods.models.d2nwg:D2NWGConfig",
        "hf_methods.models.d2nwg:D2NWGModel",
        "hf_methods.models.d2nwg:D2NWGPipeline",
        "hf_methods.models.d2nwg:WeightVAE",
        "hf_methods.models.d2nwg:LatentWeightDiffusion",
        "hf_methods.models.d2nwg:DatasetSetEncoder",
        "hf_methods.models.d2nwg:WeightZoo",
        "hf_methods.models.d2nwg:build_digit_pair_zoo",
    ),
    recipe="recipes/d2nwg.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.d2nwg.configuration_d2nwg:D2NWGConfig",
        "AutoModel": "hf_methods.models.d2nwg.modeling_d2nwg:D2NWGModel",
    },
    claim=(
        "Latent diffusion over a zoo of weights, conditioned on a dataset embedding, generates weights that "
        "transfer to seen and unseen tasks without fine-tuning; on digit-pair tasks (72 seen, 18 unseen ordered "
        "pairs per seed, linear 64→2 classifiers) the check asserts generated classifiers reach ≥0.85 mean "
        "unseen-task accuracy and +0.30 over random init, the best of 5 reaches ≥0.9x direct training, and "
        "conditioning beats shuffled conditioning by ≥0.10."
    ),
    usage=(
        "import torch\n"
        "\n"
        "from diffusers import DDPMScheduler\n"
        "\n"
        "from hf_methods import D2NWGConfig, D2NWGModel, D2NWGPipeline, build_digit_pair_zoo\n"
        "from hf_methods.models.d2nwg.training import digit_pair_tasks, load_digit_classes\n"
        "\n"
        "classes = load_digit_classes()\n"
        "zoo = build_digit_pair_zoo(digit_pair_tasks()[:6], models_per_task=2, classes=classes)  # 12 linear classifiers\n"
        "config = D2NWGConfig(parameter_spec=zoo.parameter_spec, latent_dim=8, num_train_timesteps=200)\n"
        'scheduler = DDPMScheduler(num_train_timesteps=200, beta_schedule="squaredcos_cap_v2", clip_sample=False)\n'
        "pipe = D2NWGPipeline(D2NWGModel(config), scheduler)\n"
        "pipe.train_vae(zoo, steps=50)  # stage 1: the weight VAE\n"
        "pipe.train_diffusion(zoo, steps=50)  # stage 2: latent denoiser + dataset set-encoder\n"
        "support_set = zoo.sample_support_sets([0], samples_per_class=5)[0]  # (classes, samples, 64 pixels)\n"
        "state_dicts = pipe.generate_weights(support_set, n=5, generator=torch.Generator().manual_seed(0))\n"
        "classifier = torch.nn.Linear(64, 2)\n"
        "classifier.load_state_dict(state_dicts[0])"
    ),
    notes=(
        "The networks are scaled to small target models: the weight VAE and the latent denoiser are MLPs on flat "
        "parameter vectors (the paper's are convolutional on weights reshaped to 64×64 maps, with a UNet denoiser), "
        "and the VAE standardises each parameter coordinate over the zoo (mean/std buffers saved with the "
        "checkpoint). The dataset encoder reads raw pixels of K samples per class (per-class mean and standard "
        "deviation, or the official MyMLPEncoder's learned linear mixing of the samples) instead of the paper's CLIP "
        "features, which are not available offline, and is trained jointly with the denoiser through the ε-loss "
        "(no CLIP-style alignment stage). The noise schedule is diffusers' cosine DDPM schedule with T = 200 "
        "instead of the paper's linear schedule with T = 1000 (at T = 200 the paper's β range leaves most of the "
        "signal at t = T). Diffusion latents are the VAE posterior means rescaled to unit standard deviation "
        "(scale_by_std); diffusers' clipping of the predicted x0 to [-1, 1] is turned off for them. The zoo is "
        "offline: linear classifiers on the 90 ordered pairs of scikit-learn digit classes "
        "(`scripts/build_d2nwg_zoo.py`, `build_digit_pair_zoo`). The LLM-parameter experiments of the paper are out "
        "of scope."
    ),
)

"""Records of the methods that have not landed yet, in paper order.

When a method lands, its record moves from here into its own folder, `hf_methods/<kind>/<slug>/method.py` (with its
entry points and Auto classes filled in), and leaves this file; the catalogue (`hf_methods.zoo`) refuses a slug that
is in both places. The entry points below are the names the method is planned to export.
"""

from hf_methods.record import Method

PLANNED = (
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
            "The paper's final version links automl/TangleNAS; the public copy read while planning this method is "
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

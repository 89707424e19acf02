"""DiTi (P17): masks and time-step partition against the official loops, c(t) and w(t) in closed form, the loss
against a plain per-sample evaluation, gradient isolation of the stop-gradient mode, the probes, the trainer, the
recipe and the errors."""

import math

import numpy as np
import pytest
import torch

from hf_methods.models.diti import DiTiConfig, DiTiEncoder, chunk_masks, timestep_chunk_index
from hf_methods.models.diti.analysis import probe_scores, r2_score
from hf_methods.models.diti.loss import conditioning_code, diti_loss, loss_weights, shift_coefficients

pytest.importorskip("diffusers")


# --------------------------------------------------------------------------------------------- reference helpers
def official_masks(latent_dim, k):
    """The official trainer's loops (uniform partition): end_i = int(d / k · (i + 1))."""
    end = [int(float(latent_dim) / k * (i + 1)) for i in range(k)]
    masks = [[0.0] * latent_dim for _ in range(k)]
    k_masks = [[0.0] * latent_dim for _ in range(k)]
    receding = [[0.0] * latent_dim for _ in range(k)]
    for i in range(k):
        prev = end[i - 1] if i > 0 else 0
        for j in range(latent_dim):
            masks[i][j] = 1.0 if j < end[i] else 0.0
            k_masks[i][j] = 1.0 if prev <= j < end[i] else 0.0
            receding[i][j] = 1.0 if j < prev else 0.0
    return masks, k_masks, receding


class FakeScheduler:
    """add_noise and alphas_cumprod of a DDPM schedule, written out: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε."""

    def __init__(self, betas):
        self.betas = torch.as_tensor(betas, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1 - self.betas, 0).float()
        self.config = type("C", (), {"num_train_timesteps": len(betas)})()

    def add_noise(self, x0, noise, t):
        a = self.alphas_cumprod[t].view(-1, *[1] * (x0.dim() - 1))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


def eps_model(x, t):
    """A fixed "frozen diffusion model": ε_θ(x, t) = 0.3·x + 0.001·t."""
    return 0.3 * x + 0.001 * t.view(-1, 1, 1, 1).float()


class LinearDecoder(torch.nn.Module):
    """G(x, t, z) = x · (w·z) + 0.01·t, with learnable w (enough for gradients to reach z)."""

    def __init__(self, latent_dim):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(0.5, 1.5, latent_dim))

    def forward(self, x, t, z):
        return x * (z @ self.w).view(-1, 1, 1, 1) + 0.01 * t.view(-1, 1, 1, 1).float()


# ---------------------------------------------------------------------------------------------------- the math
@pytest.mark.parametrize("latent_dim,k", [(16, 4), (10, 3), (7, 7), (5, 1)])
def test_masks_match_the_official_loops(latent_dim, k):
    config = DiTiConfig(latent_dim=latent_dim, num_chunks=k, num_train_timesteps=100)
    masks, k_masks, receding = chunk_masks(config)
    ref = official_masks(latent_dim, k)
    for ours, theirs in zip((masks, k_masks, receding), ref):
        assert ours.tolist() == theirs
    torch.testing.assert_close(masks, receding + k_masks, rtol=0, atol=0)
    assert k_masks.sum(0).tolist() == [1.0] * latent_dim  # the chunks partition z


@pytest.mark.parametrize("T,k", [(1000, 4), (1000, 64), (100, 3), (10, 10)])
def test_uniform_partition_matches_the_official_t_to_idx(T, k):
    config = DiTiConfig(latent_dim=max(k, 4), num_chunks=k, num_train_timesteps=T)
    idx = timestep_chunk_index(config).tolist()
    assert idx == [int(float(t) / (float(T) / k)) for t in range(T)]
    assert idx == sorted(idx) and set(idx) == set(range(k))  # every range non-empty, in time order


def test_timestep_boundaries_give_the_ranges():
    config = DiTiConfig(latent_dim=8, num_chunks=3, num_train_timesteps=20, timestep_boundaries=[5, 12])
    assert timestep_chunk_index(config).tolist() == [0] * 5 + [1] * 7 + [2] * 8


def test_shift_coefficient_and_weight_in_closed_form():
    betas = np.linspace(1e-4, 0.02, 50)
    scheduler = FakeScheduler(betas)
    a_bar = scheduler.alphas_cumprod.double().numpy()
    coef, weight = shift_coefficients(scheduler), loss_weights(scheduler, gamma=0.1)
    for t in range(50):
        prev = 1.0 if t == 0 else a_bar[t - 1]
        alpha = a_bar[t] / prev
        expected = -math.sqrt(alpha) * (1 - prev) / math.sqrt(1 - a_bar[t])
        snr = a_bar[t] / (1 - a_bar[t])
        assert coef[t].item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
        assert weight[t].item() == pytest.approx(snr**0.1 / (1 + snr), rel=1e-5)
    assert coef[0].item() == 0.0  # ᾱ_{−1} = 1: the decoder has no effect at t = 0


def test_loss_matches_the_equation_sample_by_sample():
    torch.manual_seed(0)
    config = DiTiConfig(latent_dim=6, num_chunks=3, num_train_timesteps=30)
    scheduler = FakeScheduler(np.linspace(1e-3, 0.2, 30))
    x0 = torch.rand(5, 1, 8, 8) * 2 - 1
    z = torch.randn(5, 6)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 7, 10, 22, 29])
    decoder = LinearDecoder(6)
    kw = dict(
        frozen_diffusion=eps_model,
        decoder=decoder,
        scheduler=scheduler,
        chunk_index=timestep_chunk_index(config),
        masks=chunk_masks(config),
        timesteps=t,
        noise=noise,
        reduction="none",
    )
    for mode in ("stop_grad", "base"):
        ours = diti_loss(z, x0, mode=mode, **kw)
        a_bar = scheduler.alphas_cumprod.double()
        for i in range(5):
            ti = int(t[i])
            idx = int(ti * 3 / 30)
            end = [2, 4, 6][idx]
            z_t = [float(z[i, j]) if j < end else 0.0 for j in range(6)]
            prev = 1.0 if ti == 0 else float(a_bar[ti - 1])
            alpha = float(a_bar[ti]) / prev
            c = -math.sqrt(alpha) * (1 - prev) / math.sqrt(1 - float(a_bar[ti]))
            snr = float(a_bar[ti]) / (1 - float(a_bar[ti]))
            w = snr**0.1 / (1 + snr)
            g_scale = sum(z_t[j] * float(decoder.w[j].detach()) for j in range(6))
            total = 0.0
            for p in range(64):
                x0p, ep = float(x0[i].flatten()[p]), float(noise[i].flatten()[p])
                xt = math.sqrt(float(a_bar[ti])) * x0p + math.sqrt(1 - float(a_bar[ti])) * ep
                pred = (0.3 * xt + 0.001 * ti) + c * (xt * g_scale + 0.01 * ti)
                total += w * (ep - pred) ** 2
            assert ours[i].item() == pytest.approx(total / 64, rel=1e-4, abs=1e-7)


def test_stop_grad_gradient_reaches_only_the_chunk_of_t():
    config = DiTiConfig(latent_dim=8, num_chunks=4, num_train_timesteps=40)
    scheduler = FakeScheduler(np.linspace(1e-3, 0.2, 40))
    x0 = torch.rand(8, 1, 8, 8) * 2 - 1
    t = torch.arange(1, 40, 5)  # t > 0, so c(t) ≠ 0
    z = torch.randn(8, 8, requires_grad=True)
    kw = dict(
        frozen_diffusion=eps_model,
        decoder=LinearDecoder(8),
        scheduler=scheduler,
        chunk_index=timestep_chunk_index(config),
        masks=chunk_masks(config),
        timesteps=t,
        noise=torch.randn_like(x0),
        reduction="sum",
    )
    (grad,) = torch.autograd.grad(diti_loss(z, x0, mode="stop_grad", **kw), z)
    (grad_base,) = torch.autograd.grad(diti_loss(z, x0, mode="base", **kw), z)
    for i, ti in enumerate(t.tolist()):
        idx = ti * 4 // 40
        own = slice(2 * idx, 2 * idx + 2)
        outside = torch.ones(8, dtype=torch.bool)
        outside[own] = False
        assert (grad[i, outside] == 0).all()  # exactly zero, not small
        assert (grad[i, own] != 0).all()
        assert (grad_base[i, : 2 * idx + 2] != 0).all() and (grad_base[i, 2 * idx + 2 :] == 0).all()
    # the forward values agree: stop_grad changes only where the gradient goes
    torch.testing.assert_close(diti_loss(z, x0, mode="stop_grad", **kw), diti_loss(z, x0, mode="base", **kw))


def test_one_chunk_is_pdae():
    config = DiTiConfig(latent_dim=4, num_chunks=1, num_train_timesteps=10)
    z = torch.randn(3, 4)
    code = conditioning_code(z, torch.zeros(3, dtype=torch.long), chunk_masks(config), "stop_grad")
    assert torch.equal(code, z)


def test_encoder_reads_rgb_as_the_channel_mean():
    torch.manual_seed(0)
    encoder = DiTiEncoder(DiTiConfig(hidden_sizes=[4, 8], latent_dim=4, num_chunks=2)).eval()
    gray = torch.rand(2, 1, 8, 8)
    rgb = torch.cat([gray * 0.5, gray, gray * 1.5], dim=1)
    torch.testing.assert_close(encoder(rgb).representation, encoder(gray).representation)
    assert [c.shape[1] for c in encoder.chunks(encoder(gray).representation)] == [2, 2]


# ----------------------------------------------------------------------------------------------------- probes
def test_probe_scores_against_numpy():
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(200, 3)), rng.normal(size=(100, 3))
    w = np.array([1.0, -2.0, 0.5])
    y, yt = x @ w + 3.0, xt @ w + 3.0
    assert probe_scores(x, y, xt, yt, discrete=False, ridge=1e-8) == pytest.approx(1.0, abs=1e-6)
    pred = rng.normal(size=100)
    assert r2_score(yt, pred) == pytest.approx(1 - ((yt - pred) ** 2).sum() / ((yt - yt.mean()) ** 2).sum())
    labels, labels_t = (x[:, 0] > 0).astype(int), (xt[:, 0] > 0).astype(int)
    assert probe_scores(x, labels, xt, labels_t, discrete=True, ridge=1e-3) > 0.9
    assert probe_scores(x[:, 1:], labels, xt[:, 1:], labels_t, discrete=True, ridge=1e-3) < 0.75


def test_chunk_probe_finds_the_chunk_that_holds_an_attribute():
    from hf_methods.models.diti import chunk_probe

    class Fixed(torch.nn.Module):
        """A stand-in encoder: z = [a, noise, b, noise] with the attributes a, b read from pixel 0 and 1."""

        config = DiTiConfig(latent_dim=4, num_chunks=4)

        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, pixel_values):
            flat = pixel_values.flatten(1)
            z = torch.stack([flat[:, 0], flat[:, 5], flat[:, 1], flat[:, 6]], 1)
            return type("O", (), {"representation": z})()

    g = torch.Generator().manual_seed(0)
    images, test = torch.rand(300, 1, 8, 8, generator=g), torch.rand(100, 1, 8, 8, generator=g)
    attrs = {"a": images[:, 0, 0, 0], "cls": (images[:, 0, 0, 1] > 0.5).long()}
    test_attrs = {"a": test[:, 0, 0, 0], "cls": (test[:, 0, 0, 1] > 0.5).long()}
    result = chunk_probe(Fixed(), images, attrs, test, test_attrs, discrete=["cls"])
    assert result.chunk_scores["a"][0] == pytest.approx(1.0, abs=1e-4)
    assert max(result.chunk_scores["a"][1:]) < 0.1
    assert result.chunk_scores["cls"][2] > 0.9 and result.chunk_scores["cls"][1] < 0.7
    assert result.metrics == {"a": "r2", "cls": "accuracy"}


# ---------------------------------------------------------------------------------------- generation, training
def tiny_pieces():
    from hf_methods.common.diffusion import ddpm_scheduler, tiny_unet
    from hf_methods.models.diti import DiTiShiftDecoder

    torch.manual_seed(0)
    config = DiTiConfig(hidden_sizes=[8, 16], latent_dim=8, num_chunks=4, num_train_timesteps=50)
    unet = tiny_unet(block_out_channels=(8, 16)).eval().requires_grad_(False)
    return DiTiEncoder(config), DiTiShiftDecoder(8, (8, 16)), unet, ddpm_scheduler(50)


@pytest.mark.slow
def test_counterfactual_interpolation_changes_only_the_chosen_chunks():
    from hf_methods.models.diti import counterfactual_interpolate

    encoder, decoder, unet, scheduler = tiny_pieces()
    with torch.no_grad():  # a decoder that reads z strongly, so a change of z shows in the images
        decoder.unet.conv_out.weight.mul_(50)
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1, torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    out = counterfactual_interpolate(
        encoder, decoder, unet, scheduler, x1, x2, [1], weights=(0.0, 1.0), num_inference_steps=3
    )
    assert out.shape == (2, 2, 1, 8, 8)
    same = counterfactual_interpolate(
        encoder, decoder, unet, scheduler, x1, x1.clone(), [1], weights=(0.0, 1.0), num_inference_steps=3
    )
    torch.testing.assert_close(same[0], same[1])  # x2 = x1: every λ decodes the same code
    torch.testing.assert_close(out[0], same[0])  # λ = 0 does not depend on x2
    assert not torch.allclose(out[0], out[1])


def test_trainer_trains_encoder_and_decoder_and_freezes_the_base(tmp_path):
    from transformers import TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.models.diti import DiTiTrainer

    encoder, decoder, unet, scheduler = tiny_pieces()
    before = [p.detach().clone() for p in (*encoder.parameters(), *decoder.parameters())]
    frozen = [p.detach().clone() for p in unet.parameters()]
    args = TrainingArguments(
        str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=8,
        report_to=[],
        remove_unused_columns=False,
        save_strategy="no",
        use_cpu=True,
        learning_rate=1e-2,
    )
    trainer = DiTiTrainer(
        model=encoder,
        frozen_diffusion=unet,
        scheduler=scheduler,
        decoder=decoder,
        args=args,
        train_dataset=TensorDictDataset(pixel_values=torch.rand(16, 1, 8, 8) * 2 - 1),
        data_collator=collate_batch,
    )
    trainer.train()
    after = list(encoder.parameters()) + list(decoder.parameters())
    n_enc = len(list(encoder.parameters()))
    assert any(not torch.equal(b, a) for b, a in zip(before[:n_enc], after[:n_enc]))
    assert any(not torch.equal(b, a) for b, a in zip(before[n_enc:], after[n_enc:]))
    assert all(torch.equal(b, a) for b, a in zip(frozen, unet.parameters()))
    trainer.save_model(str(tmp_path / "final"))
    assert (tmp_path / "final" / "shift_decoder.pt").is_file()


# ------------------------------------------------------------------------------------------------------ errors
def test_loss_errors_name_the_argument():
    config = DiTiConfig(latent_dim=4, num_chunks=2, num_train_timesteps=10)
    scheduler = FakeScheduler(np.linspace(1e-3, 0.2, 10))
    x0, z = torch.rand(2, 1, 8, 8), torch.randn(2, 4)
    kw = dict(
        frozen_diffusion=eps_model,
        decoder=LinearDecoder(4),
        scheduler=scheduler,
        chunk_index=timestep_chunk_index(config),
        masks=chunk_masks(config),
    )
    with pytest.raises(ValueError, match="mode"):
        diti_loss(z, x0, mode="dual", **kw)
    with pytest.raises(ValueError, match="timesteps"):
        diti_loss(z, x0, timesteps=torch.tensor([0, 10]), **kw)
    with pytest.raises(ValueError, match="noise"):
        diti_loss(z, x0, noise=torch.randn(2, 1, 4, 4), **kw)
    with pytest.raises(ValueError, match="representation"):
        diti_loss(torch.randn(3, 4), x0, **kw)
    with pytest.raises(ValueError, match="num_train_timesteps"):
        diti_loss(z, x0, **{**kw, "chunk_index": torch.zeros(20, dtype=torch.long)})
    with pytest.raises(ValueError, match="reduction"):
        diti_loss(z, x0, reduction="avg", **kw)
    with pytest.raises(ValueError, match="gamma"):
        loss_weights(scheduler, gamma=-1.0)
    with pytest.raises(ValueError, match="alphas_cumprod"):
        shift_coefficients(torch.tensor([0.5, 0.9]))


def test_encoder_input_errors():
    encoder = DiTiEncoder(DiTiConfig(hidden_sizes=[4, 8], latent_dim=4, num_chunks=2))
    with pytest.raises(TypeError, match="pixel_values"):
        encoder(np.zeros((1, 1, 8, 8)))
    with pytest.raises(TypeError, match="pixel_values"):
        encoder(torch.zeros(1, 1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="pixel_values"):
        encoder(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="representation"):
        encoder.chunks(torch.zeros(1, 5))


def test_classifier_label_errors():
    from hf_methods.models.diti import DiTiForImageClassification

    model = DiTiForImageClassification(DiTiConfig(hidden_sizes=[4, 8], latent_dim=4, num_chunks=2, num_labels=3))
    with pytest.raises(ValueError, match="labels"):
        model(torch.zeros(2, 1, 8, 8), labels=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="labels"):
        model(torch.zeros(2, 1, 8, 8), labels=torch.tensor([0]))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"num_chunks": 5, "latent_dim": 4}, "num_chunks"),
        ({"num_chunks": 4, "num_train_timesteps": 3}, "num_chunks"),
        ({"timestep_boundaries": [100, 50, 900]}, "timestep_boundaries"),
        ({"timestep_boundaries": [0, 50, 900]}, "timestep_boundaries"),
        ({"hidden_sizes": [8, 0]}, "hidden_sizes"),
        ({"num_labels": 0}, "num_labels"),
        ({"initializer_range": -1.0}, "initializer_range"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiTiConfig(**kwargs)


def test_trainer_errors(tmp_path):
    from transformers import TrainingArguments

    from hf_methods.common.diffusion import ddpm_scheduler
    from hf_methods.models.diti import DiTiTrainer

    encoder, decoder, unet, scheduler = tiny_pieces()
    args = TrainingArguments(str(tmp_path), max_steps=1, report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="num_train_timesteps"):
        DiTiTrainer(model=encoder, frozen_diffusion=unet, scheduler=ddpm_scheduler(60), decoder=decoder, args=args)
    with pytest.raises(ValueError, match="mode"):
        DiTiTrainer(model=encoder, frozen_diffusion=unet, scheduler=scheduler, decoder=decoder, args=args, mode="x")
    with pytest.raises(TypeError, match="frozen_diffusion"):
        DiTiTrainer(model=encoder, frozen_diffusion=lambda x, t: x, scheduler=scheduler, args=args)


def test_analysis_errors():
    from hf_methods.models.diti import chunk_probe, counterfactual_interpolate

    encoder, decoder, unet, scheduler = tiny_pieces()
    x, a = torch.rand(20, 1, 8, 8), {"a": torch.rand(20)}
    with pytest.raises(ValueError, match="discrete"):
        chunk_probe(encoder, x, a, x, a, discrete=["b"])
    with pytest.raises(ValueError, match="same"):
        chunk_probe(encoder, x, a, x, {"b": torch.rand(20)})
    with pytest.raises(ValueError, match="chunk_slices"):
        chunk_probe(encoder, x, a, x, a, chunk_slices=[(0, 9)])
    with pytest.raises(ValueError, match="ridge"):
        chunk_probe(encoder, x, a, x, a, ridge=0.0)
    with pytest.raises(ValueError, match="chunks"):
        counterfactual_interpolate(encoder, decoder, unet, scheduler, x[:1], x[1:2], [4])
    with pytest.raises(ValueError, match="x1 and x2"):
        counterfactual_interpolate(encoder, decoder, unet, scheduler, x[:1], x[1:3], [0])


def test_data_and_argument_errors():
    from hf_methods.models.diti.training import DiTiArguments, textured_digits

    with pytest.raises(ValueError, match="amplitude"):
        textured_digits("train", amplitude=1.0)
    with pytest.raises(ValueError, match="split"):
        textured_digits("valid")
    for kwargs, match in [
        ({"mode": "dual"}, "--mode"),
        ({"num_chunks": 32, "latent_dim": 16}, "--num_chunks"),
        ({"texture_amplitude": 1.5}, "--texture_amplitude"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"base_steps": 0}, "--base_steps"),
    ]:
        with pytest.raises(ValueError, match=match):
            DiTiArguments(output_dir="x", **kwargs).validate()


def test_textured_digits_attributes():
    from hf_methods.models.diti.training import checkerboard, textured_digits

    images, attributes = textured_digits("test", amplitude=0.25)
    assert images.shape[1:] == (1, 8, 8) and images.abs().max() <= 1.0 + 1e-6
    assert attributes["texture"].abs().max() <= 0.25
    plain, _ = textured_digits("test", amplitude=0.0)
    residual = images - 0.75 * plain
    torch.testing.assert_close(residual, attributes["texture"].view(-1, 1, 1, 1) * checkerboard(8))


# ------------------------------------------------------------------------------------------------------ recipe
def load_recipe():
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_diti", repo_root() / "recipes" / "diti.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


def run_recipe(folder, *extra):
    return load_recipe().main(
        [
            "--output_dir",
            str(folder),
            "--max_steps",
            "2",
            "--base_steps",
            "2",
            "--checkpoint_every",
            "0",
            "--log_every",
            "0",
            "--batch_size",
            "16",
            *extra,
        ]
    )


def test_recipe_runs_a_few_steps(tmp_path):
    from transformers import AutoModel

    metrics = run_recipe(tmp_path / "run")
    assert set(metrics) >= {"eval/texture_r2_chunk0", "eval/digit_accuracy_chunk3", "eval/linear_head_digit_accuracy"}
    out = tmp_path / "run"
    assert (out / "shift_decoder" / "config.json").is_file() and (out / "base_unet" / "config.json").is_file()
    assert type(AutoModel.from_pretrained(out)).__name__ == "DiTiEncoder"  # the encoder alone, from the probe's folder


@pytest.mark.slow
def test_recipe_folder_serves_an_image_classification_pipeline(tmp_path):
    from PIL import Image
    from transformers import pipeline

    run_recipe(tmp_path / "run")
    classify = pipeline("image-classification", model=str(tmp_path / "run"), trust_remote_code=True)
    image = Image.fromarray((np.arange(64).reshape(8, 8) * 4).astype("uint8"), mode="L")
    answer = classify(image, top_k=3)
    assert len(answer) == 3 and {a["label"] for a in answer} <= {str(i) for i in range(10)}


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    from safetensors.torch import load_file

    common = ("--max_steps", "6", "--seed", "1")
    load_recipe().main(
        [
            "--output_dir",
            str(tmp_path / "a"),
            "--base_steps",
            "3",
            "--checkpoint_every",
            "0",
            "--log_every",
            "0",
            "--batch_size",
            "16",
            *common,
        ]
    )
    load_recipe().main(
        [
            "--output_dir",
            str(tmp_path / "b"),
            "--base_steps",
            "3",
            "--checkpoint_every",
            "3",
            "--log_every",
            "0",
            "--batch_size",
            "16",
            *common,
        ]
    )
    import shutil

    (tmp_path / "b" / "model.safetensors").unlink()
    for checkpoint in sorted((tmp_path / "b" / "checkpoints").iterdir())[1:]:  # as if killed after step 3
        shutil.rmtree(checkpoint)
    load_recipe().main(
        [
            "--output_dir",
            str(tmp_path / "b"),
            "--base_steps",
            "3",
            "--checkpoint_every",
            "3",
            "--log_every",
            "0",
            "--batch_size",
            "16",
            "--resume_from_checkpoint",
            "latest",
            *common,
        ]
    )
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if k.startswith("diti."))


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("diti").usage, namespace)
    assert namespace["z"].shape == (8, 16)
    assert set(namespace["probe"].chunk_scores) == {"digit", "texture"}

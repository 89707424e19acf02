"""Tests of P62 `harmonic_denoiser`: the bias-free denoiser, its exact homogeneity, the Jacobian eigen-analysis, the
Kadkhodaie–Simoncelli sampler and the memorisation / generalisation measurements, each against a plain reference."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.analysis.harmonic_denoiser import (
    BiasFreeBatchNorm2d,
    BiasFreeDenoiser,
    BiasFreeDenoiserConfig,
    HarmonicDenoiserArguments,
    denoiser_jacobian_eigs,
    disjoint_splits,
    generalization_gap,
    homogeneity_check,
    image_similarity,
    nearest_training_distance,
    train_blind_denoiser,
)

TINY = {"num_layers": 4, "num_kernels": 6}


def tiny_model(seed: int = 0, dtype=torch.float64, **overrides) -> BiasFreeDenoiser:
    """A random tiny denoiser in evaluation mode, with non-trivial running standard deviations and gains."""
    torch.manual_seed(seed)
    model = BiasFreeDenoiser(BiasFreeDenoiserConfig(**{**TINY, **overrides})).to(dtype)
    with torch.no_grad():
        for norm in model.norms:
            norm.running_std.uniform_(0.5, 2.0)
            norm.weight.normal_(0.0, 1.0)
    return model.eval()


def noisy_images(n: int = 3, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 8, 8, generator=g) + 0.3 * torch.randn(n, 1, 8, 8, generator=g)).to(dtype)


def reference_residual(model: BiasFreeDenoiser, y: torch.Tensor) -> torch.Tensor:
    """The network written out layer by layer with F.conv2d (evaluation mode: divide by the running std)."""
    h = F.conv2d(y, model.convs[0].weight, padding=model.config.kernel_size // 2)
    if not model.config.first_layer_linear:
        h = h.clamp_min(0)
    for conv, norm in zip(model.convs[1:-1], model.norms):
        h = F.conv2d(h, conv.weight, padding=model.config.kernel_size // 2)
        h = (h / norm.running_std * norm.weight).clamp_min(0)
    return F.conv2d(h, model.convs[-1].weight, padding=model.config.kernel_size // 2)


# ------------------------------------------------------------------------------------------- the bias-free network


def test_no_additive_parameter_anywhere():
    model = tiny_model()
    assert all(conv.bias is None for conv in model.convs)
    names = [name for name, _ in model.named_parameters()]
    assert not any("bias" in name or "shift" in name for name in names), names
    # the zero image is a fixed point of a bias-free network: f(0) = 0
    assert torch.equal(model.residual(torch.zeros(2, 1, 8, 8, dtype=torch.float64)), torch.zeros(2, 1, 8, 8).double())


def test_forward_matches_the_network_written_out():
    for first_layer_linear in (False, True):
        model = tiny_model(first_layer_linear=first_layer_linear)
        y = noisy_images()
        out = model(pixel_values=y)
        torch.testing.assert_close(out.residual, reference_residual(model, y), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.denoised, y - out.residual, rtol=0, atol=0)


def test_loss_is_the_mean_squared_denoising_error():
    model = tiny_model()
    y, x = noisy_images(seed=1), noisy_images(seed=2)
    out = model(pixel_values=y, labels=x)
    reference = ((y - reference_residual(model, y) - x) ** 2).mean()
    torch.testing.assert_close(out.loss, reference, rtol=1e-12, atol=1e-14)


def test_homogeneity_is_exact_in_float64():
    """f(αy) = αf(y) for α > 0 and f(y) = ∇f(y)·y, by direct evaluation and by `homogeneity_check`."""
    model = tiny_model()
    y = noisy_images()
    for alpha in (0.1, 3.0, 17.0):
        torch.testing.assert_close(model.residual(alpha * y), alpha * model.residual(y), rtol=1e-12, atol=1e-13)
    check = homogeneity_check(model, y, alphas=(0.5, 4.0))
    assert check.alphas == [0.5, 4.0] and len(check.scaling_errors) == 2
    assert check.max_error < 1e-12, check
    # a float32 model is checked in float64 (on a copy): the model keeps its dtype
    model32 = tiny_model(dtype=torch.float32)
    assert homogeneity_check(model32, y.float()).max_error < 1e-12
    assert model32.convs[0].weight.dtype == torch.float32


def test_homogeneity_check_detects_a_bias():
    """A network with an additive constant is not homogeneous: the check must see it."""
    model = tiny_model()
    model.convs[1].bias = torch.nn.Parameter(torch.full((TINY["num_kernels"],), 0.5, dtype=torch.float64))
    assert homogeneity_check(model, noisy_images()).max_error > 1e-3


def test_batch_norm_training_and_evaluation_against_numpy():
    norm = BiasFreeBatchNorm2d(3, momentum=0.2, eps=1e-5).double()
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1))
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 2.0
    arr = x.numpy()
    std = np.sqrt(arr.var(axis=(0, 2, 3), ddof=0) + 1e-5)  # the mean is NOT subtracted from x
    expected = arr / std.reshape(1, 3, 1, 1) * np.array([0.5, -1.0, 2.0]).reshape(1, 3, 1, 1)
    norm.train()
    np.testing.assert_allclose(norm(x).detach().numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(norm.running_std.view(-1).numpy(), 0.8 * 1.0 + 0.2 * std, rtol=1e-12)
    norm.eval()
    running = norm.running_std.view(1, 3, 1, 1).numpy()
    expected_eval = arr / running * np.array([0.5, -1.0, 2.0]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(norm(x).detach().numpy(), expected_eval, rtol=1e-12)


def test_add_noise_follows_the_schedule():
    config = {"min_noise_level": 0.04, "max_noise_level": 0.64}
    clean = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    for schedule in ("uniform", "quadratic"):
        model = tiny_model(noise_schedule=schedule, **config)
        noisy, sigma = model.add_noise(clean, torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(3)
        u = torch.rand((5, 1, 1, 1), generator=g, dtype=torch.float64)
        z = torch.randn(clean.shape, generator=g, dtype=torch.float64)
        expected = 0.04 + u * 0.6 if schedule == "uniform" else (0.2 + u * (0.8 - 0.2)) ** 2
        torch.testing.assert_close(sigma, expected)
        torch.testing.assert_close(noisy, clean + expected * z)


def test_save_pretrained_round_trip_and_auto_class(tmp_path):
    from transformers import AutoConfig, AutoModel

    model = tiny_model(dtype=torch.float32)
    model.save_pretrained(tmp_path)
    reloaded = BiasFreeDenoiser.from_pretrained(tmp_path).eval()
    for (n1, t1), (n2, t2) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert n1 == n2 and torch.equal(t1, t2), n1
    y = noisy_images(dtype=torch.float32)
    assert torch.equal(model(pixel_values=y).denoised, reloaded(pixel_values=y).denoised)
    assert type(AutoConfig.from_pretrained(tmp_path)) is BiasFreeDenoiserConfig
    auto = AutoModel.from_pretrained(tmp_path).eval()
    assert type(auto) is BiasFreeDenoiser
    assert torch.equal(auto(pixel_values=y).denoised, model(pixel_values=y).denoised)


REMOTE_SCRIPT = """
import sys, torch, transformers
class BlockHfMethods:  # hf-methods is not installed on this "machine"
    def find_spec(self, name, path=None, target=None):
        if name == "hf_methods" or name.startswith("hf_methods."):
            raise ImportError("hf_methods is blocked in this process")
sys.meta_path.insert(0, BlockHfMethods())
model = transformers.AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
torch.save(model(pixel_values=torch.load(sys.argv[1] + "/inputs.pt")).denoised, sys.argv[1] + "/remote.pt")
print(type(model).__module__)
"""


@pytest.mark.slow
def test_remote_code_loads_without_hf_methods(tmp_path):
    import os
    import subprocess
    import sys

    model = tiny_model(dtype=torch.float32)
    model.save_pretrained(tmp_path)
    inputs = noisy_images(dtype=torch.float32)
    torch.save(inputs, tmp_path / "inputs.pt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(tmp_path)], cwd=tmp_path.parent, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "transformers_modules" in proc.stdout
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "remote.pt"), model(pixel_values=inputs).denoised)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_layers": 1}, "num_layers"),
        ({"num_kernels": 0}, "num_kernels"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"num_channels": 0}, "num_channels"),
        ({"noise_schedule": "cosine"}, "noise_schedule"),
        ({"min_noise_level": -0.1}, "min_noise_level"),
        ({"max_noise_level": 0.0}, "max_noise_level"),
        ({"batch_norm_momentum": 0.0}, "batch_norm_momentum"),
        ({"batch_norm_eps": -1.0}, "batch_norm_eps"),
    ],
)
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BiasFreeDenoiserConfig(**kwargs)


def test_bad_inputs_are_rejected():
    model = tiny_model()
    with pytest.raises(ValueError, match="pixel_values"):
        model(pixel_values=torch.zeros(2, 3, 8, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="pixel_values"):
        model(pixel_values=torch.zeros(2, 1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        model(pixel_values=torch.zeros(2, 1, 8, 8, dtype=torch.float64), labels=torch.zeros(1, 1, 8, 8).double())
    with pytest.raises(ValueError, match="clean"):
        model.add_noise(torch.zeros(8, 8, dtype=torch.float64))


# ------------------------------------------------------------------------------------------------- the sampler


@torch.no_grad()
def reference_sampler(model, y0, z, h0, beta, sigma_L, max_steps, sigma_max=2.0):
    """Kadkhodaie & Simoncelli (2021), Algorithm 1, one chain, Python floats for the schedule."""
    y = y0.clone()
    n = y.numel()
    f = model.residual(y)
    sigma = float(f.norm()) / math.sqrt(n)
    t = 1
    while sigma_L < sigma <= sigma_max and t <= max_steps:
        h = h0 * t / (1 + h0 * (t - 1))
        gamma = math.sqrt((1 - beta * h) ** 2 - (1 - h) ** 2) * sigma
        y = y - h * f + gamma * z[t - 1]
        f = model.residual(y)
        sigma = float(f.norm()) / math.sqrt(n)
        t += 1
    return y - f, t - 1, sigma


def test_sampler_matches_the_algorithm_chain_by_chain():
    model = tiny_model()
    shape, steps = (3, 1, 8, 8), 40
    g = torch.Generator().manual_seed(5)
    y0 = 0.5 + torch.randn(shape, generator=g, dtype=torch.float64)
    z = torch.randn((steps, *shape), generator=g, dtype=torch.float64)
    sigma_L = 0.3
    out = model.sample(
        shape, h0=0.05, beta=0.3, sigma_L=sigma_L, max_steps=steps, generator=torch.Generator().manual_seed(5)
    )
    for i in range(3):
        expected, n_steps, sigma = reference_sampler(model, y0[i : i + 1], z[:, i : i + 1], 0.05, 0.3, sigma_L, steps)
        torch.testing.assert_close(out.samples[i : i + 1], expected, rtol=1e-10, atol=1e-10)
        assert int(out.num_steps[i]) == n_steps
        assert bool(out.converged[i]) == (sigma <= sigma_L)
    assert out.sigmas.shape[1] == 3 and out.sigmas.shape[0] == int(out.num_steps.max()) + 1


def test_sampler_stops_diverging_chains():
    model = tiny_model()
    model.residual = lambda y: -0.5 * y  # D(y) = 1.5 y: every chain blows up
    out = model.sample((2, 1, 8, 8), sigma_max=2.0, max_steps=500, generator=torch.Generator().manual_seed(0))
    assert out.diverged.all() and not out.converged.any()
    assert int(out.num_steps.max()) < 500
    assert float(out.sigmas[-1].min()) > 2.0  # each chain stopped at its first σ_t above sigma_max
    unguarded = model.sample((2, 1, 8, 8), sigma_max=None, max_steps=30, generator=torch.Generator().manual_seed(0))
    assert not unguarded.diverged.any() and (unguarded.num_steps == 30).all()


def test_sampler_uses_initial_noise_and_shares_noise_between_models():
    a, b = tiny_model(0), tiny_model(1)
    y0 = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    out = a.sample(
        (2, 1, 8, 8), initial_noise=y0, max_steps=1, sigma_L=1e-9, generator=torch.Generator().manual_seed(0)
    )
    # one step from y0: y1 = y0 − h f(y0) + γ z with h = h0
    assert int(out.num_steps[0]) == 1
    gap = generalization_gap(a, a, n_samples=2, max_steps=10)  # one model against itself: identical pairs
    assert gap.similarities == pytest.approx([1.0, 1.0], abs=1e-12)
    assert gap.converged_a == gap.converged_b and gap.steps_a == gap.steps_b
    gap_ab = generalization_gap(a, b, n_samples=2, max_steps=10)
    assert max(gap_ab.similarities) < 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"h0": 0.0}, "h0"),
        ({"beta": 1.5}, "beta"),
        ({"sigma_L": 0.0}, "sigma_L"),
        ({"sigma_0": -1.0}, "sigma_0"),
        ({"max_steps": 0}, "max_steps"),
        ({"init_mean": float("nan")}, "init_mean"),
        ({"initial_noise": torch.zeros(1, 1, 4, 4)}, "initial_noise"),
        ({"sigma_max": 0.001}, "sigma_max"),
    ],
)
def test_sampler_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_model().sample((2, 1, 8, 8), **kwargs)


def test_sampler_rejects_a_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        tiny_model().sample((2, 8, 8))
    with pytest.raises(ValueError, match="num_channels"):
        tiny_model().sample((2, 3, 8, 8))


# ------------------------------------------------------------------------------------------- Jacobian analysis


def test_jacobian_against_row_by_row_autograd_and_its_eigendecomposition():
    model = tiny_model()
    y = noisy_images(1)
    result = denoiser_jacobian_eigs(model, y, num_vectors=5)
    # the official code's way: one autograd call per output pixel (rows of ∇D)
    inp = y.clone().requires_grad_(True)
    out = model.denoise(inp)
    rows = [
        torch.autograd.grad(out[0, 0, i, j], inp, retain_graph=True)[0].reshape(-1) for i in range(8) for j in range(8)
    ]
    jacobian = torch.stack(rows).detach()
    assert result.effective_dimension == pytest.approx(float(torch.trace(jacobian)), rel=1e-10)
    symmetric = 0.5 * (jacobian + jacobian.T).numpy()
    expected = np.sort(np.linalg.eigvalsh(symmetric))[::-1]
    np.testing.assert_allclose(result.eigenvalues.numpy(), expected, rtol=1e-9, atol=1e-10)
    asym = np.linalg.norm(jacobian.numpy() - jacobian.numpy().T) / np.linalg.norm(jacobian.numpy())
    assert result.asymmetry == pytest.approx(asym, rel=1e-9)
    vectors = result.eigenvectors.reshape(5, -1).numpy()
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(5), atol=1e-10)
    for k in range(5):  # S e_k = λ_k e_k
        np.testing.assert_allclose(symmetric @ vectors[k], expected[k] * vectors[k], atol=1e-9)
    assert result.identity_error < 1e-12  # ∇D(y)·y = D(y)
    torch.testing.assert_close(result.denoised, model.denoise(y)[0].detach())


def test_jacobian_rejects_bad_inputs():
    model = tiny_model()
    with pytest.raises(ValueError, match="noisy_image"):
        denoiser_jacobian_eigs(model, noisy_images(2))
    with pytest.raises(TypeError, match="noisy_image"):
        denoiser_jacobian_eigs(model, np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="num_vectors"):
        denoiser_jacobian_eigs(model, noisy_images(1), num_vectors=65)
    with pytest.raises(TypeError, match="model"):
        denoiser_jacobian_eigs(torch.nn.Linear(2, 2), noisy_images(1))


def test_homogeneity_check_rejects_bad_inputs():
    with pytest.raises(ValueError, match="alphas"):
        homogeneity_check(tiny_model(), noisy_images(), alphas=(1.0, -2.0))
    with pytest.raises(ValueError, match="noisy_images"):
        homogeneity_check(tiny_model(), torch.zeros(8, 8).double())


# ----------------------------------------------------------------------------- memorisation / generalisation


def test_image_similarity_against_numpy():
    a, b = noisy_images(4, seed=1), noisy_images(4, seed=2)
    for i in range(4):
        u = a[i].numpy().ravel() - a[i].numpy().mean()
        v = b[i].numpy().ravel() - b[i].numpy().mean()
        assert float(image_similarity(a, b)[i]) == pytest.approx(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
    assert torch.allclose(image_similarity(a, 3.0 * a + 1.0), torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        image_similarity(a, b[:2])


def test_nearest_training_distance_against_a_loop():
    samples, train = noisy_images(3, seed=3), noisy_images(7, seed=4)
    result = nearest_training_distance(samples, train)
    for i in range(3):
        distances = [float(np.linalg.norm(samples[i].numpy() - t.numpy())) for t in train]
        j = int(np.argmin(distances))
        assert result.indices[i] == j
        assert result.distances[i] == pytest.approx(distances[j])
        assert result.relative_distances[i] == pytest.approx(distances[j] / float(np.linalg.norm(train[j].numpy())))
        sims = [float(image_similarity(samples[i : i + 1], t[None])[0]) for t in train]
        assert result.max_similarities[i] == pytest.approx(max(sims))
    exact = nearest_training_distance(train[:2], train)  # training images are their own nearest images
    assert exact.indices == [0, 1] and exact.distances == [0.0, 0.0]
    with pytest.raises(ValueError, match="same shape"):
        nearest_training_distance(samples, torch.zeros(3, 1, 4, 4).double())


def test_generalization_gap_rejects_bad_inputs():
    a = tiny_model()
    with pytest.raises(ValueError, match="n_samples"):
        generalization_gap(a, a, n_samples=0)
    with pytest.raises(ValueError, match="image_size"):
        generalization_gap(a, a, image_size=(8,))
    with pytest.raises(TypeError, match="unknown sampler"):
        generalization_gap(a, a, steps=3)
    with pytest.raises(TypeError, match="model_b"):
        generalization_gap(a, torch.nn.Identity())
    with pytest.raises(ValueError, match="channels"):
        generalization_gap(a, tiny_model(num_channels=3))


# --------------------------------------------------------------------------------------------------- training


def test_disjoint_splits():
    s1, s2 = disjoint_splits(50, 20, seed=0)
    assert len(s1) == len(s2) == 20 and not set(s1.tolist()) & set(s2.tolist())
    assert torch.equal(disjoint_splits(50, 20, seed=0)[0], s1)
    with pytest.raises(ValueError, match="size"):
        disjoint_splits(50, 26, seed=0)
    with pytest.raises(ValueError, match="size"):
        disjoint_splits(50, 0, seed=0)


def test_training_lowers_the_denoising_error():
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)).round()  # binary 8×8 images
    torch.manual_seed(0)
    model = BiasFreeDenoiser(BiasFreeDenoiserConfig(**TINY))
    losses = train_blind_denoiser(model, images, steps=30, batch_size=16, learning_rate=1e-2, seed=0)
    assert len(losses) == 30 and not model.training
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    with pytest.raises(ValueError, match="steps"):
        train_blind_denoiser(model, images, steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        train_blind_denoiser(model, images, steps=1, learning_rate=0.0)
    with pytest.raises(ValueError, match="images"):
        train_blind_denoiser(model, images[0], steps=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train_size": 0}, "train_size"),
        ({"noise_schedule": "cosine"}, "noise_schedule"),
        ({"sample_h0": 2.0}, "sample_h0"),
        ({"jacobian_sigma": 0.0}, "jacobian_sigma"),
        ({"num_layers": 1}, "num_layers"),
    ],
)
def test_recipe_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HarmonicDenoiserArguments(output_dir="/tmp/unused", **kwargs).validate()


# ------------------------------------------------------------------------------------------------------ recipe


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.harmonic_denoiser import main

    metrics = main(["--output_dir", str(tmp_path), "--max_steps", "3", "--train_size", "10", "--batch_size", "16",
                    "--num_kernels", "8", "--num_samples", "2", "--sample_max_steps", "5", "--log_every", "1",
                    "--checkpoint_every", "0", "--cpu_threads", "1"])  # fmt: skip
    assert metrics["eval/homogeneity_error"] < 1e-10
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "README.md").exists()
    assert (tmp_path / "samples.png").exists() and (tmp_path / "jacobian.png").exists()
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["train_size"] == 10 and len(analysis["eigenvalues"]) == 64
    model = BiasFreeDenoiser.from_pretrained(tmp_path)
    assert model.config.num_kernels == 8

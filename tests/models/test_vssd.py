"""VSSD (P03): the NC-SSD kernel against its pairwise sum, causal SSD against its recurrence, non-causality,
permutation equivariance, the hybrid stage layout, the recipe and pipeline, and bad inputs."""

import math

import numpy as np
import pytest
import torch

from hf_methods.models.vssd import (
    NonCausalSSD,
    VSSDConfig,
    VSSDForImageClassification,
    VSSDModel,
    causal_ssd,
    non_causal_ssd,
)
from tests.cases import MODEL_CASES  # imported first: it discovers tests/models/cases_vssd.py

VSSD_CASE = next(c for c in MODEL_CASES if c.name == "vssd")


def tiny_config(**overrides) -> VSSDConfig:
    return VSSDConfig(**{**VSSD_CASE.config_kwargs, **overrides})


def ssd_inputs(seed=0, batch=2, length=10, heads=4, head_dim=3, groups=2, state=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return dict(
        x=torch.randn(batch, length, heads, head_dim, generator=g, dtype=dtype),
        dt=torch.rand(batch, length, heads, generator=g, dtype=dtype) * 0.5 + 0.01,
        a_log=torch.randn(heads, generator=g, dtype=dtype) * 0.5,
        B=torch.randn(batch, length, groups, state, generator=g, dtype=dtype),
        C=torch.randn(batch, length, groups, state, generator=g, dtype=dtype),
        D=torch.randn(heads, generator=g, dtype=dtype),
    )


# ----------------------------------------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("positive_da", [True, False])
def test_non_causal_ssd_matches_the_pairwise_sum(positive_da):
    """y_i = Σ_j (C_i·B_j) dA_j x_j + D x_i, token pair by token pair in Python floats; head h reads group h mod G."""
    inp = ssd_inputs()
    got = non_causal_ssd(**inp, positive_da=positive_da)
    x, dt, a_log, B, C, D = (inp[k].tolist() for k in ("x", "dt", "a_log", "B", "C", "D"))
    sign = 1.0 if positive_da else -1.0
    for b in range(2):
        for h in range(4):
            g = h % 2
            for i in range(10):
                for p in range(3):
                    want = D[h] * x[b][i][h][p]
                    for j in range(10):
                        score = sum(c * k for c, k in zip(C[b][i][g], B[b][j][g]))
                        want += score * sign * dt[b][j][h] * math.exp(a_log[h]) * x[b][j][h][p]
                    assert got[b, i, h, p].item() == pytest.approx(want, rel=1e-10, abs=1e-10)


def test_causal_ssd_matches_the_recurrence():
    """Mamba2's scan h_i = exp(dt_i a) h_{i−1} + dt_i B_iᵀ x_i, y_i = C_i h_i + D x_i (numpy), a = −exp(A_log)."""
    inp = ssd_inputs(seed=1)
    got = causal_ssd(**inp).numpy()
    x, dt, a_log, B, C, D = (inp[k].numpy() for k in ("x", "dt", "a_log", "B", "C", "D"))
    want = np.zeros_like(got)
    for b in range(2):
        for h in range(4):
            g, a = h % 2, -np.exp(a_log[h])
            state = np.zeros((5, 3))
            for i in range(10):
                state = np.exp(dt[b, i, h] * a) * state + dt[b, i, h] * np.outer(B[b, i, g], x[b, i, h])
                want[b, i, h] = C[b, i, g] @ state + D[h] * x[b, i, h]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_causal_ssd_without_decay_is_the_causal_half_of_nc_ssd():
    """A_log = 0 makes NC-SSD weigh token j by dt_j; A_log = −30 makes the causal decay exp(a Σ dt) = 1. Then causal
    SSD is NC-SSD's sum restricted to j ≤ i: equal at the last token (it sees every token), different at the first."""
    inp = ssd_inputs(seed=2)
    nc = non_causal_ssd(**{**inp, "a_log": torch.zeros(4, dtype=torch.float64)})
    causal = causal_ssd(**{**inp, "a_log": torch.full((4,), -30.0, dtype=torch.float64)})
    torch.testing.assert_close(nc[:, -1], causal[:, -1], rtol=1e-9, atol=1e-9)
    assert (nc[:, 0] - causal[:, 0]).abs().max() > 1e-3


def test_linear_form_matches_the_quadratic_form_in_float32():
    inp = ssd_inputs(seed=3, length=64, dtype=torch.float32)
    got = non_causal_ssd(**inp)
    d_a = inp["dt"] * torch.exp(inp["a_log"])
    heads = torch.arange(4) % 2
    scores = torch.einsum("bign,bjgn->bgij", inp["C"][:, :, heads], inp["B"][:, :, heads])  # (b, h, i, j)
    quadratic = torch.einsum("bhij,bjhp->bihp", scores, inp["x"] * d_a.unsqueeze(-1))
    want = quadratic + inp["D"].view(1, 1, -1, 1) * inp["x"]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)  # float32 sums in a different order


# ----------------------------------------------------------------------------------------------------------- mixer


def _mixer(mode="non_causal", seed=0, **kwargs):
    torch.manual_seed(seed)
    return NonCausalSSD(16, 2, state_size=8, mode=mode, **kwargs).eval()


def test_non_causality_last_token_reaches_the_first():
    u = torch.randn(2, 36, 16, generator=torch.Generator().manual_seed(0))
    changed = u.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        nc = _mixer("non_causal")
        assert (nc(u, 6, 6)[:, 0] - nc(changed, 6, 6)[:, 0]).abs().max() > 1e-4
        causal = _mixer("causal")
        before, after = causal(u, 6, 6), causal(changed, 6, 6)
    # the 3×3 convolution spreads the change to the last token's grid neighbours only, all after token 0 in raster
    # order: the causal mixer's first 28 outputs (rows 0-4, minus the last token's upper neighbours) cannot move
    assert (before[:, :28] - after[:, :28]).abs().max() < 1e-12
    assert (before[:, -1] - after[:, -1]).abs().max() > 1e-4


def test_mixer_without_conv_is_permutation_equivariant():
    mixer = _mixer(conv_kernel=1)
    u = torch.randn(2, 25, 16, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(25, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(mixer(u, 5, 5)[:, perm], mixer(u[:, perm], 5, 5), rtol=1e-5, atol=1e-5)
        # the 3×3 convolution (and causal order) break it, as they should
        assert (_mixer()(u, 5, 5)[:, perm] - _mixer()(u[:, perm], 5, 5)).abs().max() > 1e-3
        causal = _mixer("causal", conv_kernel=1)
        assert (causal(u, 5, 5)[:, perm] - causal(u[:, perm], 5, 5)).abs().max() > 1e-3


def test_mixer_initialisation_follows_mamba2():
    mixer = NonCausalSSD(64, 8, state_size=4, a_init_range=(1.0, 16.0), dt_min=1e-3, dt_max=0.1)
    a = torch.exp(mixer.A_log)
    dt = torch.nn.functional.softplus(mixer.dt_bias)
    assert ((a >= 1.0) & (a <= 16.0)).all() and ((dt >= 1e-3 - 1e-7) & (dt <= 0.1 + 1e-7)).all()
    assert torch.equal(mixer.D, torch.ones(8))
    model = VSSDForImageClassification(tiny_config())
    ssd = model.vssd.stages[0].blocks[0].mixer
    assert ((torch.exp(ssd.A_log) >= 1.0) & (torch.exp(ssd.A_log) <= 16.0)).all()


# ----------------------------------------------------------------------------------------------------------- model


def test_default_layout_is_the_official_hybrid_tiny():
    config = VSSDConfig(num_labels=1000)
    assert config.mixer_types == ["ssd", "ssd", "ssd", "attention"]
    assert config.hidden_sizes == [64, 128, 256, 512]
    with torch.device("meta"):
        model = VSSDForImageClassification(config)
    mixers = [type(block.mixer).__name__ for stage in model.vssd.stages for block in stage.blocks]
    assert mixers == ["NonCausalSSD"] * 14 + ["VSSDAttention"] * 4
    # the official VSSD-Tiny counts 24.27M parameters (configs/vssd/vssd_tiny_e300.yaml), VSSD-Micro 13.5M
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 24.27
    with torch.device("meta"):
        micro = VSSDForImageClassification(
            VSSDConfig(embed_dim=48, depths=[2, 2, 8, 4], ssd_state_size=48, num_labels=1000)
        )
    assert round(sum(p.numel() for p in micro.parameters()) / 1e6, 1) == 13.5
    assert VSSDConfig(depths=[1], num_heads=[2]).mixer_types == ["ssd"]


def test_stages_halve_the_grid_and_double_the_width():
    config = tiny_config(image_size=16, depths=[1, 1, 1], num_heads=[2, 2, 2], patch_size=2)
    model = VSSDModel(config).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 16, 16), output_hidden_states=True)
    shapes = [tuple(h.shape) for h in out.hidden_states]
    assert shapes == [(2, 64, 8), (2, 64, 8), (2, 16, 16), (2, 4, 32)]
    assert out.last_hidden_state.shape == (2, 4, 32)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(1))


def test_loss_is_cross_entropy_and_drop_path_is_train_only():
    config = tiny_config(drop_path_rate=0.5)
    torch.manual_seed(0)
    model = VSSDForImageClassification(config)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    model.eval()
    out = model(x, labels=y)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, y))
    assert torch.equal(model(x).logits, out.logits)  # eval: deterministic
    model.train()
    torch.manual_seed(1)
    first = model(x).logits
    torch.manual_seed(2)
    assert not torch.equal(first, model(x).logits)  # stochastic depth drops residual branches per sample


def test_batch_norm_variant_runs():
    model = VSSDForImageClassification(tiny_config(conv_norm="batch_norm"))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    model.train()
    model(torch.rand(3, 1, 8, 8), labels=torch.tensor([0, 1, 2])).loss.backward()


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("vssd").usage, namespace)
    assert namespace["out"].logits.shape == (4, 10) and torch.isfinite(namespace["out"].loss)
    assert namespace["y"].shape == (2, 64, 32)


# ----------------------------------------------------------------------------------------------------------- recipe


def test_recipe_writes_a_checkpoint_the_image_pipeline_loads(tmp_path):
    """A few recipe steps; the folder (model, remote code, image processor) answers `pipeline("image-classification")`."""
    from PIL import Image
    from transformers import pipeline

    from hf_methods.models.vssd.training import digits_images
    from recipes.vssd import main

    out = tmp_path / "run"
    metrics = main(
        ["--output_dir", str(out), "--max_steps", "3", "--checkpoint_every", "0", "--embed_dim", "8",
         "--num_heads", "2,2", "--ssd_state_size", "4", "--log_every", "0"]
    )  # fmt: skip
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "modeling_vssd.py"} <= {
        p.name for p in out.iterdir()
    }
    classifier = pipeline("image-classification", model=str(out), device="cpu")
    _, _, x_test, _ = digits_images(channels=3)
    image = Image.fromarray(np.round(x_test[0, 0].numpy() * 255).astype(np.uint8), mode="L")  # opened as RGB
    predictions = classifier(image, top_k=3)
    assert len(predictions) == 3 and predictions[0]["label"] in {str(i) for i in range(10)}
    model = VSSDForImageClassification.from_pretrained(out).eval()
    with torch.no_grad():
        probs = model(x_test[:1]).logits.softmax(-1)[0]
    top = int(probs.argmax())
    assert predictions[0]["label"] == model.config.id2label[top]
    assert predictions[0]["score"] == pytest.approx(probs[top].item(), abs=1e-3)  # uint8 rounding of the pixels


# ----------------------------------------------------------------------------------------------------------- errors


def test_error_pixel_values_shape():
    model = VSSDModel(tiny_config())
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.rand(2, 3, 8, 8))  # 3 channels, config has 1
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.rand(2, 1, 7, 7))  # not divisible by patch_size * 2**(stages − 1) = 2
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.rand(2, 64))


def test_error_pixel_values_type():
    model = VSSDModel(tiny_config())
    with pytest.raises(TypeError, match="pixel_values"):
        model(torch.zeros(2, 1, 8, 8, dtype=torch.long))
    with pytest.raises(TypeError, match="pixel_values"):
        model(np.zeros((2, 1, 8, 8), dtype=np.float32))


def test_error_labels():
    model = VSSDForImageClassification(tiny_config())
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.tensor([0, 3]))  # num_labels = 3
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.tensor([0, 1, 2]))


def test_error_kernel_shapes():
    inp = ssd_inputs()
    with pytest.raises(ValueError, match="`dt`"):
        non_causal_ssd(**{**inp, "dt": inp["dt"][:, :, :2]})
    with pytest.raises(ValueError, match="`a_log` and `D`"):
        causal_ssd(**{**inp, "D": inp["D"][:2]})
    with pytest.raises(ValueError, match="`B` and `C`"):
        non_causal_ssd(**{**inp, "C": inp["C"][:, :5]})
    with pytest.raises(ValueError, match="groups"):
        non_causal_ssd(
            **{**inp, "B": inp["B"].repeat(1, 1, 2, 1)[:, :, :3], "C": inp["C"].repeat(1, 1, 2, 1)[:, :, :3]}
        )
    with pytest.raises(ValueError, match="`x`"):
        non_causal_ssd(**{**inp, "x": inp["x"][..., 0]})


def test_error_mixer_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        NonCausalSSD(16, 3)
    with pytest.raises(ValueError, match="ngroups"):
        NonCausalSSD(16, 2, ngroups=3)
    with pytest.raises(ValueError, match="mode"):
        NonCausalSSD(16, 2, mode="bidirectional")
    with pytest.raises(ValueError, match="conv_kernel"):
        NonCausalSSD(16, 2, conv_kernel=2)
    with pytest.raises(ValueError, match="height \\* width"):
        NonCausalSSD(16, 2, state_size=4)(torch.randn(1, 10, 16), 3, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depths": []}, "depths"),
        ({"embed_dim": 7}, "embed_dim"),
        ({"ssd_dt_min": 0.2}, "ssd_dt_min"),
        ({"ssd_conv_kernel": 4}, "ssd_conv_kernel"),
        ({"drop_path_rate": 1.0}, "drop_path_rate"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"mlp_ratio": 0}, "mlp_ratio"),
    ],
)
def test_error_config_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kwargs)


def test_error_recipe_arguments():
    from hf_methods.models.vssd.training import VSSDArguments

    for kwargs, flag in [
        ({"depths": "1,x"}, "--depths"),
        ({"num_heads": "2"}, "--num_heads"),
        ({"mixer_types": "ssd,mamba"}, "--mixer_types"),
        ({"ssd_mode": "bidirectional"}, "--ssd_mode"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"patch_size": 3}, "--patch_size"),
        ({"lr_scheduler_type": "step"}, "--lr_scheduler_type"),
        ({"num_heads": "3,4"}, "architecture flags"),
    ]:
        with pytest.raises(ValueError, match=flag):
            VSSDArguments(output_dir="x", **kwargs).validate()


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    """A run resumed from its step-4 checkpoint (mid-warm-up, stochastic depth on) ends with the same weights."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "vssd.py")
    common = ["--max_steps", "10", "--embed_dim", "8", "--num_heads", "2,2", "--ssd_state_size", "4",
              "--drop_path_rate", "0.3", "--warmup_ratio", "0.5", "--log_every", "0", "--cpu_threads", "1"]  # fmt: skip
    run = lambda *flags: subprocess.run([sys.executable, recipe, *map(str, flags), *common], check=True)  # noqa: E731
    run("--output_dir", tmp_path / "a", "--checkpoint_every", "0")
    resumed = tmp_path / "b"
    run("--output_dir", resumed, "--checkpoint_every", "4")
    first = sorted((resumed / "checkpoints").iterdir())[0]  # after step 4
    run("--output_dir", resumed, "--resume_from_checkpoint", first, "--checkpoint_every", "4")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

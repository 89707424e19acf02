"""The diffusion glue: the ε-objective written out, classifier-free guidance, argument errors."""

import math

import pytest
import torch

pytest.importorskip("diffusers")

from hf_methods.common.checks import check_positive_int  # noqa: E402
from hf_methods.common.diffusion import (  # noqa: E402
    ddpm_scheduler,
    digits_images,
    epsilon_loss,
    sample,
    tiny_unet,
    train_denoiser,
)


class Linear(torch.nn.Module):
    """ε_θ(x, t) = a·x + b·t/T, a denoiser whose output is easy to write down."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.3))
        self.b = torch.nn.Parameter(torch.tensor(-0.2))

    def forward(self, x, t, shift=0.0):
        return self.a * x + self.b * (t.float() / 1000).view(-1, *([1] * (x.dim() - 1))) + shift


def test_epsilon_loss_is_the_equation_written_out():
    scheduler = ddpm_scheduler()
    x0 = torch.randn(5, 3)
    t = torch.tensor([0, 10, 500, 900, 999])
    eps = torch.randn(5, 3)
    model = Linear()
    loss = epsilon_loss(model, scheduler, x0, timesteps=t, noise=eps, reduction="none")
    for i in range(5):
        abar = float(scheduler.alphas_cumprod[t[i]])
        x_t = math.sqrt(abar) * x0[i] + math.sqrt(1 - abar) * eps[i]
        predicted = 0.3 * x_t - 0.2 * float(t[i]) / 1000
        assert loss[i].item() == pytest.approx(((predicted - eps[i]) ** 2).mean().item(), rel=1e-5)
    mean = epsilon_loss(model, scheduler, x0, timesteps=t, noise=eps)
    assert mean.item() == pytest.approx(loss.mean().item(), rel=1e-6)


def test_guidance_combines_the_two_predictions():
    """With DDIM (η = 0) and one step, x₀ follows from ε̂ in closed form; guidance w mixes the two ε linearly."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    model = Linear()
    noise = torch.randn(2, 4)
    outs = {}
    for w in (0.0, 1.0, 3.0):
        outs[w] = sample(
            model,
            scheduler,
            (2, 4),
            num_inference_steps=1,
            conditioning={"shift": 1.0},
            unconditional={"shift": 0.0},
            guidance_scale=w,
            initial_noise=noise,
        )
    # The DDIM update is affine in ε̂, which is affine in w: the three outputs are collinear in w.
    torch.testing.assert_close(outs[3.0] - outs[1.0], 2 * (outs[1.0] - outs[0.0]), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(outs[0.0], outs[1.0])


def test_tiny_unets_take_their_conditioning():
    x = torch.randn(2, 1, 8, 8)
    t = torch.tensor([3, 700])
    assert tiny_unet()(x, t).sample.shape == x.shape
    assert tiny_unet(num_class_embeds=10)(x, t, class_labels=torch.tensor([1, 2])).sample.shape == x.shape
    text = tiny_unet(cross_attention_dim=16)
    assert text(x, t, encoder_hidden_states=torch.randn(2, 5, 16)).sample.shape == x.shape


def test_train_denoiser_lowers_the_loss_on_digits():
    images, labels = digits_images("train")
    assert images.shape[1:] == (1, 8, 8) and images.min() >= -1 and images.max() <= 1
    torch.manual_seed(0)
    unet = tiny_unet(block_out_channels=(16, 32))
    scheduler = ddpm_scheduler()
    losses = train_denoiser(
        unet,
        images,
        scheduler,
        steps=30,
        batch_size=64,
        learning_rate=2e-3,
        conditions=labels,
        conditioning_fn=lambda y: {},
        seed=0,
    )
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_bad_inputs_are_named():
    scheduler = ddpm_scheduler()
    model = Linear()
    with pytest.raises(ValueError, match="x0"):
        epsilon_loss(model, scheduler, torch.randn(4))
    with pytest.raises(ValueError, match="timesteps"):
        epsilon_loss(model, scheduler, torch.randn(4, 2), timesteps=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="noise"):
        epsilon_loss(model, scheduler, torch.randn(4, 2), noise=torch.randn(4, 3))
    with pytest.raises(ValueError, match="reduction"):
        epsilon_loss(model, scheduler, torch.randn(4, 2), reduction="max")
    with pytest.raises(ValueError, match="unconditional"):
        sample(model, scheduler, (2, 2), guidance_scale=2.0)
    with pytest.raises(ValueError, match="shaped like its input"):
        epsilon_loss(lambda x, t: x[:, :1], scheduler, torch.randn(4, 2))
    with pytest.raises(ValueError, match="not both"):
        tiny_unet(cross_attention_dim=8, num_class_embeds=3)
    with pytest.raises(ValueError, match="num_train_timesteps"):
        ddpm_scheduler(num_train_timesteps=1)
    with pytest.raises(ValueError, match="conditioning_fn"):
        train_denoiser(model, torch.randn(8, 2), scheduler, steps=1, conditions=torch.zeros(8))
    with pytest.raises(ValueError, match="split"):
        digits_images("validation")
    with pytest.raises(TypeError, match="steps"):
        check_positive_int("steps", 2.5)

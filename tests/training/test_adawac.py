"""P34 `adawac`: the mirror-ascent β update and the Dice/CE/consistency mix against the equations written plainly,
the simplex property, the tiny UNet, the Trainer (checkpointed β), the recipe and one test per rejected input."""

from __future__ import annotations

import math

import pytest
import torch

from hf_methods.training.adawac import (
    AdaWACLoss,
    PhotometricAugmentation,
    TinyUNetConfig,
    TinyUNetForSegmentation,
    TwoViewCollator,
    dice_ce_loss,
    make_shapes_segmentation,
    mirror_ascent_step,
    soft_dice_loss,
)

C, H, W = 3, 4, 5


def _views(n: int = 5, seed: int = 0, dtype=torch.float64, latent_shape=(2, 2, 2)):
    gen = torch.Generator().manual_seed(seed)
    return {
        "logits1": (torch.randn(n, C, H, W, generator=gen) * 2).to(dtype),
        "logits2": (torch.randn(n, C, H, W, generator=gen) * 2).to(dtype),
        "latent1": torch.randn(n, *latent_shape, generator=gen).to(dtype),
        "latent2": torch.randn(n, *latent_shape, generator=gen).to(dtype),
        "labels1": torch.randint(0, C, (n, H, W), generator=gen),
        "labels2": torch.randint(0, C, (n, H, W), generator=gen),
    }


# -------------------------------------------------------------------------------------------------------- references


def ref_pixel_ce(logits, labels):
    """(1/HW) Σ_p −log softmax(f_p)_{y_p}, one sample and one pixel at a time, in Python floats."""
    out = []
    for f, y in zip(logits.tolist(), labels.tolist()):
        total = 0.0
        for r in range(len(y)):
            for c in range(len(y[0])):
                scores = [f[k][r][c] for k in range(len(f))]
                top = max(scores)
                lse = top + math.log(sum(math.exp(s - top) for s in scores))
                total += lse - scores[y[r][c]]
        out.append(total / (len(y) * len(y[0])))
    return out


def ref_dice(logits, labels, per_sample: bool, smooth: float = 1e-5):
    """(1/C) Σ_c 1 − (2 Σ p t + s)/(Σ p² + Σ t² + s), sums over the batch (official DiceLossFull) or one sample."""
    probs = []
    for f in logits.tolist():
        sample = []
        for r in range(len(f[0])):
            for c in range(len(f[0][0])):
                scores = [f[k][r][c] for k in range(len(f))]
                top = max(scores)
                e = [math.exp(s - top) for s in scores]
                sample.append([v / sum(e) for v in e])
        probs.append(sample)
    targets = [[v for row in y for v in row] for y in labels.tolist()]
    num_classes = logits.shape[1]

    def dice_of(samples):
        loss = 0.0
        for k in range(num_classes):
            inter = sum(p[j][k] * (t[j] == k) for p, t in samples for j in range(len(t)))
            z = sum(p[j][k] ** 2 for p, t in samples for j in range(len(t)))
            y = sum(float(t[j] == k) for p, t in samples for j in range(len(t)))
            loss += 1 - (2 * inter + smooth) / (z + y + smooth)
        return loss / num_classes

    pairs = list(zip(probs, targets))
    if per_sample:
        return [dice_of([pair]) for pair in pairs]
    return [dice_of(pairs)] * len(pairs)


def ref_adawac_step(inputs, idx, buffer, lr_w, dac_coef, dice_ratio, per_sample_dice=False):
    """One official `UNETS_AW_AC` step (`--loss adawac`), written plainly; updates `buffer` (a list of [β_sup, β_con])."""
    ce1 = ref_pixel_ce(inputs["logits1"], inputs["labels1"])
    ce2 = ref_pixel_ce(inputs["logits2"], inputs["labels2"])
    d1 = ref_dice(inputs["logits1"], inputs["labels1"], per_sample_dice)
    d2 = ref_dice(inputs["logits2"], inputs["labels2"], per_sample_dice)
    losses = []
    for b, i in enumerate(idx.tolist()):
        diff = (inputs["latent1"][b] - inputs["latent2"][b]).flatten().tolist()
        dac = dac_coef * sum(v * v for v in diff) / len(diff)
        ce = 0.5 * (ce1[b] + ce2[b])
        sup = buffer[i][0] * math.exp(lr_w * (ce - dac))  # official: weights[:, 0] *= exp(lr_w (ce − dac))
        con = buffer[i][1]
        buffer[i] = [sup / (sup + con), con / (sup + con)]  # then F.normalize(p=1)
        dice = 0.5 * (d1[b] + d2[b])
        losses.append(dice_ratio * dice + (1 - dice_ratio) * (buffer[i][0] * ce + buffer[i][1] * dac))
    return losses


# ----------------------------------------------------------------------------------------------------------- the math


def test_mirror_ascent_step_is_the_exponentiated_gradient_formula():
    gen = torch.Generator().manual_seed(0)
    beta = torch.distributions.Dirichlet(torch.ones(2)).sample((7,)).double()
    sup, con = torch.rand(7, generator=gen, dtype=torch.float64), torch.rand(7, generator=gen, dtype=torch.float64)
    new = mirror_ascent_step(beta, sup, con, lr_w=3.0)
    for row, b, s, c in zip(new.tolist(), beta.tolist(), sup.tolist(), con.tolist()):
        a, d = b[0] * math.exp(3.0 * s), b[1] * math.exp(3.0 * c)
        assert row == pytest.approx([a / (a + d), d / (a + d)], abs=1e-12)


def test_mirror_ascent_step_does_not_overflow_and_stays_on_the_simplex():
    beta = torch.full((4, 2), 0.5)
    new = mirror_ascent_step(beta, torch.tensor([200.0, 0.0, 1e3, 5.0]), torch.tensor([0.0, 200.0, 0.0, 5.0]), 8.0)
    assert torch.isfinite(new).all() and (new >= 0).all()
    torch.testing.assert_close(new.sum(1), torch.ones(4, dtype=new.dtype), atol=1e-12, rtol=0)
    assert new[0, 0] == 1.0 and new[1, 1] == 1.0 and new[3, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("dice_mode", ["batch", "sample"])
def test_soft_dice_matches_loop(dice_mode):
    x = _views(4, seed=1)
    got = soft_dice_loss(x["logits1"], x["labels1"], dice_mode)
    expected = ref_dice(x["logits1"], x["labels1"], per_sample=dice_mode == "sample")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), atol=1e-10, rtol=0)


def test_dice_ce_mix_matches_loop():
    x = _views(4, seed=2)
    got = dice_ce_loss(x["logits1"], x["labels1"], dice_ratio=0.3, reduction="none")
    ce = ref_pixel_ce(x["logits1"], x["labels1"])
    dice = ref_dice(x["logits1"], x["labels1"], per_sample=False)
    expected = [0.3 * d + 0.7 * c for d, c in zip(dice, ce)]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), atol=1e-10, rtol=0)


@pytest.mark.parametrize("dice_mode", ["batch", "sample"])
def test_adawac_matches_the_official_update_loop(dice_mode):
    """Several steps on overlapping indices: the β buffer and the loss follow the plain loop step by step."""
    n = 9
    loss_fn = AdaWACLoss(n, lr_w=2.5, dac_coef=2.0, dice_ratio=0.4, dice_mode=dice_mode, reduction="none")
    buffer = [[0.5, 0.5] for _ in range(n)]
    gen = torch.Generator().manual_seed(3)
    for step in range(4):
        x = _views(5, seed=10 + step)
        idx = torch.randperm(n, generator=gen)[:5]
        loss = loss_fn(**x, sample_idx=idx)
        expected = ref_adawac_step(x, idx, buffer, 2.5, 2.0, 0.4, per_sample_dice=dice_mode == "sample")
        torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=0)
        torch.testing.assert_close(loss_fn.beta, torch.tensor(buffer, dtype=torch.float32), atol=1e-6, rtol=0)
    assert (loss_fn.beta[:, 0] != 0.5).sum() >= 5  # the buffer did move


def test_beta_rows_stay_on_the_simplex_under_many_updates():
    loss_fn = AdaWACLoss(16, lr_w=8.0)
    gen = torch.Generator().manual_seed(4)
    for step in range(30):
        x = _views(8, seed=step, dtype=torch.float32)
        scale = 10.0 ** (step % 4 - 1)
        x["latent1"] = x["latent1"] * scale
        loss_fn(**x, sample_idx=torch.randperm(16, generator=gen)[:8])
        beta = loss_fn.beta
        assert (beta >= 0).all() and (beta <= 1).all()
        torch.testing.assert_close(beta.sum(1), torch.ones(16), atol=1e-6, rtol=0)


def test_weights_move_towards_the_larger_loss_and_lr_w_zero_freezes_them():
    """Mirror *ascent*: a sample whose CE exceeds its consistency loss gains β^sup, and the other way round."""
    x = _views(4, seed=5)
    x["latent2"] = x["latent1"].clone()  # ℓ_DAC = 0 < ℓ_CE: every sample moves to the supervised term
    loss_fn = AdaWACLoss(4, lr_w=1.0)
    loss_fn(**x, sample_idx=torch.arange(4))
    assert (loss_fn.beta[:, 0] > 0.5).all()
    x["latent2"] = x["latent1"] + 10.0  # ℓ_DAC = 200 > ℓ_CE: every sample moves to the consistency term
    loss_fn(**x, sample_idx=torch.arange(4))
    assert (loss_fn.beta[:, 0] < 0.5).all()
    frozen = AdaWACLoss(4, lr_w=0.0)
    frozen(**x, sample_idx=torch.arange(4))
    assert torch.equal(frozen.beta, torch.full((4, 2), 0.5))


def test_beta_gets_no_gradient_and_the_loss_reaches_both_views():
    x = {k: (v.float().requires_grad_(True) if v.is_floating_point() else v) for k, v in _views(3, seed=6).items()}
    loss_fn = AdaWACLoss(3, lr_w=1.0, dice_ratio=0.5)
    loss = loss_fn(**x, sample_idx=torch.arange(3))
    loss.backward()
    for key in ("logits1", "logits2", "latent1", "latent2"):
        assert x[key].grad is not None and x[key].grad.abs().sum() > 0, key
    assert not loss_fn.beta.requires_grad


def test_eval_mode_reads_without_updating_and_state_dict_round_trips():
    x = _views(3, seed=7)
    loss_fn = AdaWACLoss(3, lr_w=4.0)
    loss_fn(**x, sample_idx=torch.arange(3))
    clone = AdaWACLoss(3, lr_w=4.0)
    clone.load_state_dict(loss_fn.state_dict())
    torch.testing.assert_close(clone.beta, loss_fn.beta)
    before = clone.beta.clone()
    clone.eval()
    clone(**x, sample_idx=torch.arange(3))
    assert torch.equal(clone.beta, before)
    torch.testing.assert_close(
        clone.supervised_loss(x["logits1"], x["labels1"]), dice_ce_loss(x["logits1"], x["labels1"])
    )


def test_sync_with_fake_gather():
    a, b = AdaWACLoss(6, lr_w=2.0), AdaWACLoss(6, lr_w=2.0)
    x = _views(6, seed=8, dtype=torch.float32)
    half = lambda d, s: {k: v[s] for k, v in d.items()}  # noqa: E731
    a(**half(x, slice(0, 3)), sample_idx=torch.arange(3))
    b(**half(x, slice(3, 6)), sample_idx=torch.arange(3, 6))
    from_b = iter([torch.arange(3, 6), b.beta[3:].clone()])
    a.sync(torch.arange(3), lambda t: torch.cat([t, next(from_b)]))
    torch.testing.assert_close(a.beta[3:], b.beta[3:])
    assert (a.beta[:3, 0] != 0.5).all()


# ----------------------------------------------------------------------------------------------------------- model, data


def test_tiny_unet_shapes_latent_and_save_load(tmp_path):
    torch.manual_seed(0)
    model = TinyUNetForSegmentation(TinyUNetConfig(base_channels=4, depth=2)).eval()
    x = torch.rand(3, 1, 16, 16)
    out = model(pixel_values=x, return_latent=True)
    assert out.logits.shape == (3, 2, 16, 16) and out.latent.shape == (3, 16, 4, 4)
    assert model(pixel_values=x).latent is None
    model.save_pretrained(tmp_path)
    loaded = TinyUNetForSegmentation.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded(pixel_values=x).logits, out.logits)
    with pytest.raises(ValueError, match="divisible by 2\\^depth"):
        model(pixel_values=torch.rand(1, 1, 10, 10))
    with pytest.raises(ValueError, match="pixel_values must have shape"):
        model(pixel_values=torch.rand(1, 16, 16))
    with pytest.raises(ValueError, match="num_labels"):
        TinyUNetConfig(num_labels=1)
    with pytest.raises(ValueError, match="depth"):
        TinyUNetConfig(depth=0)


def test_synthetic_data_sparse_masks_and_augmentation():
    data = make_shapes_segmentation(40, seed=0, sparse_fraction=0.5)
    assert data.images.shape == (40, 1, 16, 16) and int(data.sparse.sum()) == 20
    assert (data.masks[data.sparse] == 0).all() and (data.true_masks[data.sparse].flatten(1).sum(1) > 0).all()
    assert torch.equal(data.masks[~data.sparse], data.true_masks[~data.sparse])
    assert torch.equal(make_shapes_segmentation(40, seed=0, sparse_fraction=0.5).images, data.images)  # seeded
    aug = PhotometricAugmentation(scale=0.0, shift=0.0, noise_std=0.0)
    assert torch.equal(aug(data.images), data.images)  # no jitter: the identity
    items = [
        {"pixel_values": data.images[i], "labels": data.masks[i], "sample_idx": torch.tensor(i)} for i in range(4)
    ]
    batch = TwoViewCollator(PhotometricAugmentation(), torch.Generator().manual_seed(0))(items)
    assert batch["pixel_values"].shape == batch["pixel_values_2"].shape == (4, 1, 16, 16)
    assert not torch.equal(batch["pixel_values"], batch["pixel_values_2"])
    with pytest.raises(ValueError, match="sparse_fraction"):
        make_shapes_segmentation(4, seed=0, sparse_fraction=1.5)
    with pytest.raises(ValueError, match="scale must be < 1"):
        PhotometricAugmentation(scale=1.0)


# ----------------------------------------------------------------------------------------------------------- bad input


def test_error_sample_idx_missing():
    with pytest.raises(ValueError, match="sample_idx is required"):
        AdaWACLoss(5)(**_views())


def test_error_sample_idx_out_of_range():
    with pytest.raises(ValueError, match="sample_idx must lie in"):
        AdaWACLoss(5)(**_views(), sample_idx=torch.tensor([0, 1, 2, 3, 5]))


def test_error_sample_idx_type_and_shape():
    with pytest.raises(TypeError, match="sample_idx must be an integer tensor"):
        AdaWACLoss(5)(**_views(), sample_idx=torch.arange(5.0))
    with pytest.raises(TypeError, match="sample_idx must be a torch.Tensor"):
        AdaWACLoss(5)(**_views(), sample_idx=[0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="sample_idx must have shape"):
        AdaWACLoss(5)(**_views(), sample_idx=torch.arange(4))


def test_error_logits_not_4d():
    x = _views()
    x["logits1"] = x["logits1"].flatten(2)
    with pytest.raises(ValueError, match="logits1 must be 4-D"):
        AdaWACLoss(5)(**x, sample_idx=torch.arange(5))


def test_error_views_of_different_shapes():
    x = _views()
    x["logits2"] = x["logits2"][:, :, :, :4]
    x["labels2"] = x["labels2"][:, :, :4]
    with pytest.raises(ValueError, match="logits1 and logits2 must have the same shape"):
        AdaWACLoss(5)(**x, sample_idx=torch.arange(5))


def test_error_labels():
    x = _views()
    with pytest.raises(ValueError, match="labels1 must lie in"):
        AdaWACLoss(5)(**{**x, "labels1": x["labels1"] + C}, sample_idx=torch.arange(5))
    with pytest.raises(TypeError, match="labels2 must be an integer tensor"):
        AdaWACLoss(5)(**{**x, "labels2": x["labels2"].float()}, sample_idx=torch.arange(5))
    with pytest.raises(ValueError, match="labels1 must have shape"):
        AdaWACLoss(5)(**{**x, "labels1": x["labels1"][:, :3]}, sample_idx=torch.arange(5))


def test_error_latents():
    x = _views()
    with pytest.raises(ValueError, match="latent1 and latent2 must have the same shape"):
        AdaWACLoss(5)(**{**x, "latent2": x["latent2"][:, :1]}, sample_idx=torch.arange(5))
    with pytest.raises(TypeError, match="latent1 must be a torch.Tensor"):
        AdaWACLoss(5)(**{**x, "latent1": None}, sample_idx=torch.arange(5))
    with pytest.raises(ValueError, match="latent2 must have shape \\(batch=5"):
        AdaWACLoss(5)(**{**x, "latent2": x["latent2"][:4]}, sample_idx=torch.arange(5))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"lr_w": -1.0}, ValueError, "lr_w must be"),
        ({"lr_w": float("inf")}, ValueError, "lr_w must be"),
        ({"dac_coef": -0.5}, ValueError, "dac_coef must be"),
        ({"dice_ratio": 1.5}, ValueError, "dice_ratio must be"),
        ({"dice_ratio": "half"}, TypeError, "dice_ratio must be a number"),
        ({"dice_mode": "image"}, ValueError, "dice_mode must be one of"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
    ],
)
def test_error_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdaWACLoss(5, **kwargs)


def test_error_num_samples():
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        AdaWACLoss(0)
    with pytest.raises(TypeError, match="num_samples must be an int"):
        AdaWACLoss(5.0)


# ----------------------------------------------------------------------------------------------------------- Trainer


def _trainer(tmp_path, loss, dataset, collator=None, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.training.adawac import AdaWACTrainer

    torch.manual_seed(0)
    model = TinyUNetForSegmentation(TinyUNetConfig(base_channels=4, depth=2))
    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    args = TrainingArguments(**{**defaults, **kwargs})
    collator = collator or TwoViewCollator(PhotometricAugmentation())
    return AdaWACTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator, loss=loss)


def _dataset(n=16, with_index=True):
    from hf_methods.training.adawac import IndexedSegmentation

    data = make_shapes_segmentation(n, seed=0, sparse_fraction=0.5)
    ds = IndexedSegmentation(data.images, data.masks)
    if with_index:
        return ds
    return [{k: v for k, v in ds[i].items() if k != "sample_idx"} for i in range(n)]


def test_trainer_updates_weights_and_beta_and_checkpoints_beta(tmp_path):
    dataset = _dataset()
    loss = AdaWACLoss(len(dataset), lr_w=8.0)
    trainer = _trainer(tmp_path, loss, dataset, save_strategy="steps", save_steps=2)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    assert (loss.beta[:, 0] != 0.5).any()
    saved = torch.load(tmp_path / "checkpoint-2" / "adawac_loss_state.pt", weights_only=True)
    assert saved["beta"].shape == (len(dataset), 2)
    assert trainer.evaluate(dataset)["eval_loss"] > 0  # ERM objective, no index needed, β untouched
    fresh = AdaWACLoss(len(dataset), lr_w=8.0)
    _trainer(tmp_path, fresh, dataset)._load_from_checkpoint(str(tmp_path / "checkpoint-2"))
    torch.testing.assert_close(fresh.beta, saved["beta"])


def test_trainer_missing_index(tmp_path):
    trainer = _trainer(tmp_path, AdaWACLoss(16), _dataset(with_index=False))
    with pytest.raises(ValueError, match="sample_idx"):
        trainer.train()


def test_trainer_missing_second_view(tmp_path):
    trainer = _trainer(tmp_path, AdaWACLoss(16), _dataset(), collator=TwoViewCollator(None))
    with pytest.raises(ValueError, match="pixel_values_2"):
        trainer.train()


def test_trainer_rejects_wrong_loss_and_removed_columns(tmp_path):
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        _trainer(tmp_path, AdaWACLoss(16), _dataset(), remove_unused_columns=True)
    with pytest.raises(TypeError, match="loss must be an AdaWACLoss"):
        _trainer(tmp_path, torch.nn.CrossEntropyLoss(), _dataset())


# ----------------------------------------------------------------------------------------- training pieces, recipe


def test_foreground_dice_metric():
    from hf_methods.training.adawac.training import foreground_dice

    class Fixed(torch.nn.Module):
        def __init__(self, pred):
            super().__init__()
            self.pred = pred

        def forward(self, pixel_values):
            from types import SimpleNamespace

            return SimpleNamespace(logits=torch.stack([~self.pred, self.pred], 1).float())

    true = torch.zeros(2, 4, 4, dtype=torch.long)
    true[0, :2] = 1  # 8 pixels
    pred = torch.zeros(2, 4, 4, dtype=torch.bool)
    pred[0, :1] = True  # 4 of them; image 1: both empty -> 1
    assert foreground_dice(Fixed(pred), torch.zeros(2, 1, 4, 4), true) == pytest.approx((2 * 4 / 12 + 1.0) / 2)


def test_arguments_validate():
    from hf_methods.training.adawac.training import AdaWACArguments

    loss = AdaWACArguments(lr_w=3.0, dac_coef=1.0, dice_ratio=0.2).build_loss(7)
    assert loss.beta.shape == (7, 2) and loss.lr_w == 3.0 and loss.dice_ratio == 0.2
    for kwargs, match in [
        ({"method": "trim"}, "--method"),
        ({"sparse_fraction": 2.0}, "--sparse_fraction"),
        ({"dice_ratio": -0.1}, "--dice_ratio"),
        ({"lr_w": -1.0}, "--lr_w"),
        ({"aug_scale": 1.0}, "--aug_scale"),
        ({"depth": 5}, "--depth"),
    ]:
        with pytest.raises(ValueError, match=match):
            AdaWACArguments(output_dir="x", **kwargs).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_adawac", repo_root() / "recipes" / "adawac.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        ["--output_dir", str(out), "--max_steps", "4", "--num_train", "64", "--num_test", "32", "--batch_size", "16",
         "--checkpoint_every", "2", "--log_every", "0", "--base_channels", "4"]
    )  # fmt: skip
    assert 0.0 <= metrics["eval/test_dice"] <= 1.0
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["slug"] == "adawac"
    assert len(list((out / "checkpoints").iterdir())) >= 1


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("adawac").usage, namespace)
    assert namespace["loss_fn"].beta.shape == (32, 2)
    assert (namespace["loss_fn"].beta[:, 0] != 0.5).any()

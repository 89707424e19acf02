"""P35 `ldr`: LDR-KL / ALDR-KL against the paper's equations written plainly, limits, bounds, errors, Trainer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hf_methods.training.ldr import LOSSES, ALDRKLLoss, LDRKLLoss, build_loss, ldr_kl_loss
from hf_methods.training.ldr.loss import CrossEntropyLoss, l1_normalize, softplus_mean_normalize

K = 10


def _batch(n: int = 16, k: int = K, scale: float = 3.0, seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, k, generator=gen) * scale).to(dtype)
    labels = torch.randint(0, k, (n,), generator=gen)
    return logits, labels


# -------------------------------------------------------------------------------------------------------- references


def reference_ldr_kl(logits, labels, lambda_, margin, normalize):
    """λ·log((1/K) Σ_k exp((c·1[k≠y] + f_k − f_y)/λ)), one example and one class at a time, in Python floats."""
    out = []
    for row, y in zip(logits.tolist(), labels.tolist()):
        if normalize:  # official LDRLoss_V1: softplus, then divide by the row mean
            row = [math.log1p(math.exp(v)) if v < 30 else v + math.log1p(math.exp(-v)) for v in row]
            mean = sum(row) / len(row)
            row = [v / mean for v in row]
        d = [(margin if k != y else 0.0) + row[k] - row[y] for k in range(len(row))]
        top = max(d)
        out.append(lambda_ * (top / lambda_ + math.log(sum(math.exp((v - top) / lambda_) for v in d) / len(d))))
    return torch.tensor(out, dtype=torch.float64)


def reference_aldr_step(logits, labels, idx, buffer, lambda0, alpha, margin, smoothing=1e-5):
    """One official ALDRLoss_V1 step, example by example; updates `buffer` (a Python list) in place."""
    losses = []
    for row, y, i in zip(logits.tolist(), labels.tolist(), idx.tolist()):
        k_ = len(row)
        l1 = sum(abs(v) for v in row) / k_
        f = [v / l1 for v in row]
        old = buffer[i]
        top = max(f)
        e = [math.exp((v - top) / old) for v in f]
        p = [v / sum(e) + smoothing for v in e]
        p = [v / sum(p) for v in p]
        kl = sum(v * math.log(k_ * v) for v in p)
        lam = lambda0 - lambda0 * kl / (alpha * math.log(k_))
        buffer[i] = lam
        d = [(margin if k != y else 0.0) + f[k] - f[y] for k in range(k_)]
        lme = lam * math.log(sum(math.exp(v / lam) for v in d) / k_)
        losses.append(lme - alpha * math.log(k_) / (2 * lambda0) * (lam - lambda0) ** 2)
    return sum(losses) / len(losses)


# ----------------------------------------------------------------------------------------------------------- LDR-KL


def test_ce_limit():
    """(i) c = 0, λ = 1, raw logits: LDR-KL = CE − log K."""
    logits, labels = _batch(64, scale=5.0)
    loss = ldr_kl_loss(logits, labels, lambda_=1.0, margin=0.0, normalize=False, reduction="none")
    expected = F.cross_entropy(logits, labels, reduction="none") - math.log(K)
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("normalize", [False, True])
def test_hinge_limit(normalize):
    """(ii) λ = 1e-3: LDR-KL ≈ max_k(c·1[k≠y] + f_k − f_y) (Crammer–Singer) within 1e-2."""
    logits, labels = _batch(64)
    scores = softplus_mean_normalize(logits) if normalize else logits
    d = 0.1 * (1 - F.one_hot(labels, K)).to(logits) + scores - scores.gather(1, labels[:, None])
    loss = ldr_kl_loss(logits, labels, lambda_=1e-3, margin=0.1, normalize=normalize, reduction="none")
    assert torch.isfinite(loss).all()
    assert (loss - d.max(dim=1).values).abs().max() < 1e-2


def test_mean_margin_limit():
    """λ → ∞: LDR-KL → (1/K) Σ_k (c·1[k≠y] + f_k − f_y)."""
    logits, labels = _batch(32)
    d = 0.1 * (1 - F.one_hot(labels, K)).to(logits) + logits - logits.gather(1, labels[:, None])
    loss = ldr_kl_loss(logits, labels, lambda_=1e6, margin=0.1, normalize=False, reduction="none")
    torch.testing.assert_close(loss, d.mean(dim=1), atol=1e-4, rtol=0)


@pytest.mark.parametrize("lambda_,margin,normalize", [(10.0, 0.1, True), (1.0, 2.0, True), (0.3, 0.5, False)])
def test_ldr_kl_matches_loop(lambda_, margin, normalize):
    logits, labels = _batch(12, scale=4.0, seed=3)
    loss = LDRKLLoss(lambda_=lambda_, margin=margin, normalize=normalize, reduction="none")(logits, labels)
    torch.testing.assert_close(loss, reference_ldr_kl(logits, labels, lambda_, margin, normalize), atol=1e-10, rtol=0)
    mean = LDRKLLoss(lambda_=lambda_, margin=margin, normalize=normalize)(logits, labels)
    torch.testing.assert_close(mean, loss.mean())


def test_closed_form_is_the_max_over_the_simplex():
    """λ·logmeanexp(d/λ) = max_p Σ p_k d_k − λ KL(p‖u), attained at p* = softmax(d/λ); random p never exceed it."""
    logits, labels = _batch(3, k=4, seed=7)
    lambda_, margin = 0.7, 0.2
    loss = ldr_kl_loss(logits, labels, lambda_=lambda_, margin=margin, normalize=False, reduction="none")
    d = margin * (1 - F.one_hot(labels, 4)).to(logits) + logits - logits.gather(1, labels[:, None])

    def objective(p):  # p: (..., 3, 4)
        return (p * d).sum(-1) - lambda_ * (p * torch.log(4 * p)).sum(-1)

    p_star = torch.softmax(d / lambda_, dim=1)
    torch.testing.assert_close(objective(p_star), loss, atol=1e-10, rtol=0)
    torch.manual_seed(0)
    p_random = torch.distributions.Dirichlet(torch.ones(4, dtype=torch.float64)).sample((5000, 3))
    p_random = p_random.clamp_min(1e-300)
    assert (objective(p_random) <= loss + 1e-12).all()


def test_normalizations_match_the_official_formulas():
    logits, _ = _batch(4)
    sp = torch.log1p(torch.exp(logits))
    torch.testing.assert_close(softplus_mean_normalize(logits), sp / sp.mean(1, keepdim=True))
    torch.testing.assert_close(l1_normalize(logits), logits / (logits.abs().sum(1, keepdim=True) / K))


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_gradients_finite_at_large_logits(scale):
    logits, labels = _batch(8, scale=scale, dtype=torch.float32)
    losses = [
        lambda f: LDRKLLoss()(f, labels),
        lambda f: LDRKLLoss(lambda_=1e-3, normalize=False)(f, labels),
        lambda f: LDRKLLoss(lambda_=1e-3)(f, labels),
        lambda f: ALDRKLLoss(8)(f, labels, torch.arange(8)),
        lambda f: ALDRKLLoss(8, normalize=False, lambda0=1e-2)(f, labels, torch.arange(8)),
    ]
    for loss_fn in losses:
        f = logits.clone().requires_grad_(True)
        loss = loss_fn(f)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(f.grad).all()


# ----------------------------------------------------------------------------------------------------------- ALDR-KL


@pytest.mark.parametrize("normalize,lambda0,alpha", [(True, 10.0, 2.0), (False, 1.0, 2.0), (False, 0.5, 1.5)])
def test_aldr_lambda_bounds(normalize, lambda0, alpha):
    """(iii) λ_i stays in [λ0(1 − 1/α), λ0] after repeated updates on random logits of all scales."""
    n = 64
    loss_fn = ALDRKLLoss(n, lambda0=lambda0, alpha=alpha, normalize=normalize)
    gen = torch.Generator().manual_seed(1)
    for step in range(20):
        scale = 10.0 ** (step % 5 - 1)
        logits = torch.randn(n, K, generator=gen) * scale
        labels = torch.randint(0, K, (n,), generator=gen)
        idx = torch.randperm(n, generator=gen)[:32]
        loss_fn(logits[:32], labels[:32], idx)
        assert loss_fn.lambdas.min() >= lambda0 * (1 - 1 / alpha) and loss_fn.lambdas.max() <= lambda0
    if not normalize:  # peaked predictions drive λ_i close to the lower bound, so the bound is actually exercised
        assert loss_fn.lambdas.min() < lambda0 * (1 - 1 / alpha) + 0.05 * lambda0
    assert loss_fn.lambda_min == pytest.approx(lambda0 * (1 - 1 / alpha))


def test_aldr_matches_official_update_loop():
    n = 20
    loss_fn = ALDRKLLoss(n, lambda0=2.0, alpha=3.0, margin=0.3)
    buffer = [2.0] * n
    gen = torch.Generator().manual_seed(5)
    for _ in range(4):
        logits = torch.randn(8, K, generator=gen) * 4
        labels = torch.randint(0, K, (8,), generator=gen)
        idx = torch.randperm(n, generator=gen)[:8]
        loss = loss_fn(logits, labels, idx)
        expected = reference_aldr_step(logits, labels, idx, buffer, 2.0, 3.0, 0.3)
        assert loss.item() == pytest.approx(expected, abs=1e-5)
        torch.testing.assert_close(loss_fn.lambdas, torch.tensor(buffer, dtype=torch.float32), atol=1e-6, rtol=0)


def test_aldr_state_dict_eval_and_reference_loss():
    logits, labels = _batch(6, dtype=torch.float32)
    loss_fn = ALDRKLLoss(6, lambda0=1.0, normalize=False)
    loss_fn(logits * 10, labels, torch.arange(6))
    assert (loss_fn.lambdas < 1.0).any()
    clone = ALDRKLLoss(6, lambda0=1.0, normalize=False)
    clone.load_state_dict(loss_fn.state_dict())
    torch.testing.assert_close(clone.lambdas, loss_fn.lambdas)
    before = clone.lambdas.clone()
    clone.eval()
    clone(logits, labels, torch.arange(6))
    torch.testing.assert_close(clone.lambdas, before)  # eval mode reads but does not write
    # with λ_i = λ0 ALDR-KL is LDR-KL on the L1-normalised scores
    torch.testing.assert_close(
        clone.reference_loss(logits, labels),
        ldr_kl_loss(logits, labels, lambda_=1.0, margin=0.1, normalize=False),
    )


def test_aldr_sync_with_fake_gather():
    """Two 'processes' that saw different indices end with identical buffers."""
    a, b = ALDRKLLoss(8, lambda0=1.0, normalize=False), ALDRKLLoss(8, lambda0=1.0, normalize=False)
    logits, labels = _batch(8, dtype=torch.float32)
    idx_a, idx_b = torch.arange(4), torch.arange(4, 8)
    a(logits[:4] * 5, labels[:4], idx_a)
    b(logits[4:] * 5, labels[4:], idx_b)
    # what process b contributes to each gather call, in order: its indices, then its λ values
    from_b = iter([idx_b, b.lambdas[idx_b].clone()])
    a.sync(idx_a, lambda t: torch.cat([t, next(from_b)]))
    torch.testing.assert_close(a.lambdas, b.lambdas.clone().index_copy_(0, idx_a, a.lambdas[idx_a]))
    assert (a.lambdas[idx_b] < 1.0).all()


# ----------------------------------------------------------------------------------------------------------- registry


def test_registry_and_ce():
    assert {"ce", "ldr_kl", "aldr_kl"} <= set(LOSSES)
    logits, labels = _batch(8)
    torch.testing.assert_close(build_loss("ce")(logits, labels), F.cross_entropy(logits, labels))
    assert isinstance(build_loss("aldr_kl", num_samples=8, alpha=3.0), ALDRKLLoss)
    assert isinstance(build_loss("ldr_kl", lambda_=1.0), LDRKLLoss)
    with pytest.raises(ValueError, match="loss must be one of"):
        build_loss("nope")
    with pytest.raises(ValueError, match="num_samples"):
        build_loss("aldr_kl")


# ----------------------------------------------------------------------------------------------------------- bad input


def test_error_logits_not_2d():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        LDRKLLoss()(torch.randn(4), torch.zeros(4, dtype=torch.long))


def test_error_labels_shape():
    with pytest.raises(ValueError, match="labels must have shape"):
        LDRKLLoss()(torch.randn(4, K), torch.zeros(3, dtype=torch.long))


def test_error_labels_out_of_range():
    with pytest.raises(ValueError, match="labels must lie in"):
        LDRKLLoss()(torch.randn(4, K), torch.tensor([0, 1, 2, K]))
    with pytest.raises(ValueError, match="labels must lie in"):
        CrossEntropyLoss()(torch.randn(4, K), torch.tensor([0, -1, 2, 3]))


def test_error_labels_dtype():
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        LDRKLLoss()(torch.randn(4, K), torch.zeros(4))


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan")])
def test_error_lambda(value):
    with pytest.raises(ValueError, match="lambda_ must be"):
        LDRKLLoss(lambda_=value)
    with pytest.raises(ValueError, match="lambda0 must be"):
        ALDRKLLoss(4, lambda0=value)


@pytest.mark.parametrize("value", [1.0, 0.5, -2.0])
def test_error_alpha(value):
    with pytest.raises(ValueError, match="alpha must be"):
        ALDRKLLoss(4, alpha=value)


def test_error_margin():
    with pytest.raises(ValueError, match="margin must be"):
        LDRKLLoss(margin=-0.1)
    with pytest.raises(ValueError, match="margin must be"):
        ALDRKLLoss(4, margin=-0.1)


def test_error_reduction_and_num_samples():
    with pytest.raises(ValueError, match="reduction must be"):
        LDRKLLoss(reduction="avg")
    with pytest.raises(ValueError, match="num_samples"):
        ALDRKLLoss(0)
    with pytest.raises(TypeError, match="num_samples"):
        ALDRKLLoss(4.0)


def test_error_sample_idx_missing():
    with pytest.raises(ValueError, match="sample_idx is required"):
        ALDRKLLoss(4)(torch.randn(2, K), torch.zeros(2, dtype=torch.long))


def test_error_sample_idx_out_of_range():
    with pytest.raises(ValueError, match="sample_idx must lie in"):
        ALDRKLLoss(4)(torch.randn(2, K), torch.zeros(2, dtype=torch.long), torch.tensor([0, 4]))


def test_error_sample_idx_shape():
    with pytest.raises(ValueError, match="sample_idx must have shape"):
        ALDRKLLoss(4)(torch.randn(2, K), torch.zeros(2, dtype=torch.long), torch.tensor([[0, 1]]))


def test_error_sample_idx_type():
    with pytest.raises(TypeError, match="sample_idx must be"):
        ALDRKLLoss(4)(torch.randn(2, K), torch.zeros(2, dtype=torch.long), [0, 1])
    with pytest.raises(TypeError, match="sample_idx must be an integer tensor"):
        ALDRKLLoss(4)(torch.randn(2, K), torch.zeros(2, dtype=torch.long), torch.tensor([0.0, 1.0]))


# ----------------------------------------------------------------------------------------------------------- Trainer


class _IndexedDigits(torch.utils.data.Dataset):
    def __init__(self, n: int = 32, with_index: bool = True):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 64, generator=gen)
        self.y = torch.randint(0, 10, (n,), generator=gen)
        self.with_index = with_index

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        item = {"pixel_values": self.x[i], "labels": self.y[i]}
        if self.with_index:
            item["sample_idx"] = i
        return item


def _trainer(tmp_path, loss, dataset, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
    from hf_methods.training.ldr import LDRTrainer

    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[16], num_labels=10))
    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=0.5,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    args = TrainingArguments(**{**defaults, **kwargs})
    return LDRTrainer(model=model, args=args, train_dataset=dataset, loss=loss)


def test_trainer_steps_change_weights_and_lambdas(tmp_path):
    dataset = _IndexedDigits()
    loss = ALDRKLLoss(len(dataset), lambda0=1.0, normalize=False)
    trainer = _trainer(tmp_path, loss, dataset, save_strategy="steps", save_steps=2)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "no weight changed after 3 steps"
    assert (loss.lambdas < 1.0).sum() > 0
    saved = torch.load(tmp_path / "checkpoint-2" / "ldr_loss_state.pt")
    assert saved["lambdas"].shape == (len(dataset),)
    assert trainer.evaluate(dataset)["eval_loss"] > -1e9  # evaluation: λ_i = λ0, no index needed
    # resuming restores the λ buffer of the checkpoint
    fresh = ALDRKLLoss(len(dataset), lambda0=1.0, normalize=False)
    _trainer(tmp_path, fresh, dataset)._load_from_checkpoint(str(tmp_path / "checkpoint-2"))
    torch.testing.assert_close(fresh.lambdas, saved["lambdas"])


def test_trainer_with_ldr_kl_loss_decreases(tmp_path):
    dataset = _IndexedDigits(with_index=False)
    trainer = _trainer(tmp_path, LDRKLLoss(lambda_=1.0), dataset, max_steps=8, per_device_train_batch_size=32)
    first = trainer.evaluate(dataset)["eval_loss"]
    trainer.train()
    assert trainer.evaluate(dataset)["eval_loss"] < first


def test_trainer_missing_index(tmp_path):
    trainer = _trainer(tmp_path, ALDRKLLoss(32), _IndexedDigits(with_index=False))
    with pytest.raises(ValueError, match="sample_idx"):
        trainer.train()


def test_trainer_requires_keeping_the_index_column(tmp_path):
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        _trainer(tmp_path, ALDRKLLoss(32), _IndexedDigits(), remove_unused_columns=True)
    with pytest.raises(TypeError, match="loss must be an nn.Module"):
        _trainer(tmp_path, "ce", _IndexedDigits())


# ----------------------------------------------------------------------------------------- training pieces, recipe


def test_step_decay_schedule_divides_by_ten_at_half_and_three_quarters():
    from hf_methods.training.ldr.training import make_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = make_scheduler(optimizer, total_steps=40)
    lrs = []
    for _ in range(40):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[19] == pytest.approx(1e-3) and lrs[20] == pytest.approx(1e-4)
    assert lrs[29] == pytest.approx(1e-4) and lrs[30] == pytest.approx(1e-5)


def test_noisy_digits_validation_split_is_disjoint_and_noisy():
    from hf_methods.training.ldr.training import noisy_digits

    full = noisy_digits(0, 0.6)
    split = noisy_digits(0, 0.6, validation_size=0.2)
    assert len(split.y_noisy) + len(split.y_val) == len(full.y_noisy) == 1437
    assert len(split.y_val) == round(0.2 * 1437)
    # the validation images are training images that are not in the fitting part
    fit_rows = {tuple(row.tolist()) for row in split.x}
    assert all(tuple(row.tolist()) not in fit_rows for row in split.x_val[:50])
    # validation labels carry the same noise as the training labels (about 60% differ from the truth)
    assert 0.5 < (split.y_noisy != split.y_clean).float().mean().item() < 0.7
    assert torch.equal(noisy_digits(0, 0.6, validation_size=0.2).y_val, split.y_val)  # seeded


def test_arguments_build_the_chosen_loss():
    from hf_methods.training.ldr.training import LDRArguments

    loss = LDRArguments(loss="aldr_kl", lambda_=1.0, alpha=4.0, margin=0.2).build_loss(num_samples=7)
    assert isinstance(loss, ALDRKLLoss) and loss.lambdas.shape == (7,)
    assert isinstance(LDRArguments(loss="ldr_kl").build_loss(7), LDRKLLoss)
    with pytest.raises(ValueError, match="--loss"):
        LDRArguments(loss="hinge", output_dir="x").validate()


def test_arguments_use_the_shared_cpu_threads_flag():
    # --cpu_threads is RecipeArguments' flag (applied by RecipeRunner), not redefined with another default here
    from hf_methods.harness.recipe import RecipeArguments
    from hf_methods.training.ldr.training import LDRArguments

    assert "cpu_threads" not in LDRArguments.__dict__.get("__annotations__", {})
    assert LDRArguments(output_dir="x").cpu_threads == RecipeArguments(output_dir="x").cpu_threads


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("ldr").usage, namespace)  # defines its own data, model and Trainer, and trains 4 steps
    assert namespace["aldr"].lambdas.shape == (64,) and (namespace["aldr"].lambdas < 10.0).any()
    assert torch.isfinite(namespace["loss"])


@pytest.mark.slow
def test_recipe_resume_is_bit_exact_across_a_learning_rate_decay(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "ldr.py")
    common = ["--max_steps", "30", "--loss", "aldr_kl", "--log_every", "0"]
    subprocess.run(
        [sys.executable, recipe, "--output_dir", tmp_path / "a", "--checkpoint_every", "0", *common],
        check=True,
        capture_output=True,
    )
    resumed = tmp_path / "b"
    subprocess.run(
        [sys.executable, recipe, "--output_dir", resumed, "--checkpoint_every", "15", *common],
        check=True,
        capture_output=True,
    )
    first = sorted((resumed / "checkpoints").iterdir())[0]  # saved at step 15, before the decay at step 22
    subprocess.run(
        [
            sys.executable,
            recipe,
            "--output_dir",
            resumed,
            "--resume_from_checkpoint",
            first,
            "--checkpoint_every",
            "15",
            *common,
        ],
        check=True,
        capture_output=True,
    )
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

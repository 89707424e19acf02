"""D2NWG (P15): the math of the three networks against plain references, the pipeline, the zoo and clear errors."""

import math

import numpy as np
import pytest
import torch

from hf_methods.models.d2nwg import (
    D2NWGConfig,
    D2NWGModel,
    D2NWGPipeline,
    DatasetSetEncoder,
    LatentWeightDiffusion,
    WeightVAE,
    WeightZoo,
    flatten_parameters,
    unflatten_parameters,
)
from hf_methods.models.d2nwg.modeling_d2nwg import gaussian_kl, timestep_embedding
from hf_methods.models.d2nwg.training import (
    D2NWGArguments,
    DigitClasses,
    build_digit_pair_zoo,
    classifier_accuracy,
    split_pairs,
    train_linear_classifier,
)
from tests.models.cases_d2nwg import TINY_D2NWG

SPEC = TINY_D2NWG["parameter_spec"]


def tiny_config(**overrides):
    return D2NWGConfig(**{**TINY_D2NWG, **overrides})


def synthetic_zoo(num_tasks=4, per_task=3, seed=0):
    """Tasks whose two class means differ; each task's weights are a fixed vector plus small noise."""
    g = torch.Generator().manual_seed(seed)
    pools, vectors, ids = [], [], []
    for task in range(num_tasks):
        means = torch.randn(2, 1, 6, generator=g)
        pools.append(means + 0.1 * torch.randn(2, 8, 6, generator=g))
        center = torch.randn(14, generator=g)
        for _ in range(per_task):
            vectors.append(center + 0.01 * torch.randn(14, generator=g))
            ids.append(task)
    return WeightZoo(SPEC, torch.stack(vectors), torch.tensor(ids), pools, [f"t{i}" for i in range(num_tasks)])


# ------------------------------------------------------------------------------------------------------------ math


def test_flatten_unflatten_round_trip_follows_the_spec_order():
    layer = torch.nn.Linear(6, 2)
    state = layer.state_dict()
    vector = flatten_parameters(state, SPEC)
    expected = list(state["weight"].reshape(-1).tolist()) + list(state["bias"].tolist())
    assert vector.tolist() == pytest.approx(expected)
    back = unflatten_parameters(vector, SPEC)
    assert set(back) == {"weight", "bias"} and all(torch.equal(back[k], state[k]) for k in back)


def test_timestep_embedding_matches_the_formula():
    t = torch.tensor([0, 3, 17])
    emb = timestep_embedding(t, 8)
    for row, step in zip(emb.tolist(), t.tolist()):
        freqs = [10000.0 ** (-i / 4) for i in range(4)]
        expected = [math.cos(step * w) for w in freqs] + [math.sin(step * w) for w in freqs]
        assert row == pytest.approx(expected, abs=1e-5)


def test_gaussian_kl_matches_the_closed_form():
    mean, logvar = torch.randn(3, 4), torch.randn(3, 4)
    expected = [
        0.5 * sum(m * m + math.exp(lv) - 1 - lv for m, lv in zip(mr, lr))
        for mr, lr in zip(mean.tolist(), logvar.tolist())
    ]
    assert gaussian_kl(mean, logvar).tolist() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("reconstruction", ["mse", "l1"])
def test_vae_loss_is_reconstruction_plus_beta_kl(reconstruction):
    torch.manual_seed(0)
    vae = WeightVAE(tiny_config(kl_weight=0.3, reconstruction_loss=reconstruction))
    weights = torch.randn(5, 14)
    vae.fit_weight_statistics(weights)
    noise = torch.randn(5, 4)
    out = vae(weights, latent_noise=noise)
    mean, logvar = out.latent_mean, out.latent_logvar
    z = (mean + torch.exp(0.5 * logvar) * noise).detach().numpy()
    decoded = vae.decoder(torch.from_numpy(z)).detach().numpy()
    target = ((weights - vae.weight_mean) / vae.weight_std).numpy()
    diff = decoded - target
    rec = (diff**2 if reconstruction == "mse" else np.abs(diff)).sum(axis=1).mean()
    m, lv = mean.detach().numpy(), logvar.detach().numpy()
    kl = (0.5 * (m**2 + np.exp(lv) - 1 - lv).sum(axis=1)).mean()
    assert out.loss.item() == pytest.approx(rec + 0.3 * kl, rel=1e-5)
    # the reconstruction is reported in the target model's units (the standardisation undone)
    expected = vae.weight_mean.numpy() + vae.weight_std.numpy() * decoded
    np.testing.assert_allclose(out.reconstruction.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_weight_statistics_standardise_each_coordinate():
    vae = WeightVAE(tiny_config())
    weights = torch.randn(50, 14) * torch.linspace(0.5, 3.0, 14) + 2.0
    weights[:, 0] = 1.5  # a constant coordinate is left unscaled, not divided by zero
    vae.fit_weight_statistics(weights)
    normalised = (weights - vae.weight_mean) / vae.weight_std
    np.testing.assert_allclose(normalised[:, 1:].mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalised[:, 1:].std(0, unbiased=False).numpy(), 1.0, atol=1e-4)
    assert torch.all(normalised[:, 0] == 0)


def test_moment_pooling_is_the_per_class_mean_and_std():
    encoder = DatasetSetEncoder(tiny_config())
    support = torch.rand(2, 2, 3, 6)
    pooled = encoder.pool(support).numpy()
    x = support.numpy()
    expected = np.concatenate([x.mean(axis=2), x.std(axis=2)], axis=-1).reshape(2, -1)
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-5)
    # invariant to the order of samples within a class; the order of the classes matters
    shuffled = support[:, :, torch.tensor([2, 0, 1])]
    torch.testing.assert_close(encoder(shuffled).condition, encoder(support).condition)
    assert not torch.allclose(encoder(support.flip(1)).condition, encoder(support).condition)


def test_linear_pooling_mixes_the_samples_of_each_feature():
    encoder = DatasetSetEncoder(tiny_config(set_pooling="linear", set_mixing_dim=3))
    support = torch.rand(2, 2, 3, 6)
    a = encoder.sample_mixing.weight.detach().numpy()  # (mix, C·K)
    bias = encoder.sample_mixing.bias.detach().numpy()
    x = support.numpy().reshape(2, 6, 6)  # (B, C·K, F)
    mixed = np.einsum("mj,bjf->bfm", a, x) + bias
    expected = np.where(mixed > 0, mixed, 0.01 * mixed).reshape(2, -1)
    np.testing.assert_allclose(encoder.pool(support).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_model_loss_is_the_epsilon_mse_of_its_prediction():
    torch.manual_seed(0)
    model = D2NWGModel(tiny_config())
    for p in model.parameters():  # leave the zero initialisation of the output layers
        torch.nn.init.normal_(p, std=0.3)
    latents, noise = torch.randn(3, 4), torch.randn(3, 4)
    out = model(latents, torch.tensor([0, 10, 49]), torch.rand(3, 2, 3, 6), labels=noise)
    assert out.loss.item() == pytest.approx(((out.sample - noise) ** 2).mean().item(), rel=1e-6)
    # the composite is the denoiser fed with the set encoder's embedding
    direct = model.denoiser(latents, torch.tensor([0, 10, 49]), out.condition).sample
    torch.testing.assert_close(direct, out.sample)


def test_latent_scale_gives_unit_std_and_is_undone_at_decoding():
    torch.manual_seed(0)
    model = D2NWGModel(tiny_config())
    weights = torch.randn(20, 14)
    model.vae.fit_weight_statistics(weights)
    scale = model.fit_latent_scale(weights)
    latents = model.encode_weights(weights)
    assert latents.flatten().std().item() == pytest.approx(1.0, rel=1e-4)
    mean, _ = model.vae.encode(weights)
    torch.testing.assert_close(latents, mean * scale)
    torch.testing.assert_close(model.decode_latents(latents), model.vae.decode(mean), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------------ zoo + data


def test_support_sets_come_from_the_right_classes_without_replacement():
    zoo = synthetic_zoo()
    support = zoo.sample_support_sets([2, 0, 2], 5, torch.Generator().manual_seed(0))
    assert support.shape == (3, 2, 5, 6)
    for row, task in zip(support, [2, 0, 2]):
        pool = zoo.support_pools[task]
        for c in range(2):
            rows = [tuple(r.tolist()) for r in row[c]]
            members = {tuple(r.tolist()) for r in pool[c]}
            assert len(set(rows)) == 5 and set(rows) <= members


def test_zoo_save_load_round_trip(tmp_path):
    zoo = synthetic_zoo()
    loaded = WeightZoo.load(zoo.save(tmp_path / "zoo"))
    assert loaded.parameter_spec == zoo.parameter_spec and loaded.task_names == zoo.task_names
    assert torch.equal(loaded.vectors, zoo.vectors) and torch.equal(loaded.task_ids, zoo.task_ids)
    assert all(torch.equal(a, b) for a, b in zip(loaded.support_pools, zoo.support_pools))
    assert set(zoo.state_dict_of(0)) == {"weight", "bias"}


def test_linear_classifier_zoo_learns_its_digit_pairs():
    g = torch.Generator().manual_seed(0)
    # two separable "digit" classes of 64 features, 40 training and 20 test images each
    train = [torch.rand(40, 64, generator=g) * 0.5 + (d == 1) * 0.4 for d in range(10)]
    test = [torch.rand(20, 64, generator=g) * 0.5 + (d == 1) * 0.4 for d in range(10)]
    classes = DigitClasses(train, test)
    zoo = build_digit_pair_zoo([(0, 1), (1, 0)], models_per_task=2, pool_size=10, classes=classes, max_iter=30)
    assert zoo.vectors.shape == (4, 130) and zoo.task_ids.tolist() == [0, 0, 1, 1]
    assert min(zoo.metadata["test_accuracy"]) > 0.95
    # the two orders of a pair are the same classifier with the classes swapped
    x, y = classes.task((1, 0), "test")
    assert classifier_accuracy(zoo.state_dict_of(0), x, y) < 0.05
    assert not torch.equal(zoo.vectors[0], zoo.vectors[1])  # different subsets: different models


def test_split_pairs_holds_out_both_orders():
    seen, unseen = split_pairs(9, seed=3)
    assert len(seen) == 72 and len(unseen) == 18
    assert all((b, a) in unseen for a, b in unseen) and not set(seen) & set(unseen)


# -------------------------------------------------------------------------------------------------------- pipeline


def test_pipeline_trains_generates_and_round_trips(tmp_path):
    torch.manual_seed(0)
    zoo = synthetic_zoo()
    pipe = D2NWGPipeline(tiny_config(), None)
    vae_losses = pipe.train_vae(zoo, steps=60, batch_size=12, learning_rate=3e-3)
    assert vae_losses[-1] < vae_losses[0]
    losses = pipe.train_diffusion(zoo, steps=20, batch_size=12)
    assert all(math.isfinite(v) for v in losses)
    support = zoo.sample_support_sets([1], 3)[0]
    states = pipe.generate_weights(support, n=3, num_inference_steps=10, generator=torch.Generator().manual_seed(0))
    assert len(states) == 3 and states[0]["weight"].shape == (2, 6) and states[0]["bias"].shape == (2,)
    again = pipe.generate_weights(support, n=3, num_inference_steps=10, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a["weight"], b["weight"]) for a, b in zip(states, again))
    pipe.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "model_index.json").is_file()
    loaded = D2NWGPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.model.latent_scale.item() == pipe.model.latent_scale.item()
    reloaded = loaded(support, n=3, num_inference_steps=10, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a["weight"], b["weight"]) for a, b in zip(states, reloaded))


# ---------------------------------------------------------------------------------------------------------- errors


def test_flatten_rejects_a_missing_or_misshapen_parameter():
    with pytest.raises(ValueError, match="bias"):
        flatten_parameters({"weight": torch.zeros(2, 6)}, SPEC)
    with pytest.raises(ValueError, match="shape"):
        flatten_parameters({"weight": torch.zeros(2, 5), "bias": torch.zeros(2)}, SPEC)
    with pytest.raises(TypeError, match="state_dict"):
        flatten_parameters([torch.zeros(2)], SPEC)


def test_unflatten_rejects_a_vector_of_the_wrong_length():
    with pytest.raises(ValueError, match="14 parameters"):
        unflatten_parameters(torch.zeros(13), SPEC)


def test_vae_rejects_weights_of_the_wrong_size_or_type():
    vae = WeightVAE(tiny_config())
    with pytest.raises(ValueError, match="weights"):
        vae(torch.zeros(3, 13))
    with pytest.raises(TypeError, match="weights"):
        vae(torch.zeros(3, 14, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2"):
        vae.fit_weight_statistics(torch.zeros(1, 14))


def test_set_encoder_rejects_a_misshapen_support_set():
    with pytest.raises(ValueError, match="support_set"):
        DatasetSetEncoder(tiny_config())(torch.rand(2, 3, 3, 6))


def test_denoiser_rejects_out_of_range_timesteps_and_bad_shapes():
    denoiser = LatentWeightDiffusion(tiny_config())
    with pytest.raises(ValueError, match="timesteps"):
        denoiser(torch.zeros(2, 4), torch.tensor([0, 50]), torch.zeros(2, 8))
    with pytest.raises(ValueError, match="condition"):
        denoiser(torch.zeros(2, 4), 3, torch.zeros(3, 8))
    with pytest.raises(ValueError, match="latents"):
        denoiser(torch.zeros(2, 5), 3, torch.zeros(2, 8))
    with pytest.raises(TypeError, match="timesteps"):
        denoiser(torch.zeros(2, 4), [1, 2], torch.zeros(2, 8))


def test_zoo_rejects_inconsistent_inputs():
    zoo = synthetic_zoo()
    with pytest.raises(ValueError, match="vectors"):
        WeightZoo(SPEC, torch.zeros(3, 13), torch.zeros(3), zoo.support_pools)
    with pytest.raises(ValueError, match="task_ids"):
        WeightZoo(SPEC, torch.zeros(3, 14), torch.tensor([0, 1, 9]), zoo.support_pools)
    with pytest.raises(ValueError, match="support_pools"):
        WeightZoo(SPEC, torch.zeros(1, 14), torch.zeros(1), [torch.zeros(2, 4, 6), torch.zeros(3, 4, 6)])
    with pytest.raises(ValueError, match="fewer than samples_per_class|samples_per_class"):
        zoo.sample_support_sets([0], 9)
    with pytest.raises(ValueError, match="task ids"):
        zoo.sample_support_sets([7], 2)


def test_pipeline_rejects_a_mismatched_zoo_and_bad_requests():
    pipe = D2NWGPipeline(tiny_config(), None)
    with pytest.raises(TypeError, match="model"):
        D2NWGPipeline(torch.nn.Linear(2, 2), None)
    with pytest.raises(TypeError, match="zoo"):
        pipe.train_vae([1, 2, 3])
    other = WeightZoo([["w", [14]]], torch.zeros(3, 14), torch.zeros(3), synthetic_zoo().support_pools)
    with pytest.raises(ValueError, match="parameter_spec"):
        pipe.train_vae(other)
    support = synthetic_zoo().sample_support_sets([0], 3)[0]
    with pytest.raises(ValueError, match="support_set"):
        pipe.generate_weights(support[:, :2])
    with pytest.raises(ValueError, match="n"):
        pipe.generate_weights(support, n=0)
    with pytest.raises(ValueError, match="one dataset"):
        pipe.generate_weights(support[None])


def test_training_helpers_reject_bad_arguments():
    with pytest.raises(ValueError, match="subsample"):
        train_linear_classifier(torch.rand(4, 64), torch.tensor([0, 1, 0, 1]), subsample=0.0)
    with pytest.raises(ValueError, match="digit pair"):
        DigitClasses([], []).task((3, 3))
    with pytest.raises(ValueError, match="num_heldout"):
        split_pairs(45, seed=0)
    with pytest.raises(ValueError, match="--set_pooling"):
        D2NWGArguments(output_dir="/tmp/unused", set_pooling="max").validate()
    with pytest.raises(ValueError, match="--vae_steps"):
        D2NWGArguments(output_dir="/tmp/unused", vae_steps=0).validate()


# ---------------------------------------------------------------------------------------------------------- recipe


def _tiny_zoo_dir(tmp_path):
    from hf_methods.models.d2nwg.training import load_digit_classes

    seen, _ = split_pairs(1, seed=0)
    zoo = build_digit_pair_zoo(seen[:4], models_per_task=1, max_iter=5, classes=load_digit_classes())
    return str(zoo.save(tmp_path / "zoo"))


def _recipe_flags(zoo_dir, output_dir, *extra):
    return [
        "--output_dir",
        str(output_dir),
        "--zoo_dir",
        zoo_dir,
        "--num_heldout_pairs",
        "1",
        "--max_steps",
        "4",
        "--vae_steps",
        "3",
        "--batch_size",
        "4",
        "--vae_hidden_size",
        "16",
        "--denoiser_hidden_size",
        "16",
        "--denoiser_num_layers",
        "1",
        "--condition_dim",
        "8",
        "--num_train_timesteps",
        "10",
        "--num_samples",
        "2",
        "--log_every",
        "0",
        "--report_to",
        "none",
        *extra,
    ]


def test_recipe_runs_a_few_steps_into_a_hub_ready_folder(tmp_path):
    from recipes.d2nwg import main

    metrics = main(_recipe_flags(_tiny_zoo_dir(tmp_path), tmp_path / "out", "--checkpoint_every", "0"))
    assert 0.0 <= metrics["eval/unseen_accuracy"] <= 1.0
    out = tmp_path / "out"
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    pipe = D2NWGPipeline.from_pretrained(out)
    assert pipe.model.config.num_train_timesteps == 10 and pipe.scheduler.config.num_train_timesteps == 10


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    from safetensors.torch import load_file

    from recipes.d2nwg import main

    zoo_dir = _tiny_zoo_dir(tmp_path)
    main(_recipe_flags(zoo_dir, tmp_path / "a", "--checkpoint_every", "0"))
    main(_recipe_flags(zoo_dir, tmp_path / "b", "--checkpoint_every", "2"))
    first = sorted((tmp_path / "b" / "checkpoints").iterdir())[0]
    main(_recipe_flags(zoo_dir, tmp_path / "b", "--checkpoint_every", "2", "--resume_from_checkpoint", str(first)))
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("d2nwg").usage, namespace)
    assert len(namespace["state_dicts"]) == 5
    assert namespace["classifier"].weight.shape == (2, 64)


@pytest.mark.slow
def test_zoo_builder_script_writes_a_loadable_zoo(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("build_d2nwg_zoo", repo_root() / "scripts" / "build_d2nwg_zoo.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    folder = script.main(
        ["--output_dir", str(tmp_path / "zoo"), "--unordered", "--models_per_task", "1", "--max_iter", "3"]
    )
    zoo = WeightZoo.load(folder)
    assert len(zoo) == 45 and zoo.num_tasks == 45 and zoo.vectors.shape[1] == 130

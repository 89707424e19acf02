"""Tests of P29 `deep_ntk`: dual activations against Gaussian quadrature, the NTK recursion against a plain loop, the
log-domain path against the direct one, the empirical NTK of wide networks against the closed form, the three limit
classifiers, the scikit-learn estimator, the recipe, and one clear error per bad input."""

import math

import numpy as np
import pytest
import torch

from hf_methods.analysis.deep_ntk import (
    DeepNTKClassifier,
    DualActivation,
    depth_limit_agreement,
    empirical_ntk_convergence,
    erf_dual,
    get_dual_activation,
    hermite_dual,
    majority_vote_predict,
    nearest_neighbor_predict,
    ntk_kernel,
    ntk_mlp,
    relu_dual,
    singular_kernel_predict,
    sphere_normalize,
)
from hf_methods.analysis.deep_ntk.kernels import depth_regime

H = math.sqrt(0.5)


def sphere(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clusters(n_per_class=12, d=5, classes=3, seed=0, spread=0.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    x = np.concatenate([c + spread * rng.normal(size=(n_per_class, d)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


# ------------------------------------------------------------------------------------------------ dual activations


def gaussian_pair_expectation(f, g, rho, points=80):
    """E[f(u) g(v)] for standard normals with correlation rho, by 2-D Gauss–Hermite quadrature (probabilists')."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    weights = weights / weights.sum()
    u = nodes[:, None]
    v = rho * nodes[:, None] + math.sqrt(1 - rho**2) * nodes[None, :]
    return float((weights[:, None] * weights[None, :] * f(u) * g(v)).sum())


def hermite_value(coeffs, x):
    """φ(x) = Σ a_i He_i(x)/√(i!) with numpy's own probabilists' Hermite series."""
    scaled = [a / math.sqrt(math.factorial(i)) for i, a in enumerate(coeffs)]
    return np.polynomial.hermite_e.hermeval(x, scaled)


@pytest.mark.parametrize("rho", [-0.7, 0.0, 0.3, 0.9])
def test_hermite_dual_is_the_gaussian_expectation(rho):
    coeffs = [0.3, 0.5, math.sqrt(1 - 0.3**2 - 0.5**2 - 0.4**2), 0.4]
    dual = hermite_dual(coeffs)
    phi = lambda x: hermite_value(coeffs, x)  # noqa: E731
    dphi = lambda x: np.polynomial.hermite_e.hermeval(  # noqa: E731
        x, np.polynomial.hermite_e.hermeder([a / math.sqrt(math.factorial(i)) for i, a in enumerate(coeffs)])
    )
    assert dual.psi(np.array(rho)) == pytest.approx(gaussian_pair_expectation(phi, phi, rho), abs=1e-10)
    assert dual.dpsi(np.array(rho)) == pytest.approx(gaussian_pair_expectation(dphi, dphi, rho), abs=1e-10)
    assert dual.psi(np.array(1.0)) == pytest.approx(1.0)


@pytest.mark.parametrize("rho", [-0.5, 0.2, 0.8])
def test_relu_and_erf_duals_are_the_gaussian_expectations(rho):
    relu = lambda x: math.sqrt(2) * np.maximum(x, 0)  # noqa: E731
    step = lambda x: math.sqrt(2) * (x > 0)  # noqa: E731
    # the kink and the jump make the quadrature converge slowly: at 150 points its own error is ≈ 1e-3 (ψ) and ≈ 1e-2
    # (ψ'), so these tolerances measure the quadrature, not the closed forms
    assert relu_dual().psi(np.array(rho)) == pytest.approx(gaussian_pair_expectation(relu, relu, rho, 150), abs=2e-3)
    assert relu_dual().dpsi(np.array(rho)) == pytest.approx(gaussian_pair_expectation(step, step, rho, 150), abs=2e-2)
    scale = math.sqrt(2 / math.pi * math.asin(2 / 3))
    erf = lambda x: np.vectorize(math.erf)(x) / scale  # noqa: E731
    derf = lambda x: 2 / math.sqrt(math.pi) * np.exp(-(x**2)) / scale  # noqa: E731
    assert erf_dual().psi(np.array(rho)) == pytest.approx(gaussian_pair_expectation(erf, erf, rho), abs=1e-6)
    assert erf_dual().dpsi(np.array(rho)) == pytest.approx(gaussian_pair_expectation(derf, derf, rho), abs=1e-6)


def test_torch_hermite_activation_matches_numpy_series():
    coeffs = [0.1, 0.5, 0.6, math.sqrt(1 - 0.01 - 0.25 - 0.36)]
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    expected = hermite_value(coeffs, x.numpy())
    np.testing.assert_allclose(hermite_dual(coeffs).torch_activation(x).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_slopes_and_regimes():
    assert relu_dual().slope_at_one == pytest.approx(1.0) and relu_dual().regime == "singular-kernel"
    assert hermite_dual([0, H, H]).slope_at_one == pytest.approx(1.5) and hermite_dual([0, H, H]).regime == "1-nn"
    assert hermite_dual([H, H]).slope_at_one == pytest.approx(0.5)
    assert hermite_dual([H, H]).regime == "majority-vote"
    assert erf_dual().slope_at_one == pytest.approx(1.2257, abs=1e-4)
    assert depth_regime(1.0) == "singular-kernel"


# ------------------------------------------------------------------------------------------------------- the kernel


def ntk_loop(x1, x2, depth, psi, dpsi):
    """The recursion written out pair by pair in Python floats (not normalised)."""
    out = np.zeros((len(x1), len(x2)))
    for i, a in enumerate(x1):
        for j, b in enumerate(x2):
            sigma = sum(float(p) * float(q) for p, q in zip(a, b))
            kernel = sigma
            for _ in range(depth):
                kernel = kernel * float(dpsi(np.array(sigma))) + float(psi(np.array(sigma)))
                sigma = float(psi(np.array(sigma)))
            out[i, j] = kernel
    return out


@pytest.mark.parametrize("depth", [0, 1, 4])
@pytest.mark.parametrize("name", ["relu", "erf", "hermite"])
def test_ntk_kernel_matches_the_recursion_loop(depth, name):
    dual = hermite_dual([0.4, 0.6, math.sqrt(1 - 0.16 - 0.36)]) if name == "hermite" else get_dual_activation(name)
    x1, x2 = sphere(4, 3, seed=1), sphere(5, 3, seed=2)
    expected = ntk_loop(x1, x2, depth, dual.psi, dual.dpsi)
    np.testing.assert_allclose(ntk_kernel(x1, x2, depth=depth, activation=dual, normalize=False), expected, rtol=1e-10)
    diagonal = sum(dual.slope_at_one**k for k in range(depth + 1))  # c_L = Σ_k ξ^k, as ψ(1) = 1
    np.testing.assert_allclose(ntk_kernel(x1, x2, depth=depth, activation=dual), expected / diagonal, rtol=1e-10)


def test_relu_depth_one_closed_form_and_unit_diagonal():
    x = sphere(6, 4)
    rho = np.clip(x @ x.T, -1, 1)
    theta = np.arccos(rho)
    expected = (rho * (math.pi - theta) + np.sin(theta) + rho * (math.pi - theta)) / math.pi  # ρψ'(ρ) + ψ(ρ)
    np.testing.assert_allclose(ntk_kernel(x, depth=1, normalize=False), expected, atol=1e-12)
    np.testing.assert_allclose(np.diag(ntk_kernel(x, depth=30)), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(ntk_kernel(x, depth=300, hermite_coeffs=[0, H, H])), 1.0, atol=1e-12)


@pytest.mark.parametrize("coeffs", [[0, 0, H, H], [0, H, H], [0, 0.6, 0, 0.8]])
def test_log_domain_matches_the_direct_recursion(coeffs):
    x1, x2 = sphere(6, 4, seed=3), sphere(7, 4, seed=4)
    direct = ntk_kernel(x1, x2, depth=5, hermite_coeffs=coeffs, log_domain=False)
    logged = ntk_kernel(x1, x2, depth=5, hermite_coeffs=coeffs, log_domain=True)
    np.testing.assert_allclose(logged, direct, rtol=1e-9, atol=1e-13)  # two float paths: no exact equality


def test_row_scaled_kernel_keeps_the_ratios_that_underflow():
    x1, x2 = sphere(5, 4, seed=5), sphere(8, 4, seed=6)
    coeffs = [0, 0, H, H]
    shallow = ntk_kernel(x1, x2, depth=4, hermite_coeffs=coeffs)
    scaled = ntk_kernel(x1, x2, depth=4, hermite_coeffs=coeffs, row_scaled=True)
    np.testing.assert_allclose(scaled, shallow / np.abs(shallow).max(1, keepdims=True), rtol=1e-9)
    deep = ntk_kernel(x1, x2, depth=60, hermite_coeffs=coeffs, row_scaled=True)  # plain K̃ is all zeros here
    assert np.all(np.abs(deep).max(1) == pytest.approx(1.0))
    nearest = np.argmin(((x1[:, None] - x2[None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(np.argmax(deep, axis=1), nearest)


# ------------------------------------------------------------------------------------------- empirical vs closed


def test_empirical_ntk_of_wide_relu_net_matches_the_closed_form():
    x = sphere(8, 5, seed=7)
    result = empirical_ntk_convergence(x, widths=[32, 4096], depth=1, activation="relu", seeds=[0])
    narrow, wide = result.relative_error
    assert wide < 0.05, result  # O(1/√width) fluctuation: ≈ 0.02 at width 4096
    assert wide < narrow


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs, depth, bound",
    [
        ({"activation": "relu"}, 3, 0.1),
        ({"activation": "erf"}, 3, 0.1),
        # a polynomial activation has heavy-tailed hidden units: its O(1/√width) constant is larger (≈ 0.11 at 2048)
        ({"hermite_coeffs": [0.4, 0.6, 0.6, math.sqrt(0.12)]}, 1, 0.2),
    ],
)
def test_empirical_ntk_error_shrinks_with_width(kwargs, depth, bound):
    x = sphere(6, 4, seed=8)
    result = empirical_ntk_convergence(x, widths=[32, 256, 2048], depth=depth, seeds=[0, 1], **kwargs)
    errors = result.relative_error
    assert errors[2] < errors[1] < errors[0], errors
    assert errors[2] < bound, errors


def test_ntk_mlp_is_seeded_and_uses_the_activation():
    a, b = ntk_mlp(4, 16, 2, seed=3), ntk_mlp(4, 16, 2, seed=3)
    x = torch.from_numpy(sphere(3, 4))
    assert torch.equal(a(x), b(x)) and a(x).shape == (3, 1)


# ------------------------------------------------------------------------------------------------------- limits


def test_nearest_neighbor_matches_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    x, y = clusters(seed=1)
    test = sphere(20, 5, seed=9)
    expected = KNeighborsClassifier(n_neighbors=1).fit(x, y).predict(test)
    assert np.array_equal(nearest_neighbor_predict(x, y, test), expected)


def test_singular_kernel_matches_the_sum_written_out():
    x, y = clusters(n_per_class=5, seed=2)
    test = sphere(10, 5, seed=10)
    for alpha in (1.0, 3.0, 12.0):
        expected = []
        for t in test:
            scores = {c: sum(np.linalg.norm(t - xi) ** -alpha for xi, yi in zip(x, y) if yi == c) for c in set(y)}
            expected.append(max(scores, key=scores.get))
        assert np.array_equal(singular_kernel_predict(x, y, test, alpha), expected)
    # a coinciding point decides; a huge alpha is 1-NN
    assert singular_kernel_predict(x, y, x[:3], 2.0).tolist() == y[:3].tolist()
    assert np.array_equal(singular_kernel_predict(x, y, test, 400.0), nearest_neighbor_predict(x, y, test))


def test_majority_vote():
    assert majority_vote_predict(np.array([2, 1, 2, 0, 2, 1]), 3).tolist() == [2, 2, 2]
    assert majority_vote_predict(np.array([1, 0]), 1).tolist() == [0]  # ties: the smallest label


def test_deep_classifiers_approach_their_limits():
    x, y = clusters(n_per_class=15, d=6, seed=4, spread=0.8)
    x_train, y_train, x_test = x[::2], y[::2], x[1::2]
    one_nn = depth_limit_agreement(x_train, y_train, x_test, depths=[1, 60], hermite_coeffs=[0, 0, H, H])
    assert one_nn.agreement_1nn[-1] == 1.0 and one_nn.regime == "1-nn"
    vote = depth_limit_agreement(
        x_train, y_train[:-1].tolist() + [0], x_test, depths=[200], hermite_coeffs=[H, 0.5, 0.5]
    )
    assert vote.agreement_majority[-1] == 1.0 and vote.offdiag_mean[-1] == pytest.approx(1.0)
    assert vote.majority_classes == 1
    # balanced classes: every class is a majority vote, and the constant kernel's pick is one of them
    balanced = np.arange(len(x_train)) % 3  # 8, 8, 7 → two tied majority classes
    tied = depth_limit_agreement(x_train, balanced, x_test, depths=[200], hermite_coeffs=[H, 0.5, 0.5])
    assert tied.majority_classes == 2 and tied.agreement_majority[-1] == 1.0


# ---------------------------------------------------------------------------------------------------- estimator


def test_classifier_interpolates_and_scores():
    from sklearn.base import clone

    x, y = clusters(seed=5)
    clf = DeepNTKClassifier(depth=3).fit(x * 3.0, y)  # any scale: rows are put on the sphere
    assert np.array_equal(clf.predict(x), y)  # interpolation of a strictly positive definite kernel
    assert clf.score(x, y) == 1.0 and clf.class_scores(x).shape == (len(x), 3)
    assert clone(clf).get_params() == clf.get_params()
    binary = DeepNTKClassifier(depth=2, ridge=1e-3).fit(x[y < 2], np.where(y[y < 2] == 0, "a", "b"))
    assert binary.decision_function(x[:4]).shape == (4,) and set(binary.predict(x)) <= {"a", "b"}


def test_classifier_save_and_load(tmp_path):
    x, y = clusters(seed=6)
    clf = DeepNTKClassifier(depth=20, hermite_coeffs=[0, H, H]).fit(x, y)
    clf.save_pretrained(tmp_path)
    loaded = DeepNTKClassifier.from_pretrained(tmp_path)
    test = sphere(9, 5, seed=11)
    assert np.array_equal(loaded.predict(test), clf.predict(test))
    assert loaded.get_params() == clf.get_params()


# --------------------------------------------------------------------------------------------------------- recipe


def test_recipe_writes_the_analysis_and_the_classifier(tmp_path):
    import json

    from recipes.deep_ntk import main

    metrics = main(["--output_dir", str(tmp_path), "--depths", "1,5", "--depth", "5", "--n_train", "60",
                    "--n_test", "40", "--pca_dim", "6", "--alpha_step", "4"])  # fmt: skip
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["depths"] == [1, 5] and (tmp_path / "depth-limits.png").is_file()
    assert (tmp_path / "README.md").is_file()
    clf = DeepNTKClassifier.from_pretrained(tmp_path)
    assert clf.depth == 5 and 0.0 <= metrics["eval/accuracy"] <= 1.0


# ------------------------------------------------------------------------------------------------------- errors


def test_bad_hermite_coefficients():
    with pytest.raises(ValueError, match="hermite_coeffs must satisfy"):
        hermite_dual([0.5, 0.5])
    with pytest.raises(ValueError, match="identity"):
        hermite_dual([0.0, 1.0])
    with pytest.raises(ValueError, match="hermite_coeffs must be a non-empty"):
        hermite_dual([])
    with pytest.raises(TypeError, match="hermite_coeffs must be a sequence"):
        hermite_dual(["a"])


def test_bad_activation_names():
    with pytest.raises(ValueError, match="activation must be one of"):
        get_dual_activation("tanh")
    with pytest.raises(ValueError, match="either activation or hermite_coeffs"):
        get_dual_activation("relu", [0, H, H])


def test_bad_kernel_inputs():
    x = sphere(3, 4)
    with pytest.raises(ValueError, match="depth must be an integer >= 0"):
        ntk_kernel(x, depth=-1)
    with pytest.raises(ValueError, match="depth must be an integer >= 0"):
        ntk_kernel(x, depth=2.0)
    with pytest.raises(ValueError, match="X1 rows must lie on the unit sphere"):
        ntk_kernel(x * 2, depth=1)
    with pytest.raises(ValueError, match="X2 rows must lie on the unit sphere"):
        ntk_kernel(x, x * 2, depth=1)
    with pytest.raises(ValueError, match="X1 has 4 features but X2 has 3"):
        ntk_kernel(x, sphere(2, 3), depth=1)
    with pytest.raises(ValueError, match="X1 must be a non-empty 2-D array"):
        ntk_kernel(x[0], depth=1)
    with pytest.raises(ValueError, match="X1 contains NaN"):
        ntk_kernel(np.full((2, 2), np.nan), depth=1)
    with pytest.raises(ValueError, match="log_domain=True needs"):
        ntk_kernel(x, depth=1, log_domain=True)
    with pytest.raises(ValueError, match="row_scaled=True"):
        ntk_kernel(x, depth=1, row_scaled=True, normalize=False)
    with pytest.raises(ValueError, match="X has a row of zeros"):
        sphere_normalize(np.zeros((2, 3)))


def test_bad_limit_inputs():
    x, y = clusters(n_per_class=3)
    with pytest.raises(ValueError, match="alpha must be a positive"):
        singular_kernel_predict(x, y, x, 0.0)
    with pytest.raises(ValueError, match="y_train must be 1-D with one label per training row"):
        nearest_neighbor_predict(x, y[:-1], x)
    with pytest.raises(ValueError, match="X_train has 5 features but X_test has 4"):
        nearest_neighbor_predict(x, y, sphere(2, 4))
    with pytest.raises(ValueError, match="n_test must be an integer >= 0"):
        majority_vote_predict(y, -1)
    with pytest.raises(ValueError, match="y_train must be a non-empty"):
        majority_vote_predict([], 2)
    with pytest.raises(ValueError, match="depths must name at least one depth"):
        depth_limit_agreement(x, y, x, depths=[])
    with pytest.raises(ValueError, match="alphas must be a non-empty sequence of positive"):
        depth_limit_agreement(x, y, x, depths=[1], alphas=[-1.0])


def test_bad_classifier_inputs(tmp_path):
    x, y = clusters(n_per_class=3)
    with pytest.raises(ValueError, match="rcond must be a finite number >= 0"):
        DeepNTKClassifier(rcond=-1).fit(x, y)
    with pytest.raises(ValueError, match="ridge must be a finite number >= 0"):
        DeepNTKClassifier(ridge=float("nan")).fit(x, y)
    with pytest.raises(ValueError, match="depth must be an integer"):
        DeepNTKClassifier(depth=-2).fit(x, y)
    with pytest.raises(ValueError, match="at least two classes"):
        DeepNTKClassifier().fit(x, np.zeros(len(x)))
    with pytest.raises(ValueError, match="X rows must lie on the unit sphere"):
        DeepNTKClassifier(normalize_inputs=False).fit(x * 2, y)
    clf = DeepNTKClassifier(depth=1).fit(x, y)
    with pytest.raises(ValueError, match="X has 4 features, but the classifier was fitted with 5"):
        clf.predict(sphere(2, 4))
    with pytest.raises(FileNotFoundError, match="not a saved DeepNTKClassifier"):
        DeepNTKClassifier.from_pretrained(tmp_path)
    custom = DualActivation("custom", relu_dual().psi, relu_dual().dpsi)
    with pytest.raises(ValueError, match="only a named activation"):
        DeepNTKClassifier(activation=custom).fit(x, y).save_pretrained(tmp_path)


def test_bad_network_inputs():
    custom = DualActivation("custom", relu_dual().psi, relu_dual().dpsi)
    with pytest.raises(ValueError, match="has no torch activation"):
        ntk_mlp(3, 8, 1, activation=custom)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        ntk_mlp(3, 0, 1)
    with pytest.raises(ValueError, match="widths must be a positive integer"):
        empirical_ntk_convergence(sphere(2, 3), widths=[0], depth=1)
    with pytest.raises(ValueError, match="X rows must lie on the unit sphere"):
        empirical_ntk_convergence(sphere(2, 3) * 3, widths=[4], depth=1)


def test_recipe_arguments_are_validated():
    from hf_methods.analysis.deep_ntk.training import DeepNTKArguments

    with pytest.raises(ValueError, match="--hermite_coeffs"):
        DeepNTKArguments(output_dir="unused", hermite_coeffs="0.5,0.5").validate()
    with pytest.raises(ValueError, match="--activation"):
        DeepNTKArguments(output_dir="unused", activation="tanh").validate()
    with pytest.raises(ValueError, match="--depths"):
        DeepNTKArguments(output_dir="unused", depths="1,a").validate()
    with pytest.raises(ValueError, match="--n_train"):
        DeepNTKArguments(output_dir="unused", n_train=1500, n_test=400).validate()
    with pytest.raises(ValueError, match="--alpha_min"):
        DeepNTKArguments(output_dir="unused", alpha_min=0.0).validate()

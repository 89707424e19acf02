"""Tests of P52 `ponita`: the geometry and the convolution against plain-loop references, exact SE(n) symmetry in
float64, PyTorch Geometric inputs, calibration, the N-body simulator, the QM9 loader, the recipe and the errors.

The generic model matrix (save/load, Auto classes, remote code, a training step) lives in `tests/test_model_matrix.py`
with the cases of `tests/models/cases_ponita.py`.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from hf_methods.models.ponita import PonitaConfig, PonitaModel
from hf_methods.models.ponita.modeling_ponita import (
    PonitaConv,
    circle_grid,
    fiber_bundle_attributes,
    fibonacci_sphere,
    lift_point_cloud,
    point_cloud_attributes,
    polynomial_cutoff,
    polynomial_features,
    radius_graph,
)
from hf_methods.models.ponita.training import (
    PonitaArguments,
    collate_graphs,
    constant_velocity_mse,
    equivariance_error,
    integrate_charged_particles,
    make_nbody_task,
    nbody_samples,
    random_rotation,
    train_ponita,
)

F64 = torch.float64


def tiny_config(**overrides) -> PonitaConfig:
    kwargs = dict(
        input_dim=1,
        input_dim_vec=1,
        hidden_dim=8,
        output_dim=2,
        output_dim_vec=1,
        num_layers=2,
        num_ori=-1,
        degree=2,
        widening_factor=2,
        task_level="node",
    )
    kwargs.update(overrides)
    return PonitaConfig(**kwargs)


def clouds(n=3, sizes=(4, 5), seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    total = sum(sizes)
    return {
        "x": torch.randn(total, 1, generator=g, dtype=dtype),
        "pos": torch.randn(total, n, generator=g, dtype=dtype),
        "vec": torch.randn(total, 1, n, generator=g, dtype=dtype),
        "batch": torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)]),
    }


def model_of(config, seed=0):
    torch.manual_seed(seed)
    return PonitaModel(config).to(F64).eval()


# --- geometry against plain loops ----------------------------------------------------------------------------------


def test_fibonacci_sphere_matches_the_spiral_formula():
    n, offset = 12, 0.5
    grid = fibonacci_sphere(n).numpy()
    for i in range(n):
        theta = (math.pi * i * (1 + math.sqrt(5))) % (2 * math.pi)
        phi = math.acos(1 - 2 * (i + offset) / (n - 1 + 2 * offset))
        expected = [math.cos(theta) * math.sin(phi), math.sin(theta) * math.sin(phi), math.cos(phi)]
        np.testing.assert_allclose(grid[i], expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(grid, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(circle_grid(4).numpy(), [[1, 0], [0, 1], [-1, 0], [0, -1]], atol=1e-12)


def test_radius_graph_matches_brute_force():
    data = clouds(sizes=(4, 5))
    pos, batch = data["pos"], data["batch"]
    edges = set(map(tuple, radius_graph(pos, 1.5, batch).T.tolist()))
    expected = {
        (j, i)
        for i in range(9)
        for j in range(9)
        if i != j and batch[i] == batch[j] and float((pos[i] - pos[j]).norm()) <= 1.5
    }
    assert edges == expected
    full = radius_graph(pos, None, batch, loop=True)
    assert full.shape[1] == 4 * 4 + 5 * 5


@pytest.mark.parametrize("n", [2, 3])
def test_fiber_bundle_attributes_match_the_definitions(n):
    data = clouds(n=n)
    pos = data["pos"]
    grid = fibonacci_sphere(5) if n == 3 else circle_grid(5)
    edges = torch.tensor([[0, 1, 2, 6], [1, 0, 3, 5]])
    spatial, fiber, dists = fiber_bundle_attributes(pos, grid, edges)
    p, o = pos.numpy(), grid.numpy()
    for e, (j, i) in enumerate(edges.T.tolist()):
        rel = p[j] - p[i]  # sender minus receiver, the official convention
        assert dists[e, 0] == pytest.approx(np.linalg.norm(rel), abs=1e-12)
        for k in range(5):
            a1 = float(o[k] @ rel)
            a2 = np.linalg.norm(rel - a1 * o[k]) if n == 3 else o[k][0] * rel[1] - o[k][1] * rel[0]
            assert spatial[e, k, 0] == pytest.approx(a1, abs=1e-12)
            assert spatial[e, k, 1] == pytest.approx(a2, abs=1e-12)
    np.testing.assert_allclose(fiber[..., 0].numpy(), o @ o.T, atol=1e-12)


def test_point_cloud_attributes_match_the_definitions():
    g = torch.Generator().manual_seed(1)
    pos = torch.randn(4, 3, generator=g, dtype=F64)
    ori = torch.nn.functional.normalize(torch.randn(4, 3, generator=g, dtype=F64), dim=-1)
    edges = torch.tensor([[0, 1, 3], [2, 2, 0]])
    attributes, dists = point_cloud_attributes(pos, ori, edges)
    for e, (j, i) in enumerate(edges.T.tolist()):
        rel = (pos[j] - pos[i]).numpy()
        oi, oj = ori[i].numpy(), ori[j].numpy()
        a1 = float(oi @ rel)
        expected = [a1, np.linalg.norm(rel - a1 * oi), float(oi @ oj)]
        np.testing.assert_allclose(attributes[e].numpy(), expected, atol=1e-12)
        assert dists[e, 0] == pytest.approx(np.linalg.norm(rel))


def test_lift_point_cloud_matches_a_loop():
    """Each directed edge j → i becomes a lifted point (p_i, (p_j − p_i)/‖·‖); lifted points at s send to those at t
    for every input edge s → t and every self-loop."""
    data = clouds(sizes=(4, 5))
    pos = data["pos"]
    edges = radius_graph(pos, None, data["batch"])
    edges = edges[:, torch.arange(edges.shape[1]) % 3 != 0]  # an asymmetric graph
    lifted = lift_point_cloud(pos, edges)
    points = []
    for index in range(lifted.base.shape[0]):
        i = int(lifted.base[index])
        senders = [
            j
            for j, t in edges.T.tolist()
            if t == i and torch.allclose((pos[j] - pos[i]) / (pos[j] - pos[i]).norm(), lifted.ori[index])
        ]
        assert len(senders) == 1
        points.append((i, senders[0]))
    assert sorted(points) == sorted((t, s) for s, t in edges.T.tolist())
    base_edges = {tuple(e) for e in edges.T.tolist()} | {(i, i) for i in range(pos.shape[0])}
    expected = {
        (a, b) for a in range(len(points)) for b in range(len(points)) if (points[a][0], points[b][0]) in base_edges
    }
    got = [tuple(e) for e in lifted.edge_index.T.tolist()]
    assert len(got) == len(set(got)) and set(got) == expected


def test_polynomial_features_and_cutoff():
    a = torch.tensor([[2.0, 3.0]], dtype=F64)
    np.testing.assert_allclose(polynomial_features(a, 2).numpy(), [[2, 3, 4, 6, 6, 9]])
    assert polynomial_features(a, 3).shape[-1] == 2 + 4 + 8
    r = torch.tensor([0.0, 0.5, 1.0, 1.5], dtype=F64)
    p = 6
    d = 0.5
    w_half = 1 - (p + 1) * (p + 2) / 2 * d**p + p * (p + 2) * d ** (p + 1) - p * (p + 1) / 2 * d ** (p + 2)
    np.testing.assert_allclose(polynomial_cutoff(r, 1.0).numpy(), [1.0, w_half, 0.0, 0.0], atol=1e-12)
    assert torch.equal(polynomial_cutoff(r, None), torch.ones_like(r))


def test_separable_conv_matches_loops():
    """x₁[i,o,c] = Σ_j k(i,j,o)_c x[j,o,c];  x₂[i,o',c] = (1/O) Σ_o k_f(o,o')_c x₁[i,o,c];  + bias."""
    torch.manual_seed(0)
    conv = PonitaConv(channels=2, basis_dim=3, fiber=True).to(F64)
    torch.nn.init.normal_(conv.bias)
    num_nodes, num_ori = 3, 4
    x = torch.randn(num_nodes, num_ori, 2, dtype=F64)
    edges = torch.tensor([[0, 1, 2, 2], [1, 0, 0, 2]])
    basis = torch.randn(4, num_ori, 3, dtype=F64)
    fiber_basis = torch.randn(num_ori, num_ori, 3, dtype=F64)
    out = conv(x, edges, basis, fiber_basis)
    k, kf, b = conv.kernel.weight.detach(), conv.fiber_kernel.weight.detach(), conv.bias.detach()
    for i in range(num_nodes):
        for q in range(num_ori):
            for c in range(2):
                total = 0.0
                for o in range(num_ori):
                    x1 = sum(
                        float(basis[e, o] @ k[c]) * float(x[j, o, c])
                        for e, (j, t) in enumerate(edges.T.tolist())
                        if t == i
                    )
                    total += float(fiber_basis[o, q] @ kf[c]) * x1
                assert out[i, q, c].item() == pytest.approx(total / num_ori + float(b[c]), abs=1e-10)


# --- exact symmetry in float64 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("task_level", ["node", "graph"])
def test_point_cloud_mode_is_exactly_se_n_equivariant(n, task_level):
    model = model_of(tiny_config(spatial_dim=n, task_level=task_level))
    data = clouds(n=n)
    errors = equivariance_error(model, data, torch.Generator().manual_seed(3))
    assert errors["scalar_error"] < 1e-10 and errors["vector_error"] < 1e-10, errors


def test_fiber_bundle_is_exactly_equivariant_for_grid_rotations_in_2d():
    """Rotating by 2π/O maps the S¹ grid onto itself, so SE(2) fiber-bundle PONITA is exact for that rotation."""
    num_ori = 6
    model = model_of(tiny_config(spatial_dim=2, num_ori=num_ori))
    data = clouds(n=2)
    angle = 2 * math.pi / num_ori
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=F64)
    shift = torch.tensor([0.3, -1.2], dtype=F64)
    with torch.no_grad():
        out = model(**data)
        moved = model(**dict(data, pos=data["pos"] @ rotation.T + shift, vec=data["vec"] @ rotation.T))
    torch.testing.assert_close(moved.scalars, out.scalars, atol=1e-10, rtol=0)
    torch.testing.assert_close(moved.vectors, out.vectors @ rotation.T, atol=1e-10, rtol=0)


def test_fiber_bundle_error_shrinks_with_the_grid():
    data = clouds()
    errors = {}
    for num_ori in (8, 48):
        model = model_of(tiny_config(num_ori=num_ori))
        errors[num_ori] = equivariance_error(model, data, torch.Generator().manual_seed(5))["vector_error"]
    assert errors[48] < errors[8]
    # translations are exact in both modes
    model = model_of(tiny_config(num_ori=8))
    with torch.no_grad():
        out, moved = model(**data), model(**dict(data, pos=data["pos"] + 3.0))
    torch.testing.assert_close(moved.vectors, out.vectors, atol=1e-10, rtol=0)


@pytest.mark.parametrize("num_ori", [-1, 6])
def test_permuting_nodes_permutes_node_outputs(num_ori):
    model = model_of(tiny_config(num_ori=num_ori))
    data = clouds()
    perm = torch.tensor([3, 1, 0, 2, 8, 5, 7, 4, 6])
    with torch.no_grad():
        out = model(**data)
        permuted = model(**{k: v[perm] for k, v in data.items()})
    torch.testing.assert_close(permuted.scalars, out.scalars[perm], atol=1e-10, rtol=0)
    torch.testing.assert_close(permuted.vectors, out.vectors[perm], atol=1e-10, rtol=0)


def test_a_graph_prediction_does_not_depend_on_its_batch():
    model = model_of(tiny_config(num_ori=6, task_level="graph"))
    data = clouds(sizes=(4, 5))
    with torch.no_grad():
        both = model(**data)
        second = model(**{k: v[4:] for k, v in data.items() if k != "batch"})
    torch.testing.assert_close(second.scalars[0], both.scalars[1], atol=1e-10, rtol=0)
    torch.testing.assert_close(second.vectors[0], both.vectors[1], atol=1e-10, rtol=0)


# --- PyTorch Geometric inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_ori", [-1, 6])
def test_torch_geometric_data_and_batch_match_plain_tensors(num_ori):
    pyg = pytest.importorskip("torch_geometric.data")
    model = model_of(tiny_config(num_ori=num_ori, task_level="graph", radius=2.0))
    data = clouds(sizes=(4, 5))
    graphs = [pyg.Data(x=data["x"][s], pos=data["pos"][s], vec=data["vec"][s]) for s in (slice(0, 4), slice(4, 9))]
    batch = pyg.Batch.from_data_list(graphs)
    with torch.no_grad():
        plain = model(**data)
        from_batch = model(batch)
        single = model(graphs[1])
    torch.testing.assert_close(from_batch.scalars, plain.scalars, atol=1e-12, rtol=0)
    torch.testing.assert_close(from_batch.vectors, plain.vectors, atol=1e-12, rtol=0)
    torch.testing.assert_close(single.scalars[0], plain.scalars[1], atol=1e-10, rtol=0)
    # an explicit edge_index of the Data is used as given
    edges = radius_graph(data["pos"][:4], 1.0)
    with_edges = pyg.Data(x=data["x"][:4], pos=data["pos"][:4], vec=data["vec"][:4], edge_index=edges)
    with torch.no_grad():
        torch.testing.assert_close(
            model(with_edges).scalars, model(data["x"][:4], data["pos"][:4], edges, vec=data["vec"][:4]).scalars
        )


def test_remote_code_files_import_only_torch_transformers_and_the_standard_library():
    import ast
    from pathlib import Path

    allowed = {"torch", "transformers", "safetensors", "math", "dataclasses"}
    folder = Path(sys.modules[PonitaModel.__module__].__file__).parent
    for name in ("modeling_ponita.py", "configuration_ponita.py"):
        for node in ast.walk(ast.parse((folder / name).read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            roots = {m.split(".")[0] for m in modules}
            assert roots <= allowed | {"huggingface_hub"}, (name, roots)


# --- calibration, loss ------------------------------------------------------------------------------------------------


def test_calibration_rescales_once_and_is_saved(tmp_path):
    model = model_of(tiny_config(num_ori=6))
    data = clouds()
    assert not bool(model.calibrated)
    conv = model.layers[0].conv
    grid = fibonacci_sphere(6)
    with torch.no_grad():  # the embedded inputs on the sphere: scalars constant, vectors as vᵀo
        lifted = torch.cat(
            (data["x"][:, None, :].expand(-1, 6, -1), torch.einsum("ncd,od->noc", data["vec"], grid)), -1
        )
        features = model.x_embedder(lifted)
    before = conv.kernel.weight.clone()
    assert model.calibrate(**data) is True
    assert bool(model.calibrated) and not torch.equal(before, conv.kernel.weight)
    # after calibration the spatial convolution keeps the input's standard deviation on that batch
    edges = radius_graph(data["pos"], None, data["batch"], loop=True)
    spatial, _, _ = fiber_bundle_attributes(data["pos"], grid, edges)
    with torch.no_grad():
        basis = model.basis_fn(spatial)
        message = features[edges[0]] * conv.kernel(basis)
        x1 = torch.zeros_like(features).index_add_(0, edges[1], message)
    assert float(x1.std()) == pytest.approx(float(features.std()), rel=1e-6)
    # a second call is a no-op; the flag is saved and a loaded model is not recalibrated
    weights = conv.kernel.weight.clone()
    assert model.calibrate(**data) is False and torch.equal(weights, conv.kernel.weight)
    model.save_pretrained(tmp_path)
    loaded = PonitaModel.from_pretrained(tmp_path).to(F64)
    assert bool(loaded.calibrated) and loaded.calibrate(**data) is False
    # forward passes in training mode never change the weights
    loaded.train()
    state = {k: v.clone() for k, v in loaded.state_dict().items()}
    loaded(**data)
    assert all(torch.equal(state[k], v) for k, v in loaded.state_dict().items())


def test_loss_is_the_mse_of_scalars_plus_vectors():
    model = model_of(tiny_config(num_ori=4, task_level="graph"))
    data = clouds()
    g = torch.Generator().manual_seed(2)
    labels, vector_labels = torch.randn(2, 2, generator=g, dtype=F64), torch.randn(2, 1, 3, generator=g, dtype=F64)
    out = model(**data, labels=labels, vector_labels=vector_labels)
    expected = ((out.scalars - labels) ** 2).mean() + ((out.vectors - vector_labels) ** 2).mean()
    assert float(out.loss) == pytest.approx(float(expected), rel=1e-12)
    plain = model(**data, return_dict=False)
    assert isinstance(plain, tuple) and torch.equal(plain[0], out.scalars)


# --- N-body data and training --------------------------------------------------------------------------------------


def _official_loop(loc, vel, charges, steps, sample_every, dt=1e-3):
    """The official leapfrog written with per-pair loops over one trajectory (positions as (n, 3))."""
    n = len(charges)
    loc, vel = loc.copy(), vel.copy()

    def force():
        f = np.zeros((n, 3))
        for i in range(n):
            for j in range(n):
                if i != j:
                    r = loc[i] - loc[j]
                    f[i] += charges[i] * charges[j] * r / (r @ r) ** 1.5
        return np.clip(f, -0.1 / dt, 0.1 / dt)

    vel += dt * force()
    saved = []
    for step in range(1, steps + 1):
        loc += dt * vel
        if step % sample_every == 0:
            saved.append((loc.copy(), vel.copy()))
        vel += dt * force()
    return saved


def test_charged_particle_integrator_matches_the_official_loop():
    rng = np.random.default_rng(0)
    loc, vel = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)) * 0.5
    charges = rng.choice([-1.0, 1.0], size=(2, 4))
    positions, velocities = integrate_charged_particles(loc, vel, charges, num_frames=3, sample_every=5)
    for b in range(2):
        reference = _official_loop(loc[b], vel[b], charges[b], steps=15, sample_every=5)
        for frame, (p, v) in enumerate(reference):
            np.testing.assert_allclose(positions[b, frame], p, atol=1e-12)
            np.testing.assert_allclose(velocities[b, frame], v, atol=1e-12)


def test_nbody_task_and_constant_velocity_baseline():
    task = make_nbody_task(3, seed=0, frame_in=1, frame_out=2, sample_every=10)
    assert task.pos.shape == (3, 5, 3) and task.charges.shape == (3, 5) and set(np.unique(task.charges)) <= {-1, 1}
    assert task.horizon == pytest.approx(10 * 1e-3)
    expected = np.mean([(task.pos[b] + task.horizon * task.vel[b] - task.target[b]) ** 2 for b in range(3)])
    assert constant_velocity_mse(task) == pytest.approx(expected)
    batch = collate_graphs(nbody_samples(task))
    assert batch["pos"].shape == (15, 3) and batch["vec"].shape == (15, 1, 3) and batch["num_graphs"] == 3
    assert batch["batch"].tolist() == [0] * 5 + [1] * 5 + [2] * 5


def test_train_ponita_reduces_the_nbody_loss():
    task = make_nbody_task(20, seed=0, frame_in=2, frame_out=4, sample_every=20)
    samples = nbody_samples(task)
    torch.manual_seed(0)
    config = PonitaArguments(hidden_dim=8, num_layers=1, num_ori=4).build_config()
    model = PonitaModel(config)
    batch = collate_graphs(samples)
    before = float(model(**batch).loss)
    train_ponita(model, samples, steps=12, batch_size=10, learning_rate=1e-2, seed=0)
    assert bool(model.calibrated)
    with torch.no_grad():
        assert float(model.eval()(**batch).loss) < 0.5 * before


def test_random_rotation_is_a_proper_rotation():
    rotation = random_rotation(3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3, dtype=F64))
    assert float(torch.det(rotation)) == pytest.approx(1.0)


# --- QM9 --------------------------------------------------------------------------------------------------------


@pytest.mark.assets
def test_load_qm9_reads_the_first_molecules():
    from hf_methods.common.data import load_qm9

    molecules = load_qm9(properties=("HOMO_LUMO_gap_au", "Dipole_debye"), max_molecules=3)
    assert len(molecules) == 3 and molecules.elements[0] == ("C", "H", "H", "H", "H")  # methane
    assert molecules.positions[0].shape == (5, 3)
    np.testing.assert_allclose(molecules.positions[0][1], [0.002150416, -0.0060313176, 0.0019761204])
    np.testing.assert_allclose(molecules.properties["HOMO_LUMO_gap_au"], [0.5048, 0.3399, 0.3615])
    # C-H bond lengths of methane are about 1.09 Å
    bonds = np.linalg.norm(molecules.positions[0][1:] - molecules.positions[0][0], axis=1)
    np.testing.assert_allclose(bonds, 1.09, atol=0.01)
    assert molecules.index.tolist() == [1, 2, 3]


def test_load_qm9_rejects_unknown_properties():
    from hf_methods.common.data import load_qm9

    with pytest.raises(ValueError, match="properties"):
        load_qm9(properties=("gap",))
    with pytest.raises(ValueError, match="max_molecules"):
        load_qm9(max_molecules=0)


# --- recipe -----------------------------------------------------------------------------------------------------------


def test_recipe_runs_a_few_steps(tmp_path):
    from recipes.ponita import main

    metrics = main(
        [
            "--output_dir", str(tmp_path), "--max_steps", "4", "--num_train", "20", "--num_test", "10",
            "--batch_size", "10", "--hidden_dim", "8", "--num_layers", "1", "--num_ori", "4",
            "--checkpoint_every", "0",
        ]
    )  # fmt: skip
    assert math.isfinite(metrics["eval/test_mse"]) and (tmp_path / "model.safetensors").is_file()
    loaded = PonitaModel.from_pretrained(tmp_path)
    assert bool(loaded.calibrated)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--num_ori", "0"], "num_ori"),
        (["--batch_size", "600"], "batch_size"),
        (["--learning_rate", "0"], "learning_rate"),
        (["--num_particles", "1"], "num_particles"),
    ],
)
def test_recipe_arguments_are_validated(flags, match, tmp_path):
    from hf_methods.harness.recipe import parse_recipe_args

    with pytest.raises(ValueError, match=match):
        parse_recipe_args(PonitaArguments, ["--output_dir", str(tmp_path), *flags], slug="ponita")


# --- clear errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_dim": 0, "input_dim_vec": 0}, "input_dim"),
        ({"layer_scale": -1.0}, "layer_scale"),
        ({"degree": 0}, "degree"),
        ({"num_ori": -2}, "num_ori"),
        ({"basis_dim": 0}, "basis_dim"),
        ({"radius": float("inf")}, "radius"),
    ],
)
def test_bad_config_values_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kwargs)


def _bad_inputs():
    data = clouds()
    return [
        (dict(data, pos=data["pos"][:, :2]), ValueError, "pos"),
        (dict(data, pos=data["pos"].long()), TypeError, "pos"),
        ({k: v for k, v in data.items() if k != "x"}, TypeError, "`x`"),
        (dict(data, x=data["x"][:5]), ValueError, "`x`"),
        (dict(data, vec=data["vec"][:, :, :2]), ValueError, "vec"),
        ({k: v for k, v in data.items() if k != "vec"}, TypeError, "vec"),
        (dict(data, batch=data["batch"].float()), ValueError, "batch"),
        (dict(data, batch=-data["batch"]), ValueError, "batch"),
        (dict(data, edge_index=torch.tensor([[0, 1], [1, 9]])), ValueError, "edge_index"),
        (dict(data, edge_index=torch.tensor([[0], [5]])), ValueError, "different graphs"),
        (dict(data, edge_index=torch.tensor([0, 1])), ValueError, "edge_index"),
        (dict(data, edge_index=torch.tensor([[0.0], [1.0]])), TypeError, "edge_index"),
        (dict(data, num_graphs=1), ValueError, "num_graphs"),
        (dict(data, labels=torch.zeros(9, 3, dtype=F64)), ValueError, "labels"),
        (dict(data, vector_labels=[1.0]), TypeError, "vector_labels"),
    ]


@pytest.mark.parametrize("index", range(len(_bad_inputs())))
def test_bad_inputs_raise_errors_naming_the_argument(index):
    inputs, error, match = _bad_inputs()[index]
    model = model_of(tiny_config(num_ori=4))
    with pytest.raises(error, match=match):
        model(**inputs)


def test_labels_for_a_missing_head_and_mixed_graph_inputs_are_rejected():
    model = model_of(tiny_config(num_ori=4, output_dim=0))
    data = clouds()
    with pytest.raises(ValueError, match="output_dim=0"):
        model(**data, labels=torch.zeros(9, 1, dtype=F64))
    pyg = pytest.importorskip("torch_geometric.data")
    graph = pyg.Data(x=data["x"], pos=data["pos"], vec=data["vec"])
    with pytest.raises(ValueError, match="either a graph"):
        model(graph, pos=data["pos"])


@pytest.mark.slow
def test_usage_snippet_runs():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("ponita").usage, namespace)
    assert namespace["out"].vectors.shape == (10, 1, 3)

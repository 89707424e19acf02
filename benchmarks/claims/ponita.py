"""Claim of P52 (Bekkers et al., ICLR 2024): PONITA, weight sharing over position-orientation space, gives fast and
expressive SE(n)-equivariant networks (paper: N-body MSE 0.0043, equal to SEGNN and below EGNN's 0.0070; rMD17 and
QM9 competitive with steerable networks). The CPU check keeps the structure of that claim at a tiny scale; the
margins below are this project's, not numbers from the paper.

Rules:

1. exact symmetry (float64, random untrained models, 5 units = 5 seeds of model and point clouds; two clouds of 5
   and 7 points, fully connected, scalar + vector inputs and outputs, node level): in point-cloud mode the largest
   deviation from invariance of the scalars and from equivariance of the vectors, relative to the largest output,
   is < 1e-10 under a random rotation and translation, in SE(3) and in SE(2);
2. fiber-bundle mode is approximately equivariant and the grid controls the error: with 32 orientations the
   relative vector-equivariance error is below that with 8, over the whole bootstrap 95% interval of the paired
   difference (5 units);
3. N-body forecasting (the official charged-particle simulator ported to numpy: 5 particles of charge ±1, leapfrog
   dt = 1e-3; from position, velocity and charge at frame 30 predict positions at frame 40, i.e. 1000 steps later):
   500 training and 500 test trajectories per seed, simulated from the seed. PONITA (fiber bundle, 8 orientations,
   hidden 32, 3 blocks, degree 3, fully connected, the vector output is the displacement) against an MLP on the
   concatenated coordinates (7 numbers per particle → 3 per particle, 3 GELU layers of 256), both with Adam lr 1e-3,
   cosine decay, batch 50 graphs, 600 steps (60 epochs); and the constant-velocity prediction p + v·Δt. Held when
   PONITA's test MSE is below half the MLP's (mean paired difference of log MSE ≤ −ln 2) and below constant
   velocity's (mean paired difference ≤ 0), 3 seeds (unit = seed).

Reported without a rule: a small QM9 run (HOMO-LUMO gap in eV; 1,500 training and 500 test molecules drawn at random
from the whole set; PONITA with 8 orientations, hidden 32, 3 blocks, fully connected, sum readout of the standardised
gap, 250 steps of 16 molecules) against the training-mean and element-count ridge baselines (test MAE).

Runs are cached, so an interrupted run restarts where it stopped (about 5 minutes on one idle thread).
Run: `python benchmarks/claims/ponita.py [--smoke]`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hf_methods.common.data import load_qm9
from hf_methods.harness.claims import Claim, Compare, Threshold
from hf_methods.models.ponita import PonitaConfig, PonitaModel
from hf_methods.models.ponita.training import (
    HARTREE_TO_EV,
    composition_baseline_mae,
    constant_velocity_mse,
    equivariance_error,
    evaluate_graph_mae,
    evaluate_nbody,
    make_nbody_task,
    nbody_samples,
    qm9_samples,
    standardize_labels,
    train_mlp_nbody,
    train_ponita,
)

CLAIM = Claim(
    slug="ponita",
    seeds=[0, 1, 2],
    settings={
        "symmetry_units": 5,
        "symmetry_clouds": [5, 7],
        "symmetry_model": {"hidden_dim": 16, "num_layers": 2, "degree": 3, "layer_scale": None},
        "exact_tolerance": 1e-10,
        "fiber_grids": [8, 32],
        "nbody_train": 500,
        "nbody_test": 500,
        "nbody_frames": [30, 40],
        "nbody_ponita": {"hidden_dim": 32, "num_layers": 3, "num_ori": 8, "degree": 3, "layer_scale": None},
        "nbody_mlp": {"hidden": 256, "layers": 3},
        "steps": 600,
        "batch_size": 50,
        "learning_rate": 1e-3,
        "warmup_steps": 10,
        "ponita_over_mlp_max_ratio": 0.5,
        "qm9_property": "HOMO_LUMO_gap_au",
        "qm9_train": 1500,
        "qm9_test": 500,
        "qm9_ponita": {"hidden_dim": 32, "num_layers": 3, "num_ori": 8, "degree": 3, "layer_scale": None},
        "qm9_steps": 250,
        "qm9_batch_size": 16,
        "qm9_learning_rate": 1e-3,
    },
    smoke={
        "symmetry_units": 2,
        "nbody_train": 60,
        "nbody_test": 40,
        "steps": 20,
        "batch_size": 20,
        "qm9_train": 64,
        "qm9_test": 32,
        "qm9_steps": 5,
        "seeds": [0],
    },
    rules=[
        Threshold("SE(3) point cloud: scalars invariant", "scalar_error", "point cloud SE(3)", "<", 1e-10),
        Threshold("SE(3) point cloud: vectors equivariant", "vector_error", "point cloud SE(3)", "<", 1e-10),
        Threshold("SE(2) point cloud: scalars invariant", "scalar_error", "point cloud SE(2)", "<", 1e-10),
        Threshold("SE(2) point cloud: vectors equivariant", "vector_error", "point cloud SE(2)", "<", 1e-10),
        Compare(
            "fiber bundle: 32 orientations more equivariant than 8",
            metric="vector_error",
            method="fiber bundle O=32",
            baseline="fiber bundle O=8",
            margin=0.0,
            higher_is_better=False,
            decide_by="interval",
        ),
        Compare(
            "N-body: PONITA MSE < 0.5 x MLP",
            metric="log_test_mse",
            method="PONITA",
            baseline="MLP",
            margin=math.log(2),
            higher_is_better=False,
        ),
        Compare(
            "N-body: PONITA MSE < constant velocity",
            metric="test_mse",
            method="PONITA",
            baseline="constant velocity",
            margin=0.0,
            higher_is_better=False,
        ),
    ],
    task={"type": "other", "dataset_name": "charged N-body (simulated)", "dataset_type": "synthetic", "split": "test"},
)


def symmetry_errors(num_ori: int, spatial_dim: int, unit: int, settings: dict) -> dict:
    """Relative equivariance errors of a random float64 model on random clouds (one unit)."""
    torch.manual_seed(unit)
    config = PonitaConfig(
        input_dim=1,
        input_dim_vec=1,
        output_dim=2,
        output_dim_vec=1,
        num_ori=num_ori,
        spatial_dim=spatial_dim,
        task_level="node",
        **settings["symmetry_model"],
    )
    model = PonitaModel(config).double().eval()
    generator = torch.Generator().manual_seed(1000 + unit)
    sizes = settings["symmetry_clouds"]
    total = sum(sizes)
    inputs = {
        "x": torch.randn(total, 1, generator=generator, dtype=torch.float64),
        "pos": torch.randn(total, spatial_dim, generator=generator, dtype=torch.float64),
        "vec": torch.randn(total, 1, spatial_dim, generator=generator, dtype=torch.float64),
        "batch": torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)]),
    }
    model.calibrate(**inputs)
    return equivariance_error(model, inputs, generator)


def nbody_run(seed: int, settings: dict) -> dict:
    frame_in, frame_out = settings["nbody_frames"]
    train = make_nbody_task(settings["nbody_train"], seed=2 * seed, frame_in=frame_in, frame_out=frame_out)
    test = make_nbody_task(settings["nbody_test"], seed=2 * seed + 1, frame_in=frame_in, frame_out=frame_out)
    torch.manual_seed(seed)
    config = PonitaConfig(
        input_dim=1, input_dim_vec=1, output_dim=0, output_dim_vec=1, task_level="node", **settings["nbody_ponita"]
    )
    model = PonitaModel(config)
    train_samples, test_samples = nbody_samples(train), nbody_samples(test)
    log_every = max(1, settings["steps"] // 5)
    result = train_ponita(
        model,
        train_samples,
        steps=settings["steps"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        warmup_steps=settings["warmup_steps"],
        seed=seed,
        log_every=log_every,
        eval_fn=lambda m: evaluate_nbody(m, test_samples),
    )
    mlp = train_mlp_nbody(
        train,
        test,
        steps=settings["steps"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        seed=seed,
        **settings["nbody_mlp"],
    )
    return {
        "ponita_mse": evaluate_nbody(model, test_samples),
        "mlp_mse": mlp["test_mse"],
        "constant_velocity_mse": constant_velocity_mse(test),
        "ponita_curve": result["curve"],
        "ponita_seconds": result["seconds"],
    }


def qm9_run(settings: dict) -> dict:
    name = settings["qm9_property"]
    n_train, n_test = settings["qm9_train"], settings["qm9_test"]
    molecules = load_qm9(properties=(name,), max_molecules=n_train + n_test, seed=0)
    order = np.random.default_rng(1).permutation(len(molecules))
    samples = qm9_samples(molecules, name, scale=HARTREE_TO_EV)
    train = [samples[i] for i in order[:n_train]]
    test = [samples[i] for i in order[n_train:]]
    values = torch.cat([s["labels"] for s in train])
    mean, std = float(values.mean()), float(values.std())

    def subset(idx):
        return type(molecules)(
            elements=[molecules.elements[i] for i in idx],
            positions=[molecules.positions[i] for i in idx],
            properties={name: molecules.properties[name][idx]},
            smiles=[molecules.smiles[i] for i in idx],
            index=molecules.index[idx],
        )

    torch.manual_seed(0)
    config = PonitaConfig(input_dim=5, output_dim=1, task_level="graph", **settings["qm9_ponita"])
    model = PonitaModel(config)
    result = train_ponita(
        model,
        standardize_labels(train, mean, std),
        steps=settings["qm9_steps"],
        batch_size=settings["qm9_batch_size"],
        learning_rate=settings["qm9_learning_rate"],
        warmup_steps=10,
        seed=0,
    )
    # the sum readout predicts (y − mean) / std per molecule
    return {
        "ponita_mae_ev": evaluate_graph_mae(model, test, mean, std),
        "mean_mae_ev": float(torch.cat([s["labels"] for s in test]).sub(mean).abs().mean()),
        "composition_mae_ev": composition_baseline_mae(
            subset(order[:n_train]), subset(order[n_train:]), name, scale=HARTREE_TO_EV
        ),
        "seconds": result["seconds"],
    }


def run(claim):
    settings = claim.settings
    units = range(settings["symmetry_units"])
    groups = {"point cloud SE(3)": (-1, 3), "point cloud SE(2)": (-1, 2)}
    groups.update({f"fiber bundle O={o}": (o, 3) for o in settings["fiber_grids"]})
    for name, (num_ori, n) in groups.items():
        for unit in units:
            key = f"symmetry-{name.replace(' ', '_').replace('(', '').replace(')', '').replace('=', '')}-{unit}"
            errors = claim.cached(key, symmetry_errors, num_ori, n, unit, settings)
            for metric, value in errors.items():
                claim.record(name, metric, value, unit=f"unit{unit}")

    curves = {"PONITA": {}}
    for seed in claim.seeds:
        result = claim.cached(f"nbody-seed{seed}", nbody_run, seed, settings)
        for name, key in (
            ("PONITA", "ponita_mse"),
            ("MLP", "mlp_mse"),
            ("constant velocity", "constant_velocity_mse"),
        ):
            claim.record(name, "test_mse", result[key], unit=f"seed{seed}")
            claim.record(name, "log_test_mse", math.log(result[key]), unit=f"seed{seed}")
        curves["PONITA"][f"seed{seed}"] = [tuple(point) for point in result["ponita_curve"]]
    claim.plot_curves("nbody", curves, xlabel="step", ylabel="test MSE (positions)", title="PONITA on charged N-body")

    qm9 = claim.cached("qm9", qm9_run, settings)
    for name, key in (
        ("QM9 PONITA", "ponita_mae_ev"),
        ("QM9 training mean", "mean_mae_ev"),
        ("QM9 element-count ridge", "composition_mae_ev"),
    ):
        claim.record(name, "gap_test_mae_ev", qm9[key])
    claim.details["qm9"] = qm9
    claim.note(
        f"QM9 HOMO-LUMO gap (reported, no rule): PONITA test MAE {qm9['ponita_mae_ev']:.3f} eV after "
        f"{settings['qm9_steps']} steps on {settings['qm9_train']} molecules; training mean {qm9['mean_mae_ev']:.3f} "
        f"eV; element-count ridge {qm9['composition_mae_ev']:.3f} eV."
    )


if __name__ == "__main__":
    CLAIM.main(run)

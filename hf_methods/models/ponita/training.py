"""Data and training code of PONITA shared by the recipe, the claim check and the tests.

- the charged-particle N-body simulator of the official N-body experiment (`n_body_system/dataset/synthetic_sim.py`
  of ebekkers/ponita, after Kipf et al. and EGNN), ported to numpy and vectorised over trajectories;
- batching of point clouds into the plain-tensor graph format of `PonitaModel` (`x`, `pos`, `vec`, `batch`);
- training loops for PONITA and for the baselines of the claim (an MLP on concatenated coordinates, constant
  velocity), QM9 graphs and a composition baseline, and the equivariance error of a model;
- `PonitaArguments`, the recipe's knobs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_ponita import PonitaConfig
from .modeling_ponita import PonitaModel

# ---------------------------------------------------------------------------------------------------- N-body data


@dataclass
class ChargedParticles:
    """Snapshots of charged-particle trajectories.

    Attributes:
        positions (`np.ndarray` of shape `(B, F, n, 3)`): positions at the saved frames.
        velocities (`np.ndarray` of shape `(B, F, n, 3)`): velocities at the saved frames.
        charges (`np.ndarray` of shape `(B, n)`): charges (±1).
    """

    positions: np.ndarray
    velocities: np.ndarray
    charges: np.ndarray


def simulate_charged_particles(
    num_trajectories: int,
    num_particles: int = 5,
    num_frames: int = 41,
    sample_every: int = 100,
    dt: float = 1e-3,
    loc_std: float = 1.0,
    vel_norm: float = 0.5,
    interaction_strength: float = 1.0,
    box_size: float = 5.0,
    seed: int = 0,
) -> ChargedParticles:
    r"""
    The charged-particle system of the official N-body experiment (`ChargedParticlesSim.sample_trajectory`), run for
    many trajectories at once. Charges q ∈ {−1, +1} with probability 1/2; positions ~ N(0, loc_std²) (reflected once
    into the box [−box_size, box_size]³), velocities of norm `vel_norm` in uniform directions; Coulomb forces

        F_i = Σ_{j≠i} c q_i q_j (p_i − p_j) / ‖p_i − p_j‖³,   clipped elementwise to ±0.1/dt,

    integrated by leapfrog with step `dt` (no walls after the start, as in the official code). Frame k holds the
    state after (k + 1)·`sample_every` steps (the official code overwrites its initial frame).

    Returns:
        [`ChargedParticles`] with `num_frames` frames.
    """
    if num_trajectories < 1 or num_particles < 2 or num_frames < 1:
        raise ValueError(
            f"`num_trajectories` must be >= 1, `num_particles` >= 2 and `num_frames` >= 1, got "
            f"{num_trajectories}, {num_particles}, {num_frames}."
        )
    rng = np.random.default_rng(seed)
    batch, n = num_trajectories, num_particles
    charges = rng.choice(np.array([-1.0, 1.0]), size=(batch, n))
    loc = rng.standard_normal((batch, n, 3)) * loc_std * (n / 5.0) ** (1 / 3)
    vel = rng.standard_normal((batch, n, 3))
    vel = vel * vel_norm / np.linalg.norm(vel, axis=-1, keepdims=True)
    # the official start: reflect once into the box, flipping the velocity components that left it
    over, under = loc > box_size, loc < -box_size
    loc = np.where(over, 2 * box_size - loc, np.where(under, -2 * box_size - loc, loc))
    vel = np.where(over, -np.abs(vel), np.where(under, np.abs(vel), vel))
    positions, velocities = integrate_charged_particles(
        loc, vel, charges, num_frames, sample_every, dt=dt, interaction_strength=interaction_strength
    )
    return ChargedParticles(positions=positions, velocities=velocities, charges=charges)


def integrate_charged_particles(
    loc: np.ndarray,
    vel: np.ndarray,
    charges: np.ndarray,
    num_frames: int,
    sample_every: int,
    dt: float = 1e-3,
    interaction_strength: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""
    Leapfrog integration of charged particles (the loop of the official `sample_trajectory`), vectorised over a batch:
    a half step v += dt·F(p), then repeatedly p += dt·v (saved every `sample_every` steps), v += dt·F(p), with

        F_i = Σ_{j≠i} c q_i q_j (p_i − p_j) / ‖p_i − p_j‖³   clipped elementwise to ±0.1/dt.

    Args:
        loc, vel (`np.ndarray` of shape `(B, n, 3)`): initial positions and velocities.
        charges (`np.ndarray` of shape `(B, n)`): charges.

    Returns:
        `(positions, velocities)`, each `(B, num_frames, n, 3)`: frame k after (k + 1)·`sample_every` steps.
    """
    batch, n = charges.shape
    max_force = 0.1 / dt
    coupling = interaction_strength * charges[:, :, None] * charges[:, None, :]  # (B, n, n)
    off_diagonal = ~np.eye(n, dtype=bool)

    def forces(loc):
        diff = loc[:, :, None, :] - loc[:, None, :, :]  # p_i − p_j
        dist3 = np.where(off_diagonal[None], (diff**2).sum(-1), 1.0) ** 1.5
        size = np.where(off_diagonal[None], coupling / dist3, 0.0)
        return np.clip((size[..., None] * diff).sum(2), -max_force, max_force)

    positions = np.zeros((batch, num_frames, n, 3))
    velocities = np.zeros((batch, num_frames, n, 3))
    vel = vel + dt * forces(loc)  # half step
    frame = 0
    for step in range(1, num_frames * sample_every + 1):
        loc = loc + dt * vel
        if step % sample_every == 0:
            positions[:, frame], velocities[:, frame] = loc, vel
            frame += 1
            if frame == num_frames:
                break
        vel = vel + dt * forces(loc)
    return positions, velocities


@dataclass
class NBodyTask:
    """One N-body forecasting split: from (pos, vel, charge) at frame `frame_in` predict pos at frame `frame_out`."""

    pos: np.ndarray  # (B, n, 3)
    vel: np.ndarray  # (B, n, 3)
    charges: np.ndarray  # (B, n)
    target: np.ndarray  # (B, n, 3)
    horizon: float  # simulated time between the two frames

    def __len__(self) -> int:
        return self.pos.shape[0]


def make_nbody_task(
    num_trajectories: int, seed: int, frame_in: int = 30, frame_out: int = 40, sample_every: int = 100, **sim_kwargs
) -> NBodyTask:
    """The EGNN / PONITA N-body task (frames 30 → 40, i.e. 1000 simulator steps) on freshly simulated trajectories."""
    if not 0 <= frame_in < frame_out:
        raise ValueError(f"need 0 <= frame_in < frame_out, got frame_in={frame_in}, frame_out={frame_out}.")
    sim = simulate_charged_particles(
        num_trajectories, num_frames=frame_out + 1, sample_every=sample_every, seed=seed, **sim_kwargs
    )
    dt = sim_kwargs.get("dt", 1e-3)
    return NBodyTask(
        pos=sim.positions[:, frame_in],
        vel=sim.velocities[:, frame_in],
        charges=sim.charges,
        target=sim.positions[:, frame_out],
        horizon=(frame_out - frame_in) * sample_every * dt,
    )


def constant_velocity_mse(task: NBodyTask) -> float:
    """MSE of the prediction p + horizon · v (particles keep their velocity)."""
    prediction = task.pos + task.horizon * task.vel
    return float(((prediction - task.target) ** 2).mean())


def nbody_samples(task: NBodyTask) -> list[dict[str, torch.Tensor]]:
    """One graph per trajectory: `x` = charge, `pos`, `vec` = velocity, `vector_labels` = displacement to the target."""
    samples = []
    for i in range(len(task)):
        samples.append(
            {
                "x": torch.tensor(task.charges[i], dtype=torch.float32)[:, None],
                "pos": torch.tensor(task.pos[i], dtype=torch.float32),
                "vec": torch.tensor(task.vel[i], dtype=torch.float32)[:, None, :],
                "vector_labels": torch.tensor(task.target[i] - task.pos[i], dtype=torch.float32)[:, None, :],
            }
        )
    return samples


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def collate_graphs(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenates point clouds into one batch of `PonitaModel` inputs (`batch` = graph id of each node).

    Node-level tensors (`x`, `pos`, `vec`, node `vector_labels`) are concatenated; graph-level `labels` (one row per
    graph) are stacked. No `edge_index`: the model builds its radius graph within each graph.
    """
    out = {"batch": torch.cat([torch.full((s["pos"].shape[0],), i, dtype=torch.long) for i, s in enumerate(samples)])}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if key == "labels" else torch.cat(values)
    out["num_graphs"] = len(samples)
    return out


# ------------------------------------------------------------------------------------------------------ training


def _batches(samples, batch_size: int, generator: torch.Generator):
    order = torch.randperm(len(samples), generator=generator).tolist()
    for start in range(0, len(order) - batch_size + 1, batch_size):
        yield collate_graphs([samples[i] for i in order[start : start + batch_size]])


def _loader_forever(samples, batch_size, generator):
    while True:
        yield from _batches(samples, batch_size, generator)


@torch.no_grad()
def evaluate_nbody(model: PonitaModel, samples, batch_size: int = 100) -> float:
    """Test MSE of the predicted positions p + v̂ (the model's vector output is the displacement)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(samples), batch_size):
        batch = _to(collate_graphs(samples[start : start + batch_size]), model.device)
        labels = batch.pop("vector_labels")
        vectors = model(**batch).vectors
        total += float(((vectors - labels) ** 2).sum())
        count += labels.numel()
    return total / count


def train_ponita(
    model: PonitaModel,
    samples: list[dict[str, torch.Tensor]],
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    seed: int = 0,
    calibrate: bool = True,
    log_every: int = 0,
    eval_fn=None,
) -> dict:
    """Adam with linear warm-up and cosine decay (as the official lightning wrappers), on batches of graphs.

    The kernels are calibrated once on the first batch (the official initialisation fix) when `calibrate`. Returns
    `{"train_loss": last mean loss, "curve": [(step, eval)...], "seconds": ...}` (`eval_fn(model)` every `log_every`).
    """
    from transformers import get_cosine_schedule_with_warmup

    generator = torch.Generator().manual_seed(seed)
    loader = _loader_forever(samples, batch_size, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup_steps, steps)
    first = next(loader)
    if calibrate:
        model.calibrate(**{k: v for k, v in first.items() if k not in ("labels", "vector_labels")})
    curve, losses, start = [], [], time.perf_counter()
    batch = first
    for step in range(steps):
        model.train()
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if eval_fn is not None and log_every and ((step + 1) % log_every == 0 or step + 1 == steps):
            curve.append((step + 1, eval_fn(model)))
        batch = next(loader)
    return {
        "train_loss": float(np.mean(losses[-20:])),
        "curve": curve,
        "seconds": time.perf_counter() - start,
    }


class CoordinateMLP(torch.nn.Module):
    """The non-equivariant baseline: an MLP on the concatenated (pos, vel, charge) of all particles → displacements."""

    def __init__(self, num_particles: int, hidden: int = 256, layers: int = 3):
        super().__init__()
        dims = [num_particles * 7] + [hidden] * layers
        blocks = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            blocks += [torch.nn.Linear(d_in, d_out), torch.nn.GELU()]
        self.net = torch.nn.Sequential(*blocks, torch.nn.Linear(hidden, num_particles * 3))
        self.num_particles = num_particles

    def forward(self, pos, vel, charges):
        inputs = torch.cat((pos.flatten(1), vel.flatten(1), charges), dim=1)
        return self.net(inputs).view(-1, self.num_particles, 3)


def train_mlp_nbody(
    train: NBodyTask,
    test: NBodyTask,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    hidden: int = 256,
    layers: int = 3,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> dict:
    """Trains [`CoordinateMLP`] with the same optimiser and schedule as PONITA; returns the test MSE of p + Δ̂."""
    from transformers import get_cosine_schedule_with_warmup

    torch.manual_seed(seed)
    n = train.pos.shape[1]
    model = CoordinateMLP(n, hidden, layers)

    def tensors(task):
        return [
            torch.tensor(a, dtype=torch.float32) for a in (task.pos, task.vel, task.charges, task.target - task.pos)
        ]

    pos, vel, charges, delta = tensors(train)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, 0, steps)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=generator)
    cursor = 0
    for _ in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = torch.randperm(len(train), generator=generator), 0
        idx = order[cursor : cursor + batch_size]
        cursor += batch_size
        loss = torch.nn.functional.mse_loss(model(pos[idx], vel[idx], charges[idx]), delta[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        pos, vel, charges, delta = tensors(test)
        mse = float(((model(pos, vel, charges) - delta) ** 2).mean())
    return {"test_mse": mse}


# --------------------------------------------------------------------------------------------------- equivariance


def random_rotation(spatial_dim: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """A uniformly random rotation matrix (det +1) of SO(n), from the QR decomposition of a Gaussian matrix."""
    matrix = torch.randn(spatial_dim, spatial_dim, generator=generator, dtype=dtype)
    q, r = torch.linalg.qr(matrix)
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@torch.no_grad()
def equivariance_error(model: PonitaModel, inputs: dict, generator: torch.Generator) -> dict[str, float]:
    r"""
    Largest deviation from SE(n) equivariance under one random rotation R and translation t:

        scalar_error = max |f(Rp + t) − f(p)|,   vector_error = max |g(Rp + t, Rv) − R g(p, v)|,

    relative to the largest output magnitude (so the number does not depend on the output scale).
    """
    model.eval()
    n = model.config.spatial_dim
    dtype = inputs["pos"].dtype
    rotation = random_rotation(n, generator, dtype)
    shift = torch.randn(n, generator=generator, dtype=dtype)
    moved = dict(inputs, pos=inputs["pos"] @ rotation.T + shift)
    if inputs.get("vec") is not None:
        moved["vec"] = inputs["vec"] @ rotation.T
    out, out_moved = model(**inputs), model(**moved)
    errors = {}
    if out.scalars is not None:
        errors["scalar_error"] = float((out_moved.scalars - out.scalars).abs().max() / out.scalars.abs().max())
    if out.vectors is not None:
        errors["vector_error"] = float(
            (out_moved.vectors - out.vectors @ rotation.T).abs().max() / out.vectors.abs().max()
        )
    return errors


# ----------------------------------------------------------------------------------------------------------- QM9

QM9_ELEMENTS = ("H", "C", "N", "O", "F")
HARTREE_TO_EV = 27.211386245988


def qm9_samples(molecules, property_name: str, scale: float = 1.0) -> list[dict[str, torch.Tensor]]:
    """One graph per molecule: one-hot element `x` (H, C, N, O, F), `pos` in Å, graph-level `labels` (× `scale`)."""
    samples = []
    values = molecules.properties[property_name] * scale
    for symbols, pos, value in zip(molecules.elements, molecules.positions, values):
        index = torch.tensor([QM9_ELEMENTS.index(s) for s in symbols])
        samples.append(
            {
                "x": torch.nn.functional.one_hot(index, len(QM9_ELEMENTS)).float(),
                "pos": torch.tensor(pos, dtype=torch.float32),
                "labels": torch.tensor([value], dtype=torch.float32),
            }
        )
    return samples


def composition_features(molecules) -> np.ndarray:
    """Counts of each element per molecule (the classic composition baseline of QM9)."""
    return np.array([[list(symbols).count(e) for e in QM9_ELEMENTS] for symbols in molecules.elements], dtype=float)


def composition_baseline_mae(train, test, property_name: str, scale: float = 1.0, ridge: float = 1e-6) -> float:
    """Test MAE of a ridge regression of the property on the element counts (plus an intercept)."""
    x_train = np.c_[composition_features(train), np.ones(len(train.elements))]
    x_test = np.c_[composition_features(test), np.ones(len(test.elements))]
    y_train = train.properties[property_name] * scale
    w = np.linalg.solve(x_train.T @ x_train + ridge * np.eye(x_train.shape[1]), x_train.T @ y_train)
    return float(np.abs(x_test @ w - test.properties[property_name] * scale).mean())


@torch.no_grad()
def evaluate_graph_mae(model: PonitaModel, samples, mean: float, std: float, batch_size: int = 64) -> float:
    """MAE of the de-standardised graph-level predictions `mean + std · f(G)` against the samples' `labels`."""
    model.eval()
    errors = []
    for start in range(0, len(samples), batch_size):
        batch = _to(collate_graphs(samples[start : start + batch_size]), model.device)
        labels = batch.pop("labels")
        prediction = mean + std * model(**batch).scalars
        errors.append((prediction - labels).abs().flatten())
    return float(torch.cat(errors).mean())


def standardize_labels(samples, mean: float, std: float) -> list[dict[str, torch.Tensor]]:
    """Copies of `samples` whose `labels` are (y − mean) / std (the model's sum readout predicts standardised y)."""
    return [dict(s, labels=(s["labels"] - mean) / std) for s in samples]


# -------------------------------------------------------------------------------------------------------- recipe


@dataclass
class PonitaArguments(RecipeArguments):
    """Knobs of `recipes/ponita.py`: PONITA on the charged-particle N-body task simulated in code."""

    max_steps: int = field(default=300, metadata={"help": "Number of optimisation steps."})
    num_train: int = field(default=500, metadata={"help": "Training trajectories (simulated from --seed)."})
    num_test: int = field(default=200, metadata={"help": "Test trajectories (simulated from --seed + 1)."})
    num_particles: int = field(default=5, metadata={"help": "Charged particles per system."})
    batch_size: int = field(default=50, metadata={"help": "Graphs per batch."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (cosine decay)."})
    warmup_steps: int = field(default=10, metadata={"help": "Linear warm-up steps of the learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay."})
    hidden_dim: int = field(default=32, metadata={"help": "PONITA hidden channels."})
    num_layers: int = field(default=3, metadata={"help": "PONITA ConvNeXt blocks."})
    num_ori: int = field(default=8, metadata={"help": "Orientation grid size (fiber bundle), or -1 (point cloud)."})
    degree: int = field(default=3, metadata={"help": "Degree of the polynomial features of the invariants."})
    layer_scale: float | None = field(default=None, metadata={"help": "Initial layer scale (None: no layer scale)."})

    def validate(self) -> None:
        super().validate()
        for name in ("num_train", "num_test", "batch_size", "hidden_dim", "num_layers", "degree"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.num_particles < 2:
            raise ValueError(f"--num_particles must be >= 2, got {self.num_particles}")
        if self.batch_size > self.num_train:
            raise ValueError(f"--batch_size ({self.batch_size}) must be <= --num_train ({self.num_train})")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"--learning_rate must be a finite number > 0, got {self.learning_rate}")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("--warmup_steps and --weight_decay must be >= 0")
        if not (self.num_ori == -1 or self.num_ori >= 1):
            raise ValueError(f"--num_ori must be -1 (point cloud) or >= 1, got {self.num_ori}")
        if self.layer_scale is not None and not self.layer_scale > 0:
            raise ValueError(f"--layer_scale must be > 0 or None, got {self.layer_scale}")

    def build_config(self) -> PonitaConfig:
        """The PONITA config of the N-body task: charge + velocity in, one displacement vector out per particle."""
        return PonitaConfig(
            input_dim=1,
            input_dim_vec=1,
            hidden_dim=self.hidden_dim,
            output_dim=0,
            output_dim_vec=1,
            num_layers=self.num_layers,
            num_ori=self.num_ori,
            degree=self.degree,
            layer_scale=self.layer_scale,
            task_level="node",
        )


__all__ = [
    "ChargedParticles",
    "CoordinateMLP",
    "NBodyTask",
    "PonitaArguments",
    "QM9_ELEMENTS",
    "collate_graphs",
    "composition_baseline_mae",
    "constant_velocity_mse",
    "equivariance_error",
    "evaluate_graph_mae",
    "evaluate_nbody",
    "integrate_charged_particles",
    "make_nbody_task",
    "nbody_samples",
    "qm9_samples",
    "random_rotation",
    "simulate_charged_particles",
    "standardize_labels",
    "train_mlp_nbody",
    "train_ponita",
]

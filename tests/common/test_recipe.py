"""Shared recipe pieces (hf_methods.harness.recipe): arguments, YAML, checkpoint/resume, multi-process runs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest
import torch
from safetensors.torch import load_file

from hf_methods.harness.recipe import RecipeArguments, latest_checkpoint, parse_recipe_args


@dataclass
class ToyArgs(RecipeArguments):
    learning_rate: float = field(default=1e-3, metadata={"help": "learning rate"})
    hidden: int = 8


def test_defaults_and_flags():
    args = parse_recipe_args(ToyArgs, ["--learning_rate", "0.5"], slug="toy")
    assert args.output_dir == "outputs/toy" and args.learning_rate == 0.5 and args.max_steps == 200
    for flag in ("output_dir", "max_steps", "seed", "resume_from_checkpoint", "push_to_hub", "hub_model_id"):
        assert hasattr(args, flag)


def test_yaml_config_with_flags_winning(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rate: 0.25\nhidden: 32\nmax_steps: 7\n")
    args = parse_recipe_args(ToyArgs, ["--config", str(path), "--hidden", "64"], slug="toy")
    assert (args.learning_rate, args.hidden, args.max_steps) == (0.25, 64, 7)


@pytest.mark.parametrize(
    "argv,error,match",
    [
        (["--push_to_hub"], ValueError, "hub_model_id"),
        (["--max_steps", "-1"], ValueError, "max_steps"),
        (["--config", "/nonexistent.yaml"], FileNotFoundError, "config"),
    ],
)
def test_bad_arguments(argv, error, match):
    with pytest.raises(error, match=match):
        parse_recipe_args(ToyArgs, argv, slug="toy")


def test_unknown_yaml_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rat: 0.25\n")
    with pytest.raises(ValueError, match="learning_rat"):
        parse_recipe_args(ToyArgs, ["--config", str(path)], slug="toy")


def _recipe(repo_root, *args):
    return [sys.executable, str(repo_root / "recipes" / "ldr.py"), *map(str, args)]


def _weights(folder):
    return load_file(folder / "model.safetensors")


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(repo_root, tmp_path):
    """A run SIGKILLed after a checkpoint and resumed ends bit-identical to an uninterrupted run."""
    common = ["--max_steps", 1500, "--checkpoint_every", 5, "--loss", "aldr_kl", "--seed", 3, "--log_every", 50]
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_recipe(repo_root, *common, "--output_dir", full), check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(
        _recipe(repo_root, *common, "--output_dir", killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while latest_checkpoint(killed) is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "model.safetensors").exists()
    checkpoint = latest_checkpoint(killed)
    step = json.loads((checkpoint / "recipe_state.json").read_text())["step"]
    assert 0 < step < 1500
    before = {p.name for p in (killed / "checkpoints").iterdir()}

    out = subprocess.run(
        _recipe(repo_root, *common, "--output_dir", killed, "--resume_from_checkpoint", "latest"),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert f"at step {step}" in out.stdout + out.stderr
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs after resume"
    # the resumed run numbered its checkpoints after the killed run's and deleted none of them
    after = {p.name for p in (killed / "checkpoints").iterdir()}
    assert before <= after, f"checkpoints of the killed run were deleted: {sorted(before - after)}"
    number = lambda name: int(name.split("_")[1])  # noqa: E731
    assert min(map(number, after - before)) > max(map(number, before))


@pytest.mark.slow
def test_torchrun_two_processes(repo_root, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun is installed with torch"
    env = os.environ | {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [
            torchrun,
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            str(repo_root / "recipes" / "ldr.py"),
            "--max_steps",
            "5",
            "--output_dir",
            str(tmp_path / "ddp"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 process(es)" in out.stdout
    assert (tmp_path / "ddp" / "model.safetensors").exists() and (tmp_path / "ddp" / "README.md").exists()


def test_non_empty_output_dir_is_refused_before_training(tmp_path):
    (tmp_path / "model.safetensors").write_text("an earlier run")
    with pytest.raises(ValueError, match="--resume_from_checkpoint.*--overwrite_output_dir"):
        parse_recipe_args(ToyArgs, ["--output_dir", str(tmp_path)], slug="toy")
    parse_recipe_args(ToyArgs, ["--output_dir", str(tmp_path), "--overwrite_output_dir"], slug="toy")
    parse_recipe_args(ToyArgs, ["--output_dir", str(tmp_path), "--resume_from_checkpoint", "latest"], slug="toy")
    with pytest.raises(ValueError, match="exclude each other"):
        parse_recipe_args(
            ToyArgs,
            ["--output_dir", str(tmp_path), "--overwrite_output_dir", "--resume_from_checkpoint", "latest"],
            slug="toy",
        )


@pytest.mark.slow
def test_second_run_into_the_same_folder(repo_root, tmp_path):
    """Run twice: the second is refused before training unless told to overwrite; no earlier checkpoint is lost."""
    out = tmp_path / "run"
    common = ["--max_steps", 6, "--checkpoint_every", 2, "--checkpoints_total_limit", 2, "--output_dir", out]
    subprocess.run(_recipe(repo_root, *common), check=True, capture_output=True, timeout=600)
    first = {p.name for p in (out / "checkpoints").iterdir()}
    assert first == {"checkpoint_1", "checkpoint_2"}  # checkpoint_0 pruned: it was this run's own

    refused = subprocess.run(_recipe(repo_root, *common), capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "--overwrite_output_dir" in refused.stderr
    assert "ldr:" not in refused.stderr  # refused before the progress bar of a training loop appeared
    assert {p.name for p in (out / "checkpoints").iterdir()} == first

    subprocess.run(_recipe(repo_root, *common, "--overwrite_output_dir"), check=True, capture_output=True, timeout=600)
    second = {p.name for p in (out / "checkpoints").iterdir()}
    assert second == first | {"checkpoint_4", "checkpoint_5"}
    assert (out / "model.safetensors").exists()


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--report_to", "nonsense"], "unknown tracker 'nonsense'"),
        (["--cpu_threads", "-1"], "cpu_threads"),
    ],
)
def test_shared_flags_are_checked(argv, match):
    with pytest.raises(ValueError, match=match):
        parse_recipe_args(ToyArgs, argv, slug="toy")


def test_shared_flags_parse():
    args = parse_recipe_args(ToyArgs, ["--report_to", "jsonl", "--cpu_threads", "1", "--hub_token", "x"], slug="toy")
    assert (args.report_to, args.cpu_threads, args.hub_token) == ("jsonl", 1, "x")


def test_the_loop_leaves_the_global_random_stream_alone(tmp_path):
    """Starting each epoch's DataLoader iterator must not consume torch's global generator: a resumed run would
    otherwise draw different dropout masks than an uninterrupted one."""
    from torch.utils.data import DataLoader, TensorDataset

    from hf_methods.harness.recipe import RecipeRunner

    args = parse_recipe_args(ToyArgs, ["--output_dir", str(tmp_path), "--max_steps", "6"], slug="toy")
    runner = RecipeRunner(args, slug="toy")
    loader = runner.prepare(DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4, shuffle=True))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    seen = [batch[0].tolist() for _, batch in runner.steps(loader)]
    assert torch.equal(torch.random.get_rng_state(), before)
    assert len(seen) == 6 and sorted(sum(seen[:2], [])) == list(range(8))

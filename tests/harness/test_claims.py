"""The claims harness (`hf_methods.harness.claims`): rules, settings written first, history, cached runs, smoke runs,
clear errors and the bootstrap interval. Runs on a real slug (`ldr`) with results written under `tmp_path`."""

import json
import statistics
from pathlib import Path

import pytest

from hf_methods.harness.claims import Claim, Compare, Threshold, bootstrap_interval, time_ratio


def records(method: dict[str, float], baseline: dict[str, float], metric="acc"):
    return {"M": {metric: method}, "B": {metric: baseline}}


def claim(**overrides):
    kwargs = dict(
        slug="ldr",
        settings={"steps": 10, "lr": 0.1},
        seeds=[0, 1, 2],
        rules=[Compare("M beats B", metric="acc", method="M", baseline="B", margin=0.05)],
        smoke={"steps": 1},
    )
    kwargs.update(overrides)
    return Claim(**kwargs)


# ------------------------------------------------------------------------------------------------------------ rules


def test_compare_mean_higher_is_better():
    rule = Compare("r", metric="acc", method="M", baseline="B", margin=0.05)
    held = rule.evaluate(records({"0": 0.9, "1": 0.8}, {"0": 0.8, "1": 0.74}))
    assert held["held"] and held["difference"] == pytest.approx(0.08) and held["n_units"] == 2
    assert not rule.evaluate(records({"0": 0.9, "1": 0.8}, {"0": 0.86, "1": 0.8}))["held"]  # +0.02 < 0.05


def test_compare_pairs_on_common_units_only():
    rule = Compare("r", metric="acc", method="M", baseline="B")
    check = rule.evaluate(records({"0": 1.0, "1": 1.0, "extra": -50.0}, {"0": 0.0, "1": 0.0}))
    assert check["n_units"] == 2 and check["difference"] == 1.0


def test_compare_lower_is_better_and_negative_margin():
    lower = Compare("r", metric="loss", method="M", baseline="B", margin=0.1, higher_is_better=False)
    assert lower.evaluate(records({"0": 1.0}, {"0": 1.2}, "loss"))["held"]  # −0.2 ≤ −0.1
    assert not lower.evaluate(records({"0": 1.15}, {"0": 1.2}, "loss"))["held"]  # −0.05 > −0.1
    # a negative margin lets the method be that much worse
    no_worse = Compare("r", metric="acc", method="M", baseline="B", margin=-0.02)
    assert no_worse.evaluate(records({"0": 0.79}, {"0": 0.80}))["held"]
    assert not no_worse.evaluate(records({"0": 0.77}, {"0": 0.80}))["held"]
    assert "≥ -0.02" in no_worse.criterion and "≤ -0.1" in lower.criterion


def test_compare_interval_needs_the_whole_interval_past_the_margin():
    by_mean = Compare("r", metric="acc", method="M", baseline="B", margin=0.0)
    by_interval = Compare("r", metric="acc", method="M", baseline="B", margin=0.0, decide_by="interval")
    noisy = records({str(i): v for i, v in enumerate([1.0, -0.5, 1.0, -0.5, 0.2])}, {str(i): 0.0 for i in range(5)})
    assert by_mean.evaluate(noisy)["held"] and not by_interval.evaluate(noisy)["held"]
    steady = records({str(i): 0.5 + 0.01 * i for i in range(6)}, {str(i): 0.0 for i in range(6)})
    check = by_interval.evaluate(steady)
    assert check["held"] and check["interval"][0] > 0
    lower = Compare("r", metric="acc", method="M", baseline="B", higher_is_better=False, decide_by="interval")
    assert not lower.evaluate(steady)["held"]


@pytest.mark.parametrize(
    "op,value,held", [("<", 1.0, False), ("<=", 1.0, True), (">", 0.5, True), (">=", 1.5, False), ("==", 1.0, True)]
)
def test_threshold_ops(op, value, held):
    rule = Threshold("t", metric="err", method="M", op=op, value=value)
    check = rule.evaluate({"M": {"err": {"0": 0.5, "1": 1.5}}})  # mean 1.0
    assert check["held"] is held and check["method_value"] == 1.0 and len(check["interval"]) == 2


def test_bad_rules_and_claims_raise_clear_errors():
    with pytest.raises(ValueError, match="decide_by"):
        Compare("r", metric="acc", method="M", baseline="B", decide_by="median")
    with pytest.raises(ValueError, match="op"):
        Threshold("t", metric="err", method="M", op="!=", value=0)
    with pytest.raises(ValueError, match="at least one rule"):
        claim(rules=[])
    with pytest.raises(ValueError, match="unique"):
        claim(rules=[Threshold("t", "e", "M", "<", 1), Threshold("t", "e", "M", ">", 0)])
    with pytest.raises(ValueError, match="unknown settings"):
        claim(smoke={"epochs": 1})
    with pytest.raises(TypeError):
        claim(settings={"fn": object()}, smoke={})  # settings must be plain data
    with pytest.raises(ValueError, match="nothing was recorded for 'M' / 'acc'"):
        Compare("r", metric="acc", method="M", baseline="B").evaluate({"B": {"acc": {"0": 1.0}}})
    with pytest.raises(ValueError, match="share no unit"):
        Compare("r", metric="acc", method="M", baseline="B").evaluate(records({"0": 1.0}, {"1": 1.0}))


# ------------------------------------------------------------------------------------------------------ statistics


def test_bootstrap_interval_is_deterministic_and_covers_the_mean():
    values = [0.1, 0.4, -0.2, 0.3, 0.25, 0.05, 0.6]
    low, high = bootstrap_interval(values)
    assert (low, high) == bootstrap_interval(values)
    assert low < statistics.fmean(values) < high
    assert bootstrap_interval(values, seed=1) != (low, high)
    assert bootstrap_interval([0.3]) == (0.3, 0.3)
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_interval([])


def test_time_ratio_compares_medians():
    result = time_ratio(lambda: sum(range(20_000)), lambda: sum(range(200)), warmup=1, repeats=5)
    assert result["ratio"] > 1 and result["repeats"] == 5
    with pytest.raises(ValueError, match="repeats"):
        time_ratio(lambda: None, lambda: None, repeats=3)


# ------------------------------------------------------------------------------------------------------------ runs


def fake_run(calls):
    def run(c):
        for seed in c.seeds:
            result = c.cached(f"seed{seed}", lambda s: calls.append(s) or {"m": 0.9, "b": 0.8}, seed)
            c.record("M", "acc", result["m"], unit=seed)
            c.record("B", "acc", result["b"], unit=seed)

    return run


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_settings_are_written_before_the_run(tmp_path):
    seen = {}

    def run(c):
        seen.update(read(tmp_path / "ldr.json"))
        fake_run([])(c)

    path = claim().main(run, argv=["--results-dir", str(tmp_path)])
    assert seen["status"] == "running" and seen["outcome"] is None
    assert seen["settings"] == {"steps": 10, "lr": 0.1} and seen["seeds"] == [0, 1, 2]
    assert seen["rules"][0]["criterion"].startswith("M − B ≥ 0.05") and seen["checks"] == []
    final = read(path)
    assert final["status"] == "finished" and final["outcome"] == "held" and final["checks"][0]["held"]


def test_restart_uses_cached_runs_and_fresh_reruns_them(tmp_path):
    calls = []
    argv = ["--results-dir", str(tmp_path)]
    claim().main(fake_run(calls), argv=argv)
    assert calls == [0, 1, 2]
    claim().main(fake_run(calls), argv=argv)
    assert calls == [0, 1, 2], "a restart with the same settings ran again"
    claim().main(fake_run(calls), argv=[*argv, "--fresh"])
    assert calls == [0, 1, 2, 0, 1, 2]
    assert read(tmp_path / "ldr.json")["history"] == [], "a restart of the same settings was added to the history"


def test_history_kept_when_settings_change(tmp_path):
    argv = ["--results-dir", str(tmp_path)]
    claim().main(fake_run([]), argv=argv)
    first_hash = read(tmp_path / "ldr.json")["settings_hash"]
    calls = []
    claim(settings={"steps": 20, "lr": 0.1}).main(fake_run(calls), argv=argv)
    assert calls == [0, 1, 2], "runs cached under other settings were reused"
    data = read(tmp_path / "ldr.json")
    assert data["settings"]["steps"] == 20 and data["settings_hash"] != first_hash
    assert [old["settings_hash"] for old in data["history"]] == [first_hash]
    claim(settings={"steps": 20, "lr": 0.1}).main(fake_run([]), argv=argv)  # restart: no duplicate
    assert len(read(tmp_path / "ldr.json")["history"]) == 1


def test_failed_rule_is_recorded_as_not_held(tmp_path):
    strict = claim(rules=[Compare("M beats B by 0.5", metric="acc", method="M", baseline="B", margin=0.5)])
    data = read(strict.main(fake_run([]), argv=["--results-dir", str(tmp_path)]))
    assert data["outcome"] == "did not hold" and not data["checks"][0]["held"]


def test_smoke_writes_to_a_temporary_folder(tmp_path, monkeypatch):
    import hf_methods.harness.claims as claims

    monkeypatch.setattr(claims, "default_results_dir", lambda: tmp_path / "committed")
    seen = {}

    def run(c):
        seen.update(settings=c.settings, seeds=c.seeds)
        fake_run([])(c)

    path = claim().main(run, argv=["--smoke"])
    assert seen == {"settings": {"steps": 1, "lr": 0.1}, "seeds": [0]}
    assert not (tmp_path / "committed").exists(), "a smoke run wrote to the results folder"
    assert read(path)["smoke"] is True and path.parent != tmp_path / "committed"


def test_bad_cache_keys_are_refused(tmp_path):
    run = claim().start(results_dir=tmp_path)
    for key in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain file name"):
            run.cached(key, dict)


def test_plot_curves_writes_a_png(tmp_path):
    run = claim().start(results_dir=tmp_path)
    path = run.plot_curves("curves", {"M": {"0": [(0, 1.0), (1, 0.5)], "1": [(0, 0.9), (1, 0.4)]}}, xlabel="step")
    assert path.read_bytes()[:4] == b"\x89PNG" and str(path) in run.plots


def test_plot_points_writes_a_png_of_the_recorded_values(tmp_path):
    run = claim().start(results_dir=tmp_path)
    for seed, (a, b) in enumerate([(0.8, 0.7), (0.9, 0.75), (0.85, 0.72)]):
        run.record("M", "accuracy", a, unit=seed)
        run.record("B", "accuracy", b, unit=seed)
    path = run.plot_points("points", ["accuracy"], methods=["B", "M"])
    assert path.read_bytes()[:4] == b"\x89PNG" and str(path) in run.plots
    with pytest.raises(ValueError, match="nothing recorded"):
        run.plot_points("none", ["loss"])
    with pytest.raises(ValueError, match="at least one metric"):
        run.plot_points("none", [])

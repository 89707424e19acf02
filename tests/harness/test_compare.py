"""The comparison report (`hf_methods.harness.compare`)."""

import json

import pytest

from hf_methods.harness.compare import markdown_table, report_comparison, summarize

PER_SEED = {
    "A": [{"acc": 0.5, "f1": 0.25}, {"acc": 0.7, "f1": 0.75}],
    "B": [{"acc": 0.9, "f1": 0.5}, {"acc": 0.9, "f1": 0.5}],
}


def test_summary_is_mean_and_population_std_per_metric():
    summary = summarize(PER_SEED)
    assert summary["A"]["acc"]["mean"] == pytest.approx(0.6)
    assert summary["A"]["acc"]["std"] == pytest.approx(0.1)
    assert summary["A"]["f1"] == pytest.approx({"mean": 0.5, "std": 0.25})
    assert summary["B"]["acc"]["std"] == 0.0


def test_table_has_one_row_per_method():
    table = markdown_table(summarize(PER_SEED)).splitlines()
    assert table[0] == "| method | acc | f1 |"
    assert table[2] == "| A | 0.600 ± 0.100 | 0.500 ± 0.250 |"
    assert len(table) == 4


def test_report_writes_json_and_plot(tmp_path):
    path = report_comparison(
        "toy",
        description="d",
        settings={"seeds": [0, 1]},
        per_seed=PER_SEED,
        started=0.0,
        title="t",
        ylabel="y",
        smoke=True,
        results_dir=tmp_path,
    )
    assert path.name == "compare-toy-smoke.json"
    record = json.loads(path.read_text())
    assert record["per_seed"] == PER_SEED and record["summary"]["B"]["acc"]["mean"] == pytest.approx(0.9)
    assert (tmp_path / "compare-toy-smoke.png").stat().st_size > 0

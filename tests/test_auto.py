"""Pins how `hf_methods.auto` registers hf-methods architectures with transformers' Auto classes.

The registration relies on a private attribute of transformers' `_LazyAutoMapping` (`_extra_content`) and on an
import hook that runs when transformers imports its Auto modules. These tests fail loudly if a transformers upgrade
changes either: configs and models are registered by name (imported on first use), whatever the import order, and
`import hf_methods` alone imports neither torch nor transformers. Import orders need fresh processes: each scenario
runs in one `python -c`.
"""

import os
import subprocess
import sys
import textwrap

import pytest

CONFIG_MODULE = "hf_methods.generation.hydra.configuration_hydra"
MODEL_MODULE = "hf_methods.generation.hydra.modeling_hydra"


SCENARIOS = {
    # `import hf_methods` imports neither torch nor transformers; `from peft import get_peft_model` imports
    # transformers' Auto modeling module, which registers the configs (imported: they key the model mappings) and
    # the models by name: no modeling module is imported until an Auto class needs it
    "hf_methods-then-peft": f"""
        import sys
        import hf_methods
        assert "torch" not in sys.modules and "transformers" not in sys.modules, "import hf_methods is not lazy"
        from peft import get_peft_model
        assert "transformers" in sys.modules
        assert {MODEL_MODULE!r} not in sys.modules, "a modeling module was imported before use"
        from transformers import AutoConfig, AutoModel
        config = AutoConfig.for_model("hfm-hydra", hidden_size=16, vocab_size=11)
        assert type(config).__module__ == {CONFIG_MODULE!r}, type(config)
        assert {MODEL_MODULE!r} not in sys.modules, "AutoConfig imported a modeling module"
        model = AutoModel.from_config(config)
        assert type(model).__module__ == {MODEL_MODULE!r}, type(model)
        print("result", type(model).__name__)
        """,
    "transformers-auto-first": """
        import transformers
        transformers.AutoModel
        import hf_methods
        from transformers import AutoConfig, AutoModel
        config = AutoConfig.for_model("hfm-random_features", in_dim=2, width=4, out_dim=1)
        print("result", type(AutoModel.from_config(config)).__name__)
        """,
    "modeling-utils-first": """
        import transformers.modeling_utils
        import hf_methods
        from transformers import AutoConfig, AutoModel
        config = AutoConfig.for_model("hfm-random_features", in_dim=2, width=4, out_dim=1)
        print("result", type(AutoModel.from_config(config)).__name__)
        """,
    # only AutoConfig (no Auto model class): configs are registered by name, imported by the first lookup
    "autoconfig-only": f"""
        import sys
        import hf_methods
        from transformers import AutoConfig
        assert "transformers.models.auto.modeling_auto" not in sys.modules
        assert {CONFIG_MODULE!r} not in sys.modules, "a configuration module was imported before use"
        config = AutoConfig.from_pretrained(sys.argv[1])
        assert {CONFIG_MODULE!r} not in sys.modules, "another method's configuration module was imported"
        print("result", type(config).__name__, config.width)
        """,
}
EXPECTED = {
    "hf_methods-then-peft": "HydraHeads",
    "transformers-auto-first": "RandomFeatureModel",
    "modeling-utils-first": "RandomFeatureModel",
    "autoconfig-only": "RandomFeatureConfig 4",
}


@pytest.fixture(scope="module")
def scenario_outputs(tmp_path_factory):
    """Runs every scenario in its own fresh process, all at once (each start of Python with torch costs seconds)."""
    from hf_methods.models.random_features import RandomFeatureConfig

    folder = tmp_path_factory.mktemp("saved-config")
    RandomFeatureConfig(in_dim=2, width=4, out_dim=1).save_pretrained(folder)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, code in SCENARIOS.items()
    }
    outputs = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        outputs[name] = (proc.returncode, stdout, stderr)
    return outputs


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_registration_whatever_the_import_order(scenario, scenario_outputs):
    returncode, stdout, stderr = scenario_outputs[scenario]
    assert returncode == 0, stderr[-3000:]
    results = [line[len("result ") :] for line in stdout.splitlines() if line.startswith("result ")]
    assert results == [EXPECTED[scenario]], stdout[-2000:]


def test_mappings_hold_lazy_entries_in_process():
    """In this process: the private `_extra_content` dicts exist, are swapped for the lazy dict, and hold every
    architecture of the records."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    import hf_methods  # noqa: F401
    from hf_methods import auto

    transformers.AutoModel  # noqa: B018  (the Auto modeling module: registration of the models runs after it)
    assert isinstance(CONFIG_MAPPING._extra_content, auto._LazyClassDict)
    table = auto.auto_table()
    assert "hfm-mlp" in table and "hfm-random_features" in table
    for model_type, classes in table.items():
        assert model_type in CONFIG_MAPPING._extra_content, model_type
        config_cls = CONFIG_MAPPING[model_type]
        for auto_name, path in classes.items():
            if auto_name == "AutoConfig":
                continue
            mapping = getattr(transformers, auto_name)._model_mapping
            assert isinstance(mapping._extra_content, auto._LazyClassDict), auto_name
            assert mapping[config_cls] is auto._resolve(path), (model_type, auto_name)


def test_registering_a_taken_model_type_is_refused():
    from hf_methods.auto import register_configs_lazily

    with pytest.raises(ValueError, match="already used"):
        register_configs_lazily({"llama": "hf_methods.common.mlp.configuration_mlp:MLPConfig"})


LOAD_CALIBRATED = """
import sys
import hf_methods
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
assert model.config._attn_implementation == "act_eager", model.config._attn_implementation
assert "hf_methods.generation.act.modeling_act" not in sys.modules  # registered by the record's hook alone
print("ok")
"""


def test_plain_import_makes_saved_checkpoints_load(tmp_path):
    """`import hf_methods` runs the records' `on_transformers_import` hooks: an ACT-calibrated checkpoint loads."""
    from hf_methods.common.tiny import tiny_llama
    from hf_methods.generation.act import ActConfig, apply_act

    model = tiny_llama(seed=0)
    apply_act(model, ActConfig(heads=[(0, 1)]))
    model.save_pretrained(tmp_path)
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_CALIBRATED, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]

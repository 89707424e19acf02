# Copyright 2025 The hf-methods contributors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""ACT (P06): training-free Attention Calibration of hidden attention sinks (Yu et al., ICML 2024, arXiv 2406.15765).

```python
from hf_methods.generation.act import ActConfig, act_calibrate, apply_act, find_act_heads

config = find_act_heads(model, calibration_set, tokenizer=tokenizer)   # greedy head search, returns an ActConfig
with act_calibrate(model, config):                                        # temporary
    logits = model(**inputs).logits
apply_act(model, config)                                                  # permanent; saves with the model
model.save_pretrained("calibrated")  # config.json carries act_config + attn_implementation="act_eager"
# later: using any name of this package (e.g. `from hf_methods.generation.act import ActConfig`) registers "act_eager";
# then AutoModelForCausalLM.from_pretrained("calibrated") is calibrated again
```
"""

import importlib

from hf_methods.lazy import lazy_exports

_EXPORTS = {
    "ACT_ATTENTION_KEY": ".configuration_act",
    "ActConfig": ".configuration_act",
    "act_eager_attention_forward": ".attention",
    "calibrate_attention": ".attention",
    "register_act_attention": ".attention",
    "act_calibrate": ".modeling_act",
    "apply_act": ".modeling_act",
    "remove_act": ".modeling_act",
    "capture_attention": ".modeling_act",
    "get_act_config": ".modeling_act",
    "build_fewshot_task": ".tasks",
    "SinkStatistics": ".search",
    "sink_statistics": ".search",
    "choice_accuracy": ".search",
    "choice_log_probs": ".search",
    "choice_margins": ".search",
    "ChoiceScorer": ".search",
    "HeadSearch": ".search",
    "find_act_heads": ".search",
    "plot_attention_sinks": ".plotting",
}
_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str):
    value = _lazy_getattr(name)
    # using any public name registers the "act_eager" attention function (importing modeling_act does), so that
    # `from_pretrained` of a saved calibrated model finds it
    importlib.import_module(".modeling_act", __name__)
    return value


__all__ = [
    "ACT_ATTENTION_KEY",
    "ActConfig",
    "ChoiceScorer",
    "HeadSearch",
    "SinkStatistics",
    "act_calibrate",
    "act_eager_attention_forward",
    "apply_act",
    "build_fewshot_task",
    "calibrate_attention",
    "capture_attention",
    "choice_accuracy",
    "choice_log_probs",
    "choice_margins",
    "find_act_heads",
    "get_act_config",
    "plot_attention_sinks",
    "register_act_attention",
    "remove_act",
    "sink_statistics",
]

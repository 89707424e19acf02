"""The cost of `import hf_methods`, in fresh processes, against `from transformers import AutoConfig, AutoModel`.

`import hf_methods` alone imports neither torch nor transformers: the Auto classes are registered when transformers'
Auto modules are imported. So the comparison that matters is `import hf_methods` followed by the Auto import (which
runs the registration) against the Auto import alone. Target: median ratio <= 1.25. Also reports `import hf_methods`
alone and checks that peft, accelerate, datasets and every method's modeling code stay unimported. Writes
benchmarks/results/perf-import_time.json.

    python benchmarks/perf/import_time.py [--runs 7]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

STATEMENTS = {
    "transformers_auto": "from transformers import AutoConfig, AutoModel",
    "hf_methods_then_auto": "import hf_methods; from transformers import AutoConfig, AutoModel",
    "hf_methods_alone": "import hf_methods",
}
LAZY_MODULES = (
    "peft",
    "accelerate",
    "datasets",
    "hf_methods.models.random_features.modeling_random_features",
    "hf_methods.common.mlp.modeling_mlp",
    "hf_methods.training.ldr.loss",
    "transformers.modeling_utils",
)


def time_import(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def loaded_after_import() -> list[str]:
    code = "import sys, hf_methods; from transformers import AutoConfig, AutoModel; "
    code += f"print([m for m in {LAZY_MODULES!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--target", type=float, default=1.25)
    args = parser.parse_args()
    times = {name: [] for name in STATEMENTS}
    time_import("import torch")  # warm the file cache once, for both sides alike
    for _ in range(args.runs):  # interleaved, so machine noise hits both sides alike
        for name, statement in STATEMENTS.items():
            times[name].append(time_import(statement))
    medians = {name: statistics.median(v) for name, v in times.items()}
    ratio = medians["hf_methods_then_auto"] / medians["transformers_auto"]
    eager = loaded_after_import()
    result = {
        "benchmark": "import_time",
        "runs": args.runs,
        "seconds": times,
        "median_s": medians,
        "ratio": round(ratio, 3),
        "target_ratio": args.target,
        "met": ratio <= args.target and not eager,
        "eagerly_imported": eager,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = Path(__file__).resolve().parents[1] / "results" / "perf-import_time.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"median import: transformers Auto {medians['transformers_auto']:.3f} s, hf_methods + Auto "
        f"{medians['hf_methods_then_auto']:.3f} s, hf_methods alone {medians['hf_methods_alone']:.3f} s"
        f" -> ratio {ratio:.3f} (target <= {args.target}); eagerly imported: {eager or 'nothing heavy'}"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

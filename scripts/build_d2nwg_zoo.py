"""Build the digit-pair model zoo of D2NWG (P15) once: linear classifiers 64 → 2 on ordered pairs of digit classes.

Every ordered pair (a, b) of scikit-learn digit classes (label 0 = a) is a dataset; `--models_per_task` classifiers are
fitted on each by L-BFGS on L2-regularised cross-entropy over random `--subsample` fractions of its training split
(`hf_methods.models.d2nwg.training.build_digit_pair_zoo`). The zoo is written with `WeightZoo.save`
(`zoo.safetensors` + `zoo.json`: flat weights, dataset ids, support pools, parameter spec, per-model test accuracy)
and read by `recipes/d2nwg.py --zoo_dir`. The claim (`benchmarks/claims/d2nwg.py`) calls the same function with its
own settings rather than reading a committed zoo. About half a minute on one CPU thread with the defaults:

    python scripts/build_d2nwg_zoo.py --output_dir outputs/d2nwg-zoo
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="outputs/d2nwg-zoo", help="Folder of the zoo.")
    parser.add_argument("--models_per_task", type=int, default=3, help="Classifiers per digit-pair dataset.")
    parser.add_argument(
        "--subsample", type=float, default=0.6, help="Fraction of a dataset's training split per model."
    )
    parser.add_argument("--l2", type=float, default=1e-3, help="L2 penalty on the classifier weights.")
    parser.add_argument("--max_iter", type=int, default=100, help="L-BFGS iterations per classifier.")
    parser.add_argument("--pool_size", type=int, default=100, help="Support-pool images kept per class.")
    parser.add_argument("--test_size", type=float, default=0.3, help="Fraction of digits held out as test split.")
    parser.add_argument("--data_seed", type=int, default=0, help="Seed of the train/test split.")
    parser.add_argument("--unordered", action="store_true", help="Only the 45 pairs a < b instead of all 90.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    args = parser.parse_args(argv)

    import torch

    from hf_methods.models.d2nwg.training import build_digit_pair_zoo, digit_pair_tasks

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    zoo = build_digit_pair_zoo(
        digit_pair_tasks(ordered=not args.unordered),
        models_per_task=args.models_per_task,
        subsample=args.subsample,
        l2=args.l2,
        max_iter=args.max_iter,
        pool_size=args.pool_size,
        test_size=args.test_size,
        data_seed=args.data_seed,
    )
    folder = zoo.save(args.output_dir)
    accuracy = zoo.metadata["test_accuracy"]
    print(
        f"wrote {len(zoo)} classifiers on {zoo.num_tasks} datasets to {folder} in {time.perf_counter() - start:.1f} s; "
        f"test accuracy mean {statistics.fmean(accuracy):.4f}, min {min(accuracy):.4f}"
    )
    return folder


if __name__ == "__main__":
    main()

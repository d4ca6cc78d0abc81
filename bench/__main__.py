"""Run the benchmarks: `python -m bench` (what `make bench` does) from the repository root.

    python -m bench                               ingest at 1M and 5M rows, DAG parse time, training, training DAG,
                                                  serving
    python -m bench --only ingest --rows 1000000  one benchmark, one size
    python -m bench --only parse --parse-repeat 9
    python -m bench --only training               the local SageMaker runner against an in-process fit
    python -m bench --only training-dag           the training DAG on a full embedded stack (~2 min)
    python -m bench --only serving                the handler, the local SageMaker plane and MLflow's scoring server

Results are printed and written to bench/results/<benchmark>.json. Goals are reported as PASS/MISS:
a benchmark measures, it does not fail the build.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO / "plugins", REPO):  # embedded_stack and mlops, whatever the working directory
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench import ingest, parse_time, serving, training, training_dag  # noqa: E402
from bench.common import RESULTS_DIR, log  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        choices=("ingest", "parse", "training", "training-dag", "serving"),
        help="run one benchmark only",
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1_000_000, 5_000_000], metavar="N", help="ingest table sizes"
    )
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs per path and size; the best one counts")
    parser.add_argument(
        "--baseline-max-rows",
        type=int,
        default=1_000_000,
        metavar="N",
        help="run SqlToS3Operator only up to this many rows (it holds the whole result in memory)",
    )
    parser.add_argument("--parse-repeat", type=int, default=5, help="fresh processes per parse figure; median counts")
    parser.add_argument(
        "--training-repeat", type=int, default=3, help="training runs per path (best and median reported)"
    )
    parser.add_argument("--dag-runs", type=int, default=2, help="measured training DAG runs (after one warm-up run)")
    parser.add_argument("--serving-repeat", type=int, default=3, help="serving rounds (best and median reported)")
    parser.add_argument("--serving-requests", type=int, default=2000, help="requests per serving figure and round")
    parser.add_argument(
        "--serving-port-base", type=int, default=0, help="serving: ports from here on (0: any free ports)"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON results go")
    args = parser.parse_args(argv)

    started = time.monotonic()
    if args.only in (None, "ingest"):
        ingest.run(
            args.rows, repeat=args.repeat, baseline_max_rows=args.baseline_max_rows, results_dir=args.results_dir
        )
    if args.only in (None, "parse"):
        parse_time.run(repeat=args.parse_repeat, results_dir=args.results_dir)
    if args.only in (None, "training"):
        training.run(repeat=args.training_repeat, results_dir=args.results_dir)
    if args.only in (None, "training-dag"):
        training_dag.run(runs=args.dag_runs, results_dir=args.results_dir)
    if args.only in (None, "serving"):
        serving.run(
            repeat=args.serving_repeat,
            requests=args.serving_requests,
            port_base=args.serving_port_base,
            results_dir=args.results_dir,
        )
    log(f"benchmarks done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

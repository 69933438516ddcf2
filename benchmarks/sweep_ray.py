"""One sweep of the embedded model through Ray with 1 and then 2 local workers (and the
local engine for reference), in one process: samples/s of each, and the speed-up.

    python benchmarks/sweep_ray.py [--prompts 4 --samples 2 --max-tokens 16 --batch-size 2]

Each engine writes a fresh sweep directory; the samples are the same in all three (same
seeds and batches). Ray shards are batches (batch_size groups each), so keep
prompts x samples / batch_size well above the number of workers. On 2 CPU cores two
llama.cpp workers share the cores, so expect little gain there: the figure that matters
is on machines with more cores or several nodes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bailstudy"

EXPERIMENT = """\
[experiment]
name = "bench-{workers}"
[runs]
datasets = ["bailbench"]
methods = ["prompt-bail-first", "string"]
samples = {samples}
limit = {prompts}
max_tokens = {max_tokens}
[[models]]
spec = "smollm2"
workers = {workers}
cpus = {cpus}
options = {{ n_ctx = 2048, batch_size = {batch_size} }}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=2)
    args = ap.parse_args()
    if DATA.is_dir():
        os.environ.setdefault("BAILBENCH_DATA_DIR", str(DATA))
    import ray

    from bailbench.sweep.driver import run_sweep

    cores = os.cpu_count() or 2
    ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=100 * 1024**2,
             _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine, workers in (("local", 1), ("ray", 1), ("ray", 2)):
            path = Path(tmp) / f"{engine}-{workers}.toml"
            path.write_text(EXPERIMENT.format(workers=workers, cpus=cores / workers, samples=args.samples,
                                              prompts=args.prompts, max_tokens=args.max_tokens,
                                              batch_size=args.batch_size))
            r = run_sweep(path, engine=engine, out=Path(tmp) / f"{engine}-{workers}", quiet=True)
            assert r.counts["done"] == 1, r.counts
            results[(engine, workers)] = r.new_samples / r.seconds
            print(f"{engine:5} engine, {workers} worker{'s' if workers > 1 else ' '}: {r.new_samples} samples in "
                  f"{r.seconds:6.1f} s = {results[(engine, workers)]:.3f} samples/s", flush=True)
    ray.shutdown()
    print(f"ray 2 workers / ray 1 worker: {results[('ray', 2)] / results[('ray', 1)]:.2f}x; "
          f"ray 1 worker / local: {results[('ray', 1)] / results[('local', 1)]:.2f}x "
          f"({cores} CPU cores, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

"""On a GPU machine: BailBench through vLLM on Ray workers against the local engine, same
model and work, in one process. Prints samples/s of each (and of N Ray workers when the
machine has N GPUs), the figure `bailbench sweep --plan` wants as a model's `throughput`.

    python benchmarks/gpu_vllm_ray.py --model Qwen/Qwen2.5-0.5B-Instruct [--prompts 128 --samples 2 --max-tokens 256]

Needs vLLM and Ray (`pip install vllm 'bailbench[ray]'`) and the model's weights (a hub id
or a local folder). The Ray workers hold the model with the ordinary vLLM backend (one GPU
each, tensor_parallel from --tensor-parallel); the Ray engine cuts the plan into shards of
at most 256 (prompt, sample) groups, where the local engine hands vLLM the whole plan.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

EXPERIMENT = """\
[experiment]
name = "gpu-{engine}-{workers}"
[runs]
datasets = ["bailbench"]
methods = ["all"]
samples = {samples}
limit = {prompts}
max_tokens = {max_tokens}
[[models]]
spec = "vllm:{model}"
workers = {workers}
tensor_parallel = {tp}
options = {{ n_ctx = 4096 }}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--tensor-parallel", type=int, default=1)
    args = ap.parse_args()
    import ray
    import torch

    from bailbench.sweep.driver import run_sweep

    gpus = torch.cuda.device_count()
    if gpus < args.tensor_parallel:
        sys.exit(f"needs {args.tensor_parallel} GPUs, found {gpus}")
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    settings = [("local", 1)] + [("ray", w) for w in sorted({1, gpus // args.tensor_parallel}) if w >= 1]
    with tempfile.TemporaryDirectory() as tmp:
        for engine, workers in settings:
            path = Path(tmp) / f"{engine}-{workers}.toml"
            path.write_text(EXPERIMENT.format(engine=engine, workers=workers, samples=args.samples, prompts=args.prompts,
                                              max_tokens=args.max_tokens, model=args.model, tp=args.tensor_parallel))
            r = run_sweep(path, engine=engine, out=Path(tmp) / f"{engine}-{workers}", quiet=True)
            if r.counts["done"] != 1:
                sys.exit(f"{engine}: the run did not finish: see {Path(tmp) / f'{engine}-{workers}' / 'sweep.json'}")
            print(f"{engine:5} engine, {workers} worker(s): {r.new_samples} samples in {r.seconds:7.1f} s = "
                  f"{r.new_samples / r.seconds:.2f} samples/s (model load included)", flush=True)
    ray.shutdown()
    print(f"GPUs: {gpus} x {torch.cuda.get_device_name(0)}; pid {os.getpid()}")


if __name__ == "__main__":
    main()

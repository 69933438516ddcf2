"""The mechanism on the embedded SmolLM2-135M through transformers: activations for 140
contexts x 30 layers, the probe table, and a 5-alpha steering sweep with its controls
(3 random directions of the same norm, the same direction at another layer, the KL
guardrail on 16 neutral prompts), timed; DESIGN §4's target is 10 minutes on 2 CPU cores.
The model's load includes its one-time GGUF conversion unless it is cached
(`conversion_cached`; BAILBENCH_CACHE_DIR=an empty folder measures a first use).

The run being probed is made first, untimed, with llama.cpp (140 stratified BailBench prompts,
one sample, both bail-prompt orders in logprob mode, the heuristic refusal classifier so a
refusal direction exists). The sweep steers with the bail direction of the layer whose
decision-position verdict probe scores best, at the decision site.

    .venv/bin/python benchmarks/mechanism.py [--contexts 140] [--steer-contexts 140] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contexts", type=int, default=140)
    ap.add_argument("--steer-contexts", type=int, default=140)
    ap.add_argument("--alphas", default="-4,-2,0,2,4")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bailbench-mechanism"))
    args = ap.parse_args()
    os.environ.setdefault("BAILBENCH_DATA_DIR", str(ROOT.parent / "shared" / "data" / "bailstudy"))

    from bailbench.backends.embedded import embedded_gguf
    from bailbench.backends.gguf_convert import DONE, converted_dir
    from bailbench.backends.registry import BackendOptions, load_backend
    from bailbench.datasets.registry import load_dataset
    from bailbench.mechanism.activations import compute_activations
    from bailbench.mechanism.probing import probe_run
    from bailbench.mechanism.steer import sweep
    from bailbench.runner import RunConfig, run

    run_dir = args.out / "run"
    t = time.perf_counter()
    run(RunConfig(model="smollm2", methods=("prompt-bail-first", "prompt-continue-first"), limit=args.contexts,
                  samples=1, max_tokens=48, refusal_classifier="heuristic", out=run_dir))
    made = time.perf_counter() - t
    for old in ("activations", "probe"):  # a rerun measures them anew, not their resumption
        shutil.rmtree(run_dir / old, ignore_errors=True)
    cached = (converted_dir(embedded_gguf()) / DONE).is_file()

    t0 = time.perf_counter()
    hf = load_backend("hf:smollm2", BackendOptions(batch_size=8))
    t1 = time.perf_counter()
    stored = compute_activations(run_dir, hf, "all")
    t2 = time.perf_counter()
    probed = probe_run(run_dir)
    t3 = time.perf_counter()
    verdicts = [r for r in probed.rows if r.site == "decision" and r.target == "verdict"
                and r.method == "prompt-bail-first"]
    best = max(verdicts, key=lambda r: r.fit.value).layer if verdicts else 15
    neutral = [p.content for p in load_dataset("neutral").prompts[:16]]
    swept = sweep(hf, run_dir, run_dir / "probe" / f"bail-L{best}.npz",
                  alphas=[float(a) for a in args.alphas.split(",")], seeds=(0, 1, 2), neutral=neutral,
                  limit=args.steer_contexts)
    t4 = time.perf_counter()

    def top(site, target, method="prompt-bail-first"):
        rows = [r for r in probed.rows if (r.site, r.target, r.method) == (site, target, method)]
        r = max(rows, key=lambda r: r.fit.value) if rows else None
        return None if r is None else {"layer": r.layer, **asdict(r.fit)}

    print(json.dumps({
        "cpu_threads": __import__("torch").get_num_threads(), "load_average": os.getloadavg(),
        "contexts": args.contexts, "conversion_cached": cached, "layers": len(stored.layers), "reads": stored.new_reads + stored.reused_reads,
        "seconds": {"make_run_llamacpp": round(made, 1), "load_hf": round(t1 - t0, 1),
                    "activations": round(t2 - t1, 1), "probe": round(t3 - t2, 1), "steer_sweep": round(t4 - t3, 1),
                    "total_mechanism": round(t4 - t0, 1)},
        "best_probe": {f"{site}/{target}": top(site, target) for site in ("reply_end", "decision")
                       for target in ("verdict", "p_bail")},
        "cosine_bail_refusal_reply_end": {d.layer: d.cosine_reply_end for d in probed.directions},
        "sweep": {"layer": best, "contexts": swept.contexts, "path": swept.path, "base_p_bail": swept.base_p_bail,
                  "base_mass": swept.base_mass,
                  "conditions": [{"alpha": c.alpha, "name": c.name, "layer": c.layer,
                                  "delta": [round(c.delta_p_bail.mean, 4), round(c.delta_p_bail.low, 4),
                                            round(c.delta_p_bail.high, 4)],
                                  "excess": c.excess and [round(c.excess.mean, 4), round(c.excess.low, 4),
                                                          round(c.excess.high, 4)],
                                  "random_range": c.random_range and [round(x, 4) for x in c.random_range],
                                  "mass": round(c.mass, 4), "kl": c.kl_neutral and round(c.kl_neutral, 4)}
                                 for c in swept.conditions]},
    }, indent=1))


if __name__ == "__main__":
    main()

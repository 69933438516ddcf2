"""Peak memory of `bailbench taxonomy` at 1k and 10k bail cases (each size in a fresh process).

What is real: the run store, the taxonomy store, k-means (KMeans at 1k, MiniBatchKMeans fitted
chunk by chunk at 10k), the contrast examples, the parent levels (the real all-MiniLM-L6-v2
embeds the cluster names), taxonomy.json and taxonomy.md. What is not: the LLM steps are
skipped (`--summarizer none`: the raw request stands for the summary, names come from each
cluster's distinctive words), and, unless --real-embeddings, the case embeddings are synthetic
unit vectors written into the cache beforehand (embedding 10k texts takes minutes on 2 cores;
the encoder's own memory does not grow with the number of cases, it works a batch at a time).

    python benchmarks/taxonomy_memory.py [--sizes 1000,10000] [--real-embeddings]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("rotten eggs insults slurs torture roleplay poems math homework gore spiders threats jokes recipes "
         "malware weapons lies manipulation grief trauma abuse boredom spam nonsense repetition flattery").split()


def make_run(root: Path, n: int, embedder_id: str | None) -> Path:
    import numpy as np

    from bailbench.store import SampleRow, Store
    from bailbench.taxonomy.store import TaxonomyStore, sha

    rng = np.random.default_rng(0)
    out = root / "run"
    store = Store(out)
    topics = rng.normal(size=(40, 384)).astype(np.float32)
    vecs, batch = {}, []
    for i in range(n):
        t = i % 40
        words = " ".join(WORDS[(t * 7 + j * 3 + i) % len(WORDS)] for j in range(6))
        prompt = f"Request {i} on topic {t}: please write about {words}, in detail."
        batch.append(SampleRow(key=f"p{i}|0|prompt-bail-first|Baseline|logprob", prompt_id=f"p{i}", category=f"c{t % 7}",
                               subcategory=f"s{t}", method="prompt-bail-first", ablation="Baseline", mode="logprob",
                               sample=0, seed=i, rendered="<|im_start|>user\n" + prompt, reply="", verdict="bail",
                               p_bail=0.9, mass=0.5, prompt_tokens=30, completion_tokens=0, finish_reason="",
                               seconds=0.0, skipped=None, prompt=prompt))
        if embedder_id:
            v = topics[t] + 0.6 * rng.normal(size=384).astype(np.float32)
            vecs[sha(prompt[:400])] = v / np.linalg.norm(v)
        if len(batch) == 5000:
            store.add(batch)
            batch = []
    store.add(batch)
    store.close()
    (out / "summary.json").write_text(json.dumps({"model": "synthetic", "dataset": "synthetic",
                                                  "dataset_sha256": "0" * 64, "methods": {}}))
    if embedder_id:
        tax = TaxonomyStore(out / "taxonomy")
        items = list(vecs.items())
        for i in range(0, len(items), 5000):
            tax.add_embeddings(embedder_id, dict(items[i:i + 5000]))
        tax.close()
    return out


def child(n: int, real: bool) -> None:
    from bailbench.taxonomy.embed import Embedder
    from bailbench.taxonomy.pipeline import TaxonomyConfig, build_taxonomy

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(Path(tmp), n, None if real else Embedder().id)
        start = time.perf_counter()
        result = build_taxonomy(TaxonomyConfig(runs=(run_dir,), summarizer="none", levels=3))
        took = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(json.dumps({"cases": n, "peak_rss_mb": round(peak), "seconds": round(took, 1),
                          "base_clusters": result.stats["base_clusters"],
                          "embeddings_computed": result.stats["embeddings_computed"],
                          "top_level": len(result.tree["tree"]["children"])}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--real-embeddings", action="store_true")
    ap.add_argument("--child", type=int)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.real_embeddings)
        return
    results = []
    for n in map(int, args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--child", str(n)] + (["--real-embeddings"] if args.real_embeddings else [])
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(line))
        r = results[-1]
        print(f"{r['cases']:>7} cases: peak RSS {r['peak_rss_mb']} MB, {r['seconds']} s, "
              f"{r['base_clusters']} base clusters, {r['top_level']} top-level nodes", flush=True)
    if len(results) > 1:
        print(f"peak RSS ratio {results[-1]['cases']} / {results[0]['cases']} cases: "
              f"{results[-1]['peak_rss_mb'] / results[0]['peak_rss_mb']:.2f}x "
              f"(LLM steps skipped; case embeddings {'real' if args.real_embeddings else 'synthetic'})")


if __name__ == "__main__":
    main()

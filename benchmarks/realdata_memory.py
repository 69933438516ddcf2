"""Peak memory of `bailbench realdata` at 1k and 10k conversations: streaming end to end,
so it should not grow with the number of conversations.

The real pipeline on the offline ShareGPT conversations with the embedded model: loading,
alternation, planning (every turn's context is rendered and tokenised), the run store,
the SQL summary and the CSV export. A context limit of 48 tokens skips (and counts)
most turns (about one in nine is answered), so the measurement takes minutes rather than
the days of answering 10k conversations on a CPU.

    python benchmarks/realdata_memory.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, resource, sys
from pathlib import Path
from bailbench.realdata import RealDataConfig, run_realdata
res = run_realdata(RealDataConfig(dataset="sharegpt", methods=("string",), limit=int(sys.argv[1]), max_tokens=1,
                                  max_context=48, out=Path(sys.argv[2])))
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "conversations": res.summary["n_conversations"], "turns": res.summary["n_turns"],
                  "answered": res.summary["methods"]["string"]["n"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = ap.parse_args()
    peaks = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, str(n), out], capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-2000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        peaks[n] = r["peak_mb"]
        print(f"{r['conversations']:6d} conversations ({r['turns']} turns, {r['answered']} answered by the model): "
              f"peak RSS {r['peak_mb']:7.1f} MB in {time.perf_counter() - start:6.1f} s")
    lo, hi = min(args.sizes), max(args.sizes)
    print(f"peak RSS at {hi} / at {lo} conversations: {peaks[hi] / peaks[lo]:.2f}x")


if __name__ == "__main__":
    main()

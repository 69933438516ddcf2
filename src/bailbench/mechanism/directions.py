"""Directions in the residual stream, saved as .npz (vector, source layer, model id, kind) and
as llama.cpp control vectors, and the `--steer FILE:LAYER:ALPHA` option that applies one at a
layer, the source layer or another (the other-layer control).

A control vector is the GGUF file llama.cpp's `--control-vector-scaled FILE ALPHA` reads
(written with the `gguf` package, as repeng's `export_gguf` writes them): architecture
`controlvector`, one float32 tensor `direction.L` added to the output of block L (0-based, as
here: llama.cpp adds `direction.L` at the end of layer L, and has no slot for block 0)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class Direction:
    vector: np.ndarray  # float32 (hidden,)
    layer: int  # the layer it was computed at
    model_id: str
    kind: str  # bail | refusal | random:SEED

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            np.savez(f, vector=self.vector.astype("float32"), layer=np.int64(self.layer),
                     model_id=np.str_(self.model_id), kind=np.str_(self.kind))
        return path

    def save_control_vector(self, path: Path) -> Path | None:
        """The direction as a llama.cpp control vector at its own layer (None at block 0, which
        llama.cpp cannot steer); `--control-vector-scaled PATH ALPHA` then adds ALPHA x it, as
        `--steer FILE:LAYER:ALPHA` does here."""
        if self.layer < 1:
            return None
        import gguf

        path.parent.mkdir(parents=True, exist_ok=True)
        writer = gguf.GGUFWriter(str(path), "controlvector")
        writer.add_string("controlvector.model_hint", self.model_id)
        writer.add_uint32("controlvector.layer_count", 1)
        writer.add_tensor(f"direction.{self.layer}", self.vector.astype("float32"))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))


def load_direction(path: Path) -> Direction:
    try:
        with np.load(path, allow_pickle=False) as z:
            return Direction(z["vector"].astype("float32"), int(z["layer"]), str(z["model_id"]), str(z["kind"]))
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path} is not a bailbench direction file ({exc}); use one `bailbench probe` wrote") from None


def random_like(d: Direction, seed: int) -> Direction:
    """A uniformly random direction with the same norm (the steering control)."""
    v = np.random.default_rng(seed).standard_normal(d.vector.shape).astype("float32")
    return Direction(v * (d.norm / float(np.linalg.norm(v))), d.layer, d.model_id, f"random:{seed}")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@dataclass(frozen=True)
class Steering:
    """Add `alpha * vector` to the output of decoder block `layer`."""

    vector: np.ndarray
    layer: int
    alpha: float
    source: str = ""  # the file, for the run's identity

    def identity(self) -> dict:
        digest = hashlib.sha256(self.vector.astype("float32").tobytes()).hexdigest()[:16]
        return {"direction": digest, "layer": self.layer, "alpha": self.alpha, "file": self.source}


def split_steer(text: str) -> tuple[Path, int, float]:
    path, _, rest = text.rpartition(":")
    path, _, layer = path.rpartition(":")
    try:
        return Path(path).expanduser(), int(layer), float(rest)
    except ValueError:
        raise UserError(f"--steer {text!r}: give FILE:LAYER:ALPHA, e.g. run/probe/bail-L12.npz:12:4") from None


def check_steer(text: str) -> str | None:
    """The option's check (BackendOptions.steer): the format, and a file that exists."""
    path, _, alpha = split_steer(text)
    if not path.is_file():
        return f"names no file {path}: give FILE:LAYER:ALPHA with a direction file `bailbench probe` wrote"
    return None if np.isfinite(alpha) else "has an alpha that is not a finite number"


def parse_steer(text: str) -> Steering:
    path, layer, alpha = split_steer(text)
    return Steering(load_direction(path).vector, layer, alpha, str(path))

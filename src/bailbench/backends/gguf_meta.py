"""Read a GGUF file's metadata without loading the model (only the header is parsed)."""

from __future__ import annotations

import struct
from pathlib import Path

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


def read_metadata(path: Path, keys: set[str] | None = None) -> dict:
    """Metadata key -> value (arrays are skipped, their values are not needed here)."""
    out: dict = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, = struct.unpack("<I", f.read(4))
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is too old")
        _, n_kv = struct.unpack("<QQ", f.read(16))

        def string() -> str:
            n, = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", errors="replace")

        def value(kind: int):
            if kind == STRING:
                return string()
            if kind == ARRAY:
                item, n = struct.unpack("<IQ", f.read(12))
                if item in _SCALARS:
                    f.seek(n * struct.calcsize(_SCALARS[item]), 1)
                else:
                    for _ in range(n):
                        value(item)
                return None
            fmt = _SCALARS[kind]
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        for _ in range(n_kv):
            key = string()
            kind, = struct.unpack("<I", f.read(4))
            v = value(kind)
            if keys is None or key in keys:
                out[key] = v
    return out


def trained_context(path: Path) -> int | None:
    md = read_metadata(path)
    arch = md.get("general.architecture")
    return md.get(f"{arch}.context_length") if arch else None

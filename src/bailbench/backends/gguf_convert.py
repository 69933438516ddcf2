"""A GGUF chat model as a safetensors checkpoint folder, for engines that do not read GGUF
(vLLM on a CPU loads safetensors only).

transformers de-quantizes the GGUF's weights on load; the model it returns still carries
a GGUF `quantization_config`, which a saved folder must not (vLLM would look for GGUF
files), so the weights are copied into a plain model built from the same config. The
folder holds exactly the de-quantized weights, so the hf backend on that folder and on
the GGUF score the same. Conversions are cached (`bailbench.paths.cache_dir()/converted`),
keyed by the file's name, size and modification time.

    python -m bailbench.backends.gguf_convert MODEL.gguf [OUT_DIR]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import UserError
from ..paths import cache_dir

DONE = ".bailbench-converted"  # written last: a folder without it is an interrupted conversion


def converted_dir(gguf: Path, dtype: str = "float32") -> Path:
    """Where the cached conversion of `gguf` lives (its stem keeps the model's name readable)."""
    st = gguf.stat()
    return cache_dir() / "converted" / f"{gguf.stem}-{dtype}-{st.st_size:x}-{int(st.st_mtime):x}"


def convert_gguf(gguf: str | Path, out: str | Path | None = None, *, dtype: str = "float32") -> Path:
    """Write `gguf` as a transformers checkpoint folder (config, safetensors, tokenizer with
    its chat template) and return the folder; an existing finished folder is reused.

    `dtype` float32 keeps the de-quantized values exactly; bfloat16 halves the size."""
    gguf = Path(gguf).expanduser()
    if not gguf.is_file() or gguf.suffix != ".gguf":
        raise UserError(f"GGUF file {gguf} not found: give the path of an existing .gguf file")
    out = Path(out).expanduser() if out else converted_dir(gguf, dtype)
    if (out / DONE).is_file():
        return out
    try:  # before the 40 s of de-quantizing
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write the converted model to {out.parent} ({exc.strerror or exc}); set "
                        "BAILBENCH_CACHE_DIR to a writable folder") from None
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise UserError("converting a GGUF needs torch, transformers and gguf: pip install 'bailbench[hf]'") from exc
    if not hasattr(torch, dtype):
        raise UserError(f"unknown dtype {dtype!r}: use float32, bfloat16 or float16")
    src, kw = str(gguf.parent), {"gguf_file": gguf.name}
    try:
        tok = AutoTokenizer.from_pretrained(src, **kw)
        quantized = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, **kw)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"transformers could not load {gguf} ({str(exc).splitlines()[0]}); "
                        "is it a GGUF of an architecture transformers supports?") from exc
    config = AutoConfig.for_model(**{k: v for k, v in quantized.config.to_dict().items()
                                     if k not in ("quantization_config", "_name_or_path", "transformers_version")})
    config.dtype = dtype
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        plain.to(getattr(torch, dtype)).save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / DONE).write_text(f"{gguf}\n", "utf-8")
        if out.exists():  # an interrupted conversion
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        sys.exit("usage: python -m bailbench.backends.gguf_convert MODEL.gguf [OUT_DIR]")
    try:
        print(convert_gguf(*args))
    except UserError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()

"""How the Llama object is created: llama-cpp-python's defaults patched while it loads
(several sequences in one context, no AMX repacking) and llama.cpp's log silenced."""

from __future__ import annotations

import contextlib
import ctypes

_LOG_CALLBACK = None


def silence_llama_log() -> None:
    """Route llama.cpp's and ggml's log lines to nowhere, so that a user error (a file that is
    not a GGUF model, a model that does not load) is bailbench's one line on stderr."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import llama_cpp  # its import installs a callback that prints errors to stderr

    _LOG_CALLBACK = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


@contextlib.contextmanager
def multi_sequence(n_seq_max: int):
    """Create the Llama object's context with room for several sequences in one unified KV
    cache (the Llama class sets `n_seq_max` only for embeddings)."""
    import llama_cpp.llama_cpp as C

    original = C.llama_context_default_params

    def params():
        p = original()
        p.n_seq_max = min(n_seq_max, C.llama_max_parallel_sequences())
        p.kv_unified = True
        return p

    C.llama_context_default_params = params
    try:
        yield
    finally:
        C.llama_context_default_params = original


@contextlib.contextmanager
def without_amx_repacking():
    """Load weights without llama.cpp's extra (repacked) buffer types when the build uses AMX.

    A llama.cpp built natively on a CPU with AMX crashes (SIGSEGV in
    ggml_backend_amx_mul_mat) on the first decode of small quantised models such as the
    embedded SmolLM2 Q4_1; plain CPU buffers avoid that path.
    """
    import llama_cpp.llama_cpp as C

    if b"AMX_INT8 = 1" not in C.llama_print_system_info():
        yield
        return
    original = C.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    C.llama_model_default_params = params
    try:
        yield
    finally:
        C.llama_model_default_params = original

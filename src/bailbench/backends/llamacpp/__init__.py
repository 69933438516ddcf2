"""GGUF models through llama.cpp (llama-cpp-python), on CPU or GPU.

Prompts are rendered with the chat template stored in the GGUF, so the stored input is
exactly what the model saw. One llama.cpp context holds several sequences in one KV
cache of n_ctx cells (`n_seq_max`, unified cells: the memory of one sequence), driven
through llama.cpp's batch API (`llama_batch_init`, `llama_decode` with several sequence
ids, `llama_get_logits_ith`, `llama_memory_seq_cp/_rm`).

Generation decodes up to `batch_size` sequences together, one token of each per
`llama_decode`, and admits the next request when one finishes and its worst case
(prompt + max tokens) fits the cache. Prompts that start alike (a method's system prompt,
the turns of one conversation) share the cells of their common prefix.

Sampling: each sequence has its own llama.cpp sampler chain seeded with its request's
seed, the chain `create_completion` built before (penalties, top-k/p, min-p and typical
all disabled, then temperature, then `dist(seed)`; greedy at temperature 0). The seeding
scheme is unchanged; replies differ from the one-at-a-time version's because the logits
of a batch differ in rounding (below).

Numerics, measured on CPU with the embedded Q4_1 model. A prefill gives the same bits
whichever other sequences share the batch and however it is split (in parts of two tokens
or more). KV written one token per step (generation) differs from prefill, and results
depend on where a sequence's cells lie in the cache; through the model's 8-bit activation
quantisation such rounding moves a symbol's log-probability by up to about 0.3 nats, far
beyond float tolerance. Hence:
- `generate` empties the cache first, so a reply is a function of its call's request list
  (the batch): the same batch gives the same replies bit for bit, and a resumed batch (the
  runner cuts batches from the full plan) the same as an uninterrupted one;
- `score` (the bail prompt) keeps llama.cpp's exact path: the generated sequences are
  dropped, and sequence 0 alone evaluates each chat by prefill, reusing the prefix the
  previous chat left (the two orders of the check after one reply share prompt + reply),
  then walks the continuations' token trie (`backends.token_trie`). Its log-probabilities
  are those of a cold evaluation bit for bit, whatever ran before;
- `reuse_reply=True` instead continues from the rollout's own KV: all chats and symbols
  of a call form one token trie decoded in one batch after the cached prompt + reply, so
  a check costs only its own tokens, at the price of the rounding above (tests hold it to
  0.5 nats of the cold path).

Replies keep the control tokens that open or delimit tool calls (`[TOOL_CALLS]`,
`<|python_tag|>` ...), which llama.cpp drops from text; end-of-generation tokens end a
reply and are never part of it. llama.cpp's own log is silenced, so that a user error
(a file that is not a GGUF model) is bailbench's one line.

Modules: `loading` (creating the Llama object), `cache` (which sequences the KV cache holds),
`decoding` (the batch API), `generation`, `scoring`, `backend` (the backend they make).
"""

from .backend import DEFAULT_BATCH_SIZE, TOOL_CALL_TOKENS, LlamaCppBackend
from .loading import multi_sequence, silence_llama_log, without_amx_repacking

__all__ = ["DEFAULT_BATCH_SIZE", "TOOL_CALL_TOKENS", "LlamaCppBackend", "multi_sequence", "silence_llama_log",
           "without_amx_repacking"]

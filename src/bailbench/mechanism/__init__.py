"""The bail mechanism: activations, linear probes and steering on transformers models.

Built on plain PyTorch forward hooks on the transformers backend's own model
(backends/hf.py), not nnsight, transformer-lens or steering-vectors: the hooks need no
second copy of the model and no extra dependency, work on any causal LM transformers loads
(the embedded GGUF included, which transformer-lens cannot load), and steer through the very
scorer and KV reuse a run uses, so a steered P(bail) is the run's P(bail). Probes use
scikit-learn.

- `sites`: which positions of a run to read (reply end; the bail prompt's decision position)
- `activations`: read them into float16 shards beside the run, resumably
- `probe`: grouped cross-validated probes per layer, bail and refusal directions
- `directions`: the saved direction format and `--steer FILE:LAYER:ALPHA`
- `steer`: a steering sweep with its controls and guardrails
"""

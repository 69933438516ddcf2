"""The keyword arguments of `bailbench.api`, typed. Written by `bailbench.api.write_types()` from
the declared settings (`make api-types`): do not edit; a test checks it is current."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

__all__ = ['RunSettings', 'RealDataSettings', 'SimulateSettings']


class RunSettings(TypedDict, total=False):
    model: str
    methods: str | tuple[str, ...]
    ablation: str
    max_tokens: int
    temperature: float | None
    bail_prompt_mode: str | None
    seed: int
    out: Path | str | None
    model_name: str | None
    refusal_classifier: str | None
    false_bail_filter: str | None
    protocol: str
    dataset: str
    samples: int
    limit: int | None
    data_dir: str | None
    prefix: str | None
    rollouts_from: Path | str | None
    n_ctx: int
    gpu_layers: int
    device: str | None
    dtype: str | None
    tensor_parallel: int
    batch_size: int | None
    tool_format: str | None
    steer: str | None
    base_url: str | None
    concurrency: int | None
    timeout: float | None
    api_key_env: str | None
    batch: bool


class RealDataSettings(TypedDict, total=False):
    model: str
    methods: str | tuple[str, ...]
    ablation: str
    max_tokens: int
    temperature: float | None
    bail_prompt_mode: str | None
    seed: int
    out: Path | str | None
    model_name: str | None
    refusal_classifier: str | None
    false_bail_filter: str | None
    protocol: str
    dataset: str
    limit: int | None
    fraction: float
    english_only: bool
    max_context: int
    cross_model: bool
    n_ctx: int
    gpu_layers: int
    device: str | None
    dtype: str | None
    tensor_parallel: int
    batch_size: int | None
    tool_format: str | None
    steer: str | None
    base_url: str | None
    concurrency: int | None
    timeout: float | None
    api_key_env: str | None
    batch: bool


class SimulateSettings(TypedDict, total=False):
    model: str
    methods: str | tuple[str, ...]
    ablation: str
    max_tokens: int
    temperature: float | None
    bail_prompt_mode: str | None
    seed: int
    out: Path | str | None
    model_name: str | None
    refusal_classifier: str | None
    false_bail_filter: str | None
    protocol: str
    user: str | None
    scenarios: str
    turns: int
    conversations: int
    check: str | None
    paired: bool
    user_max_tokens: int
    user_temperature: float | None
    retries: int
    n_ctx: int
    gpu_layers: int
    device: str | None
    dtype: str | None
    tensor_parallel: int
    batch_size: int | None
    tool_format: str | None
    steer: str | None
    base_url: str | None
    concurrency: int | None
    timeout: float | None
    api_key_env: str | None
    batch: bool

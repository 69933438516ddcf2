"""Backend options are declared by each backend, in its own class (backends/options.py); the
CLI, the library and experiment files take the union of every registered backend's."""

import pickle
from dataclasses import dataclass, fields, replace

import pytest

from bailbench import api
from bailbench.backends import registry
from bailbench.backends.options import (
    APIOptions,
    GGUFOptions,
    HFOptions,
    Options,
    VLLMOptions,
    options,
    options_class,
)
from bailbench.backends.registry import BackendOptions, backend_options, load_backend, provider_options, union_of
from bailbench.errors import UserError
from bailbench.runner import RunConfig
from bailbench.settings import SettingError, cli_parameters, declared, setting

# the help of every built-in flag as it read when all of them were declared in BackendOptions
HELP = {
    "n_ctx": "Context window for local models (capped by the model's own).",
    "gpu_layers": "gguf: layers offloaded to the GPU (-1 = all; needs a GPU build of llama-cpp-python).",
    "device": "hf: torch device [cuda if available, else cpu].",
    "dtype": "hf, vllm: weights dtype (float32, bfloat16, float16).",
    "batch_size": "gguf, hf, vllm: sequences decoded together [gguf: 16; hf: 32 on GPU, 8 on CPU; vllm: groups per "
                  "engine call, 32 on CPU, 256 on GPU]; part of the run's identity.",
    "tool_format": "gguf, hf, vllm: read tool calls in this format instead of the one the chat template shows "
                   "(README, How tool calls are read).",
    "steer": "hf: add ALPHA x a saved direction to the residual stream after layer LAYER (FILE:LAYER:ALPHA; "
             "directions from `bailbench probe`).",
    "tensor_parallel": "vllm: GPUs to shard the model over.",
    "base_url": "openai, anthropic: server address (any OpenAI-compatible server).",
    "concurrency": "openai, anthropic: requests in flight [16 / 8].",
    "timeout": "openai, anthropic: seconds per request before a retry.",
    "api_key_env": "openai, anthropic: the environment variable holding the key of a --base-url server "
                   "(OPENAI_API_KEY / ANTHROPIC_API_KEY go only to the provider's own endpoint).",
    "batch": "openai, anthropic: send requests through the provider's batch API (half price, answers within hours; "
             "jobs kept in the run directory, so a killed run collects them instead of paying again).",
}


@dataclass(frozen=True)
class EchoOptions(Options):
    greeting: str = setting("hello", "The word every answer starts with.",
                            check=lambda v: None if v.isalpha() else "must be one word of letters")


class FakeEntryPoint:
    def __init__(self, name, factory=None, error=None):
        self.name, self.factory, self.error = name, factory, error

    def load(self):
        if self.error:
            raise self.error
        return self.factory


@pytest.fixture
def received(monkeypatch):
    """Every provider's factory replaced by one that records what it is called with (keeping
    the real factory's options class), plus `echo` (EchoOptions) and `broken` (fails to import)."""
    calls: dict[str, object] = {}

    def recorder(provider, cls):
        @options(cls)
        def factory(name, *, spec, options):
            calls[provider] = options
            return provider
        return factory

    backend_options()  # the real union, cached before the providers are replaced
    real = registry.providers()
    fake = {p: FakeEntryPoint(p, recorder(p, options_class(ep.load()))) for p, ep in real.items()}
    fake["echo"] = FakeEntryPoint("echo", recorder("echo", EchoOptions))
    fake["broken"] = FakeEntryPoint("broken", error=ImportError("No module named 'gone'"))

    class Plain:  # not a dataclass of Options: its flags cannot be read
        greeting = "hi"

    @dataclass(frozen=True)
    class Unresolved(Options):
        level: "NoSuchType" = None  # type: ignore[name-defined]  # noqa: F821

    fake["plain"] = FakeEntryPoint("plain", recorder("plain", Plain))
    fake["unresolved"] = FakeEntryPoint("unresolved", recorder("unresolved", Unresolved))
    monkeypatch.setattr(registry, "providers", lambda: fake)
    return calls


BUILT_IN = [
    ("gguf", GGUFOptions, dict(n_ctx=2048, gpu_layers=-1, batch_size=4, tool_format="hermes")),
    ("hf", HFOptions, dict(n_ctx=1024, device="cpu", dtype="float32", batch_size=2, tool_format="llama3")),
    ("vllm", VLLMOptions, dict(dtype="bfloat16", tensor_parallel=2, batch_size=64)),
    ("openai", APIOptions, dict(base_url="http://127.0.0.1:9", concurrency=3, timeout=2.5, api_key_env="K",
                                batch=True)),
    ("anthropic", APIOptions, dict(concurrency=2, n_ctx=4096)),
    ("mock", Options, dict(n_ctx=512)),
]


def test_each_built_in_backend_declares_its_class():
    assert {p: options_class(ep.load()) for p, ep in registry.providers().items()} == {
        "gguf": GGUFOptions, "hf": HFOptions, "vllm": VLLMOptions, "openai": APIOptions, "anthropic": APIOptions,
        "mock": Options}


@pytest.mark.parametrize("provider, cls, values", BUILT_IN)
def test_each_built_in_factory_receives_its_own_class_with_the_values_given(received, provider, cls, values):
    for made in (BackendOptions(**values), backend_options()(**values)):
        assert load_backend(f"{provider}:x", made) == provider
        got = received[provider]
        assert type(got) is cls and got == cls(**values)
        assert {k: getattr(got, k) for k in values} == values


@pytest.mark.parametrize("provider, given, message", [
    ("gguf", dict(device="cuda"), "--device does not apply to gguf models (they take: --n-ctx, --gpu-layers, "
                                  "--batch-size, --tool-format)"),
    ("hf", dict(tensor_parallel=2, gpu_layers=3), "--gpu-layers, --tensor-parallel does not apply to hf models "
                                                  "(they take: --n-ctx, --device, --dtype, --batch-size, "
                                                  "--tool-format, --steer)"),
    ("vllm", dict(device="cuda"), "--device does not apply to vllm models (they take: --n-ctx, --dtype, "
                                  "--tensor-parallel, --batch-size, --tool-format)"),
    ("openai", dict(batch_size=8), "--batch-size does not apply to openai models (they take: --base-url, "
                                   "--concurrency, --timeout, --api-key-env, --batch)"),
    ("mock", dict(timeout=3.0), "--timeout does not apply to mock models (they take: none of the backend flags)"),
])
def test_a_flag_a_backend_does_not_take_is_the_error_it_always_was(provider, given, message):
    with pytest.raises(UserError) as err:
        load_backend(f"{provider}:x", BackendOptions(**given))
    assert str(err.value) == message


def test_the_union_of_the_built_in_backends_is_backend_options():
    union = backend_options()
    assert issubclass(union, BackendOptions) and union is backend_options()
    assert [f.name for f in fields(union)] == [f.name for f in fields(BackendOptions)]
    assert set(declared(union)) == set(HELP)
    assert [f.default for f in fields(union)] == [f.default for f in fields(BackendOptions)]


def test_the_help_names_the_backends_that_take_each_flag():
    assert {name: spec.help for name, (_, spec) in declared(backend_options()).items()} == HELP
    params = {p.name: p.default.help for p in cli_parameters(backend_options())}
    assert params["batch_size"].startswith("gguf, hf, vllm: sequences decoded together \\[gguf: 16;")  # Rich-escaped


def test_two_backends_declaring_one_option_differently_is_an_error():
    @dataclass(frozen=True)
    class Other(Options):
        greeting: str = setting("hello", "The word every answer starts with.")

    with pytest.raises(UserError) as err:
        union_of({**provider_options(), "echo": EchoOptions, "other": Other})
    assert str(err.value) == ("the echo and other backends both declare the option greeting (--greeting), "
                              "differently: one should inherit it or rename it")

    @dataclass(frozen=True)
    class Timeout(Options):
        timeout: float = setting(1.0, "Seconds.")

    with pytest.raises(UserError, match=r"^the openai and mine backends both declare the option timeout "):
        union_of({**provider_options(), "mine": Timeout})


def test_an_option_shared_by_inheritance_is_one_option():
    @dataclass(frozen=True)
    class Louder(EchoOptions):
        volume: int = setting(1, "How loud.")

    union = union_of({**provider_options(), "echo": EchoOptions, "loud": Louder})
    helps = {name: spec.help for name, (_, spec) in declared(union).items()}
    assert helps["greeting"] == "echo, loud: The word every answer starts with."
    assert helps["volume"] == "loud: How loud." and helps["n_ctx"] == HELP["n_ctx"]
    assert {k: v for k, v in helps.items() if k in HELP} == HELP
    params = {p.name: p for p in cli_parameters(RunConfig, union)}
    assert params["greeting"].default.default == "hello" and params["volume"].default.help == "loud: How loud."


def test_an_option_class_built_on_a_built_in_one_adds_to_it(monkeypatch):
    @dataclass(frozen=True)
    class MineOptions(APIOptions):  # the README's example
        retries: int = setting(3, "Retries per request.")

    got = []

    @options(MineOptions)
    def mine(name, *, spec, options):
        got.append(options)
        return "mine"

    union = union_of({**provider_options(), "mine": MineOptions})
    helps = {name: spec.help for name, (_, spec) in declared(union).items()}
    assert helps["retries"] == "mine: Retries per request."
    assert helps["timeout"] == "openai, anthropic, mine: seconds per request before a retry."
    monkeypatch.setattr(registry, "providers", lambda: {"mine": FakeEntryPoint("mine", mine)})
    assert load_backend("mine:x", union(retries=5, timeout=2.0)) == "mine"
    assert got == [MineOptions(retries=5, timeout=2.0)]


def test_another_packages_option_is_checked_and_reaches_its_backend(received):
    union = union_of(provider_options())
    assert "broken" not in provider_options() and "greeting" in declared(union)
    value = union(greeting="howdy", n_ctx=4096)
    assert isinstance(value, BackendOptions) and value.given() == {"greeting": "howdy", "n_ctx": 4096}
    assert load_backend("echo:x", value) == "echo" and received["echo"] == EchoOptions(greeting="howdy", n_ctx=4096)
    assert load_backend("echo:x", BackendOptions()) == "echo" and received["echo"] == EchoOptions()
    with pytest.raises(SettingError, match=r"^--greeting 'two words' must be one word of letters$"):
        union(greeting="two words")
    with pytest.raises(UserError) as err:
        load_backend("mock:x", value)
    assert str(err.value) == "--greeting does not apply to mock models (they take: none of the backend flags)"
    with pytest.raises(UserError) as err:
        load_backend("echo:x", union(device="cuda"))
    assert str(err.value) == "--device does not apply to echo models (they take: --greeting)"
    with pytest.raises(UserError) as err:
        load_backend("broken:x")
    assert str(err.value) == "the broken backend could not be imported (No module named 'gone')"


def test_an_options_class_that_cannot_be_read_is_left_out_and_named(received):
    """Another package's malformed options class must not break every command: it is left out
    of the union, and using its backend is one line saying what is wrong."""
    assert {"plain", "unresolved"}.isdisjoint(provider_options()) and "echo" in provider_options()
    with pytest.raises(UserError, match=r"^the plain backend cannot be used: its options class .*Plain.* is not a "
                                        r"dataclass subclass of bailbench.backends.options.Options$"):
        load_backend("plain:x")
    with pytest.raises(UserError, match=r"^the unresolved backend cannot be used: the type hints of its options "
                                        r"class Unresolved cannot be read \(name 'NoSuchType' is not defined\)$"):
        load_backend("unresolved:x")


def test_the_library_and_a_pickle_keep_the_union():
    cfg = api.config(RunConfig, {"batch_size": 8, "timeout": 2.0})
    assert type(cfg.options) is backend_options() and cfg.options.given() == {"batch_size": 8, "timeout": 2.0}
    again = pickle.loads(pickle.dumps(cfg.options))
    assert type(again) is backend_options() and again == cfg.options
    assert replace(cfg.options, n_ctx=4096).n_ctx == 4096

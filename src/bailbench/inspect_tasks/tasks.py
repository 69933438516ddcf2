"""bailbench's methods as Inspect AI tasks: `inspect eval bailbench/bail_tool|bail_string|bail_prompt`,
and any registered method (methods/registry.py) as `bailbench/bail_method -T method=NAME`.

Each task offers the paper's option the way bailbench offers it to chat APIs (the tool
through the API's tool calling, the string in the system message, the bail prompt as a
user turn after the model's own reply) and scores with bailbench's own readers
(`scoring.py`). Inspect's epochs are bailbench's samples. The task records what
`bailbench import-inspect` needs in the log's metadata (`bailbench`: method, ablation,
dataset and its sha256, prefix).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from inspect_ai import Task, task
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool, ToolDef, ToolParams

from ..chat.types import Message
from ..errors import UserError
from ..methods import BAIL_FIRST, BAIL_METHODS, CONTINUE_FIRST, KIND, OFFERED_METHODS, PROMPT_METHODS, STRING, TOOL
from ..methods.prompt import check_message
from ..methods.registry import Setting, method_spec
from ..methods.wordings import BASELINE, ablations
from .naming import family
from .scoring import bail_prompt_scorer, bail_scorer, bail_string_scorer, bail_tool_scorer

ORDERS = {"bail_first": BAIL_FIRST, "continue_first": CONTINUE_FIRST}
TEMPERATURE = 1.0  # as `bailbench run` (the paper's open-weight runs); --temperature overrides
METADATA_KEY = "bailbench"


class TaskParameterError(UserError, PrerequisiteError):
    """A bad task parameter: Inspect's CLI prints a PrerequisiteError as one line with
    no traceback, and bailbench's own code paths see a UserError."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.message = message


def _checked(fn):
    """Bailbench's UserErrors (unknown ablation, dataset, prefix ...) raised while building
    a task become TaskParameterErrors, so Inspect shows them as one line."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TaskParameterError:
            raise
        except UserError as exc:
            raise TaskParameterError(f"bailbench: {exc}") from None

    return wrapped


def _reject_unknown(task_name: str, unknown: dict[str, Any], known: list[str]) -> None:
    """Inspect only warns about a task parameter a task does not take; a misspelt
    `-T ablaton=...` would silently run the Baseline, so bailbench refuses it."""
    if unknown:
        raise TaskParameterError(f"bailbench/{task_name}: unknown task parameter {', '.join(sorted(unknown))} "
                                 f"(it takes {', '.join(known)})")


def _model_id(model: object) -> str:
    return str(model)


def name_for_model(given: str | None, model: str) -> str:
    """{model_name}: the `model_name` parameter, else the family read from the Inspect
    model name (its last path part first, so a service prefix such as
    `openai-api/llama/...` does not decide)."""
    if given:
        return given
    name = family(model)
    if name is None:
        raise TaskParameterError(f"bailbench: cannot tell what {model} calls itself; "
                                 "pass -T model_name=NAME (e.g. Qwen, Llama, Claude)")
    return name


def _early_model_name(given: str | None, required: bool) -> str | None:
    """Check the model name while the task is built, when Inspect has an active model
    (an unknown family then stops the eval before any request); else it is read per
    sample. The bail prompt has no {model_name}: it never fails for want of one."""
    if given:
        return given
    try:
        from inspect_ai.model._model import active_model

        model = active_model()
    except ImportError:  # a later Inspect: the solver still reads it per sample
        return None
    if model is None:
        return None
    try:
        return name_for_model(None, _model_id(model))
    except TaskParameterError:
        if required:
            raise
        return None


def _inspect_message(m: Message) -> ChatMessage:
    cls = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}[m.role]
    return cls(content=m.content)


def _dataset(dataset: str, limit: int | None, prefix: str | None) -> tuple[MemoryDataset, dict]:
    """bailbench's prompts (stratified over categories, as `bailbench run --limit`), with
    category and subcategory as sample metadata; the sample id is bailbench's prompt id."""
    from ..datasets.jailbreaks import load_prefix
    from ..datasets.records import stratified
    from ..datasets.registry import load_dataset
    from ..runner import RunConfig, _with_prefix
    from ..settings import SettingError, check_value

    try:  # checked as `bailbench run --limit` checks it (0 = every prompt)
        limit = check_value(RunConfig, "limit", limit)
    except SettingError as exc:
        raise TaskParameterError(f"bailbench: {exc.in_file()}") from None
    ds = load_dataset(str(dataset))
    prompts = stratified(ds.prompts, limit)
    prefix_info = None
    if prefix:
        prefix_name, messages = load_prefix(str(prefix))
        prefix_hash = hashlib.sha256(json.dumps([m.as_dict() for m in messages]).encode()).hexdigest()[:16]
        prefix_info = {"name": prefix_name, "sha256": prefix_hash}
        prompts = [_with_prefix(p, messages) for p in prompts]
    samples = [Sample(input=[_inspect_message(m) for m in p.messages], id=p.id,
                      metadata={"category": p.category, "subcategory": p.subcategory}) for p in prompts]
    info = {"dataset": ds.name, "dataset_sha256": ds.sha256, "n_prompts": len(prompts), "limit": limit,
            "prefix": prefix_info, "skipped_rows": dict(ds.skipped)}
    return MemoryDataset(samples, name=ds.name), info


def _check_ablation(task_name: str, method: str, ablation: str) -> None:
    if ablation not in ablations(KIND[method]):
        raise TaskParameterError(f"bailbench/{task_name}: unknown ablation {ablation!r}; list them with "
                                 f"`bailbench prompts --method {method} --list-ablations`")


def _task(task_name: str, method: str, ablation: str, dataset: str, limit: int | None, prefix: str | None,
          model_name: str | None, solvers: list[Solver], scorer, **extra) -> Task:
    _check_ablation(task_name, method, ablation)
    fixed_name = _early_model_name(model_name, required=method in OFFERED_METHODS)
    samples, info = _dataset(dataset, limit, prefix)
    meta = {METADATA_KEY: {"method": method, "ablation": ablation, "model_name": fixed_name, **info, **extra}}
    return Task(dataset=samples, solver=solvers, scorer=scorer, config=GenerateConfig(temperature=TEMPERATURE),
                metadata=meta, version=1)


# -- the option, offered ----------------------------------------------------------------


def _tool_def(name: str, description: str) -> Tool:
    async def execute() -> str:
        return ""  # never run: the tasks generate with tool_calls="none" and read the call

    return ToolDef(execute, name=name, description=description, parameters=ToolParams()).as_tool()


def _add_system(state: TaskState, text: str) -> None:
    """Appended to a system message the conversation already has, as bailbench's API backends do."""
    if state.messages and isinstance(state.messages[0], ChatMessageSystem):
        state.messages[0] = ChatMessageSystem(content=state.messages[0].text + "\n" + text)
    else:
        state.messages.insert(0, ChatMessageSystem(content=text))


def _offered(method: str, ablation: str, model_name: str | None) -> Solver:
    """One reply with a registered method's option offered as `bailbench run` offers it to
    chat APIs: its tools available (the call recorded, not executed), its text in the
    system message. Every task offers through it."""
    offer = method_spec(method).offer
    if offer is None:
        raise TaskParameterError(f"bailbench: {method} is asked after the rollout, not offered")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        chat = offer(Setting(model_name=name_for_model(model_name, _model_id(state.model))), (), ablation)
        if chat.system_addition:
            _add_system(state, chat.system_addition)
        if not chat.tools:
            return await generate(state)
        state.tools = [_tool_def(t.name, t.description) for t in chat.tools]
        state.tool_choice = "auto"
        return await generate(state, tool_calls="none")

    return solve


# The paper's tasks keep the solver names their logs carry; each is the method's own offer.
@solver
def offer_bail_tool(ablation: str = BASELINE, model_name: str | None = None) -> Solver:
    """One reply with the bail tool available; the call is recorded, not executed."""
    return _offered(TOOL, ablation, model_name)


@solver
def offer_bail_string(ablation: str = BASELINE, model_name: str | None = None) -> Solver:
    """One reply with the bail string's invitation in the system message."""
    return _offered(STRING, ablation, model_name)


@solver
def offer_bail(method: str, ablation: str = BASELINE, model_name: str | None = None) -> Solver:
    """One reply with any registered method's option offered."""
    return _offered(method, ablation, model_name)


@solver
def bail_prompt_check(method: str = BAIL_FIRST, ablation: str = BASELINE) -> Solver:
    """The model's own reply, then the well-being check as a user turn, then its answer."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state = await generate(state)
        state.messages.append(ChatMessageUser(content=check_message(method, ablation)))
        return await generate(state)

    return solve


# -- the tasks ----------------------------------------------------------------------------

COMMON = ["ablation", "dataset", "limit", "prefix", "model_name"]


@task
@_checked
def bail_tool(ablation: str = BASELINE, dataset: str = "bailbench", limit: int | None = None,
              prefix: str | None = None, model_name: str | None = None, **unknown: Any) -> Task:
    """The bail tool (paper A.1): a bail is a call to `switchconversation_tool`."""
    _reject_unknown("bail_tool", unknown, COMMON)
    return _task("bail_tool", TOOL, ablation, dataset, limit, prefix, model_name,
                 [offer_bail_tool(ablation, model_name)], bail_tool_scorer(ablation))


@task
@_checked
def bail_string(ablation: str = BASELINE, dataset: str = "bailbench", limit: int | None = None,
                prefix: str | None = None, model_name: str | None = None, **unknown: Any) -> Task:
    """The bail string (paper A.2): a bail is SWITCHCONVERSATION anywhere in the reply."""
    _reject_unknown("bail_string", unknown, COMMON)
    return _task("bail_string", STRING, ablation, dataset, limit, prefix, model_name,
                 [offer_bail_string(ablation, model_name)], bail_string_scorer(ablation))


@task
@_checked
def bail_prompt(order: str = "bail_first", ablation: str = BASELINE, dataset: str = "bailbench",
                limit: int | None = None, prefix: str | None = None, model_name: str | None = None,
                **unknown: Any) -> Task:
    """The bail prompt (paper A.3), read by sampling: 🔄 is a bail, 🟢 a continue, neither unknown."""
    _reject_unknown("bail_prompt", unknown, ["order"] + COMMON)
    if order not in ORDERS:
        raise TaskParameterError(f"bailbench/bail_prompt: unknown order {order!r}; use {' or '.join(ORDERS)}")
    method = ORDERS[order]
    return _task("bail_prompt", method, ablation, dataset, limit, prefix, model_name,
                 [bail_prompt_check(method, ablation)], bail_prompt_scorer(method), order=order)


@task
@_checked
def bail_method(method: str = "", ablation: str = BASELINE, dataset: str = "bailbench", limit: int | None = None,
                prefix: str | None = None, model_name: str | None = None, **unknown: Any) -> Task:
    """Any registered bail method, offered (or asked after the rollout) and read as `bailbench
    run` does: `-T method=NAME`."""
    _reject_unknown("bail_method", unknown, ["method"] + COMMON)
    if method not in BAIL_METHODS:
        raise TaskParameterError(f"bailbench/bail_method: unknown method {method!r}; use -T method= one of "
                                 f"{', '.join(BAIL_METHODS)}")
    solve = bail_prompt_check(method, ablation) if method in PROMPT_METHODS else offer_bail(method, ablation, model_name)
    return _task("bail_method", method, ablation, dataset, limit, prefix, model_name, [solve],
                 bail_scorer(method, ablation))

"""Jailbreak prefixes (paper §2.1): a conversation put before every prompt, in which the
model has already complied with a jailbreak.

The paper's 18 prefixes are known by name. They live in the authors' evaluation code, so
on first use we download that file at the pinned commit, read the prefix literals out of
it (never executing it), and cache them as `jailbreak_prefixes.json`; a data folder that
already holds that file is used as is. Either way the content must match a pinned hash.
A user's own prefix is a JSON file: a list of messages, or {"messages": [...]}.
"""

from __future__ import annotations

import ast
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

from ..chat.types import Message
from ..errors import UserError
from ..paths import cache_dir
from ..safe_io import make_dir, read_json, write_text
from .released import COMMIT, data_dir

FILENAME = "jailbreak_prefixes.json"
SOURCE_URL = f"https://raw.githubusercontent.com/Phylliida/BailStudy/{COMMIT}/bailstudy/bailBenchEval.py"
# sha256 of json.dumps(prefixes, sort_keys=True, ensure_ascii=False)
CANONICAL_SHA256 = "f511f698d18b45f35aaaff0c40dfd78f5de608b7936287ae991895187137ccd3"


def canonical_sha256(prefixes: dict) -> str:
    return hashlib.sha256(json.dumps(prefixes, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def extract_prefixes(source: str) -> dict[str, list[dict]]:
    """`elif evalType == "NAME": evalInfo["prefixMessages"] = [...]` literals of the authors' code."""
    prefixes: dict[str, list[dict]] = {}
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "evalType"
                and len(node.test.comparators) == 1 and isinstance(node.test.comparators[0], ast.Constant)
                and isinstance(name := node.test.comparators[0].value, str)):
            continue
        for stmt in node.body:
            if (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript)
                    and isinstance(stmt.targets[0].slice, ast.Constant)
                    and stmt.targets[0].slice.value == "prefixMessages"):
                messages = ast.literal_eval(stmt.value)
                if messages:
                    prefixes[name] = messages
    return prefixes


def validate(messages, where: str) -> tuple[Message, ...]:
    """A prefix alternates user/assistant, starting with the user and ending with the reply."""
    if isinstance(messages, dict):
        messages = messages.get("messages")
    ok = isinstance(messages, list) and len(messages) >= 2 and len(messages) % 2 == 0 and all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") == ("user", "assistant")[i % 2]
        for i, m in enumerate(messages))
    if not ok:
        raise UserError(f"{where}: a prefix must be a JSON list of messages alternating user/assistant, starting "
                        "with the user and ending with the assistant's reply")
    return tuple(Message(m["role"], m["content"]) for m in messages)


def _fetch() -> dict:
    try:
        with urllib.request.urlopen(SOURCE_URL, timeout=60) as resp:
            source = resp.read().decode("utf-8")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UserError(f"could not download the jailbreak prefixes from {SOURCE_URL} ({exc}); set "
                        f"BAILBENCH_DATA_DIR to a folder holding {FILENAME}, or pass --prefix FILE") from exc
    return extract_prefixes(source)


def paper_prefixes(explicit_dir: str | Path | None = None) -> dict[str, list[dict]]:
    where: Path | str
    for folder in (data_dir(explicit_dir), cache_dir()):
        if folder is not None and (folder / FILENAME).is_file():
            where = folder / FILENAME
            prefixes = read_json(where, "the jailbreak prefixes", "delete it to download them again, or pass "
                                                                  "--prefix FILE")
            break
    else:
        prefixes, where = _fetch(), SOURCE_URL
        if canonical_sha256(prefixes) == CANONICAL_SHA256:
            write_text(make_dir(cache_dir()) / FILENAME, json.dumps(prefixes, ensure_ascii=False, indent=1))
    if not isinstance(prefixes, dict) or canonical_sha256(prefixes) != CANONICAL_SHA256:
        raise UserError(f"{where}: the jailbreak prefixes do not match the paper's "
                        f"({len(prefixes) if isinstance(prefixes, dict) else 'no'} prefixes found); "
                        f"delete it to download them again, or pass --prefix FILE")
    return prefixes


def load_prefix(spec: str, explicit_dir: str | Path | None = None) -> tuple[str, tuple[Message, ...]]:
    """(name, messages) for `--prefix NAME|FILE`."""
    path = Path(spec).expanduser()
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise UserError(f"prefix file {path} does not exist")
        data = read_json(path, "a prefix file", "write a JSON list of messages alternating user and assistant")
        return path.stem, validate(data, str(path))
    prefixes = paper_prefixes(explicit_dir)
    if spec not in prefixes:
        raise UserError(f"unknown prefix {spec!r}: use one of {', '.join(sorted(prefixes))}, or a JSON file")
    return spec, validate(prefixes[spec], spec)

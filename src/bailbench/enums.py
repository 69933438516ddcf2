"""The one enum base of the package, outside any package that uses it (so a module of
`methods` can import it without importing the package it belongs to)."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """Members are their strings everywhere (comparison, hashing, f-strings, JSON, SQLite),
    so stores and summaries hold plain text; as enum.StrEnum, which Python 3.10 lacks."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)

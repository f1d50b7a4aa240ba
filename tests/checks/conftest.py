"""Fixtures shared by the check kinds' tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from checks.base import Resources


@pytest.fixture
async def resources():
    """Shared probe resources (HTTP clients, ...), closed after the test."""
    res = Resources()
    yield res
    await res.aclose()


def toml_value(value: Any) -> str:
    """A TOML literal for a test option (JSON strings and numbers are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)

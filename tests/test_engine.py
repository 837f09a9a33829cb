"""The engine's client side without a JVM: what travels, what stays, what a task is told when
the engine is not there (the engine itself, on a cluster: tests/test_cluster.py)."""

from __future__ import annotations

import pytest

from gridrisk import engine
from gridrisk.config import load_profile
from gridrisk.engine import URL_ENV, Client, EngineError, decode, encode, routed


def test_a_profile_and_plain_arguments_travel_and_come_back_equal(tmp_path):
    profile = load_profile("local", env={}, workdir=str(tmp_path))
    sent = encode([profile, {"datasets": ("persons", "addresses"), "full": True, "late": frozenset()}])
    assert decode(sent) == [profile, {"datasets": ["persons", "addresses"], "full": True, "late": []}]


def test_a_callback_cannot_travel():
    with pytest.raises(TypeError, match="cannot send a function"):
        encode([lambda: None])


@routed
def _here(x: int, on_progress=None) -> dict[str, int]:
    if on_progress is not None:
        on_progress(x)
    return {"x": x}


def test_without_an_engine_a_routed_function_runs_in_this_process(monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    assert _here(3) == {"x": 3}
    assert engine.ROUTED["test_engine._here"] is not _here  # the engine runs the undecorated function


def test_a_call_with_a_progress_callback_runs_here_even_with_an_engine(monkeypatch):
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")  # nothing listens there: a call would fail
    seen: list[int] = []
    assert _here(4, on_progress=seen.append) == {"x": 4}
    assert seen == [4]


def test_an_engine_that_is_not_running_is_named_with_the_fix(monkeypatch):
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")
    with pytest.raises(EngineError, match=r"no engine at http://127.0.0.1:9 .*make engine"):
        _here(5)


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "https://engine:443", "http://engine"])
def test_an_engine_address_must_be_http_host_port(url):
    with pytest.raises(EngineError, match="is not an engine address"):
        Client(url, "t")

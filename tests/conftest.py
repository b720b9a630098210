"""Shared fixtures: a plain HTTP object for provider modules, and the simulator on loopback."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class PlainHTTP:
    """The HTTP protocol providers expect, without cache or budgets (for provider tests)."""

    def __init__(self):
        self.session = requests.Session()
        self.calls: list[tuple[str, dict]] = []

    def get(self, url, *, params=None, headers=None, kind="quote", weight=1, expire_after=None):
        self.calls.append((url, dict(params or {})))
        return self.session.get(url, params=params, headers=headers, timeout=(3, 8))


@pytest.fixture
def plain_http():
    return PlainHTTP()


@pytest.fixture(scope="session")
def sim_server():
    """One simulator for the whole test session (no latency so tests stay fast)."""
    from sim import Simulator

    sim = Simulator(latency_scale=0.0, seed=7)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(sim_server, monkeypatch):
    """The shared simulator, reset to healthy, with every <NAME>_BASE_URL pointing at it."""
    sim_server.reset()
    for key, value in sim_server.env().items():
        monkeypatch.setenv(key, value)
    yield sim_server
    sim_server.reset()

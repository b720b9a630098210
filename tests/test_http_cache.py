"""The HTTP cache stays bounded: expired answers are pruned, the file is kept under
HTTP_CACHE_MAX_MB (the answers that expire first go first), and a batch that names its coins is
not stored at all (every subset would be a new row)."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import requests

from providers.base import KIND_QUOTES
from routing.persistence import Persistence
from routing.session import DEFAULT_MAX_MB, ProviderHTTP, build_session, max_cache_bytes


def session_in(tmp_path, **kw):
    return build_session(Persistence(tmp_path / "data"), prune_every_s=3600, **kw)


def test_prune_drops_expired_answers_and_keeps_the_file_under_the_cap(sim, tmp_path):
    session = session_in(tmp_path)
    try:
        cache = session.cache
        resp = requests.get(f"{sim.url('binance')}/api/v3/klines",
                            params={"symbol": "BTCUSDT", "interval": "1m", "limit": 500},
                            timeout=10)
        assert resp.status_code == 200 and len(resp.content) > 20_000
        now = datetime.now(timezone.utc)
        for i in range(40):
            cache.save_response(resp, f"expired-{i}", now - timedelta(seconds=1))
        for i in range(60):
            cache.save_response(resp, f"fresh-{i:02d}", now + timedelta(minutes=10 + i))
        cap = 600_000
        assert os.path.getsize(cache.db_path) > 2 * cap

        done = cache.prune(cap)

        keys = set(cache.responses.keys())
        assert not any(k.startswith("expired-") for k in keys)
        assert done["expired"] == 40 and done["evicted"] > 0 and done["vacuumed"]
        assert os.path.getsize(cache.db_path) <= cap
        kept = sorted(k for k in keys if k.startswith("fresh-"))
        assert kept and kept == [f"fresh-{i:02d}" for i in range(60 - len(kept), 60)]
    finally:
        session.close()


def test_a_batch_that_names_its_coins_is_not_stored_but_all_tickers_is(sim, tmp_path):
    session = session_in(tmp_path)
    try:
        http = ProviderHTTP(session, "test")
        base = sim.url("binance")
        http.get(f"{base}/api/v3/ticker/24hr", kind=KIND_QUOTES,
                 params={"symbols": '["BTCUSDT","ETHUSDT"]'})
        assert len(session.cache.responses) == 0
        http.get(f"{sim.url('okx')}/api/v5/market/tickers", kind=KIND_QUOTES,
                 params={"instType": "SPOT"})
        assert len(session.cache.responses) == 1
    finally:
        session.close()


def test_the_cap_comes_from_http_cache_max_mb():
    assert max_cache_bytes({}) == DEFAULT_MAX_MB * 2**20
    assert max_cache_bytes({"HTTP_CACHE_MAX_MB": "5"}) == 5 * 2**20
    assert max_cache_bytes({"HTTP_CACHE_MAX_MB": "lots"}) == DEFAULT_MAX_MB * 2**20
    assert max_cache_bytes({"HTTP_CACHE_MAX_MB": "-1"}) == DEFAULT_MAX_MB * 2**20

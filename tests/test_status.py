"""routing/status.py: the one function that decides a provider's state and the numbers shown with
it, the banner over all providers, and the words people read (sanitized, times as clock times).
Pure functions, asserted with values."""
from __future__ import annotations

import re
import time

import pytest

from routing import status

NOW = 1_795_942_555.0       # 2026-11-29 ... UTC
HEALTHY_GATE = {"blocked_until": 0.0, "block_state": "", "block_reason": "", "open_until": 0.0,
                "budget_remaining": 10, "budget_refill_s": 0.0}


def outcomes(ok: int, failed: int, *, start: float = NOW - 300) -> list[tuple[float, bool]]:
    """`ok` successes then `failed` failures, one a second, ending before NOW."""
    seq = [True] * ok + [False] * failed
    return [(start + i, v) for i, v in enumerate(seq)]


def verdict(outs, gate=None, **kw) -> dict:
    args = dict(label="Kraken", enabled=True, outcomes=outs, gate=gate or HEALTHY_GATE,
                last_error=None, last_success=None, now=NOW)
    args.update(kw)
    return status.assess(**args)


def test_all_recent_calls_failing_is_down_never_online():
    v = verdict(outcomes(0, 2), last_error="HTTP 500")
    assert verdict(outcomes(0, 1))["reason"] == "the last call failed"
    assert verdict(outcomes(1, 0))["reason"] == "the last call succeeded"
    assert v["state"] == "down" and v["success_rate"] == 0.0
    assert v["recent_calls"] == 2 and v["recent_failures"] == 2
    assert v["reason"] == "2 of the last 2 calls failed (HTTP 500)"
    assert v["can_be_fastest"] is False


def test_success_rate_under_90_percent_is_degraded():
    v = verdict(outcomes(5, 1))                    # 83 %: the Bybit case
    assert v["state"] == "degraded" and v["success_rate"] == pytest.approx(0.8333, abs=1e-4)
    assert v["reason"].startswith("1 of the last 6 calls failed")
    assert verdict(outcomes(9, 1))["state"] == "online"          # 90 % is online
    assert verdict(outcomes(9, 1))["reason"] == "9 of the last 10 calls succeeded"


def test_a_venue_whose_quotes_disagree_is_degraded_with_the_outlier_reason():
    why = "BTC quote outlier: 5.0 % above the median of 6 venues"
    v = verdict(outcomes(19, 1), gate={**HEALTHY_GATE, "deviation": why})
    assert (v["state"], v["reason"]) == ("degraded", why)      # 95 % would be online
    assert v["can_be_fastest"] is False
    v = verdict(outcomes(3, 3), gate={**HEALTHY_GATE, "deviation": why})
    assert (v["state"], v["reason"]) == ("degraded", why)      # the outlier's words, not counts
    assert verdict(outcomes(0, 2), gate={**HEALTHY_GATE, "deviation": why})["state"] == "down"
    assert verdict(outcomes(19, 1), gate={**HEALTHY_GATE, "deviation": ""})["state"] == "online"
    paused = {**HEALTHY_GATE, "deviation": why, "open_until": NOW + 60}
    assert verdict(outcomes(0, 3), gate=paused)["state"] == "down"    # the breaker comes first


def test_only_the_last_20_calls_of_the_last_hour_count():
    old_failures = outcomes(0, 30, start=NOW - 5000)             # more than an hour ago
    assert verdict(old_failures)["state"] == "idle"
    v = verdict(outcomes(0, 10) + outcomes(20, 0, start=NOW - 100))   # 10 old fails pushed out
    assert v["state"] == "online" and v["recent_calls"] == 20 and v["success_rate"] == 1.0


def test_never_called_is_idle_with_one_wording():
    v = verdict([])
    assert (v["state"], v["state_label"], v["reason"]) == ("idle", "idle", "not used yet")
    assert v["success_rate"] is None and v["recent_calls"] == 0
    v = verdict([], last_success=NOW - 7200)
    assert v["state"] == "idle"
    assert v["reason"] == "no calls in the last hour; last answer at " + status.utc_clock(NOW - 7200)


def test_rate_limited_names_the_provider_and_a_clock_time():
    gate = dict(HEALTHY_GATE, blocked_until=NOW + 125, block_state="rate_limited",
                block_reason="rate limited: HTTP 429")
    v = verdict(outcomes(3, 1), gate, label="Binance")
    assert v["state"] == "rate_limited" and v["until"] == NOW + 125
    assert v["reason"] == (f"rate limited by Binance until {status.utc_clock(NOW + 125)} "
                           "(in 2 min)")
    gate["block_reason"] = "IP banned: Way too much request weight used"
    assert verdict([], gate, label="Binance")["reason"].startswith("IP banned by Binance until")
    gate["blocked_until"] = NOW + 14
    assert verdict([], gate, label="Binance")["reason"] == "IP banned by Binance for 14 s more"


def test_open_breaker_is_down_and_half_open_is_degraded():
    gate = dict(HEALTHY_GATE, open_until=NOW + 15)
    v = verdict(outcomes(2, 3), gate, last_error="HTTP 502")
    assert v["state"] == "down" and v["until"] == NOW + 15
    assert v["reason"] == "3 of the last 5 calls failed (HTTP 502); paused for 15 s more"
    half_open = dict(HEALTHY_GATE, open_until=NOW - 1)
    assert verdict(outcomes(10, 0), half_open)["state"] == "degraded"


def test_spent_budget_is_cooldown_and_disabled_says_why():
    gate = dict(HEALTHY_GATE, budget_remaining=0, budget_refill_s=4.2)
    v = verdict(outcomes(5, 0), gate, label="OKX")
    assert v["state"] == "cooldown"
    assert v["reason"] == "our own request budget for OKX is spent; it refills in 4 s"
    v = verdict([], {}, enabled=False, disabled_reason="needs COINCAP_API_KEY")
    assert (v["state"], v["reason"]) == ("disabled", "needs COINCAP_API_KEY")


@pytest.mark.parametrize("raw, words", [
    ("IP banned: Way too much request weight used; IP banned until 1796094597170.",
     "IP banned: Way too much request weight used; IP banned until "
     + status.utc_clock(1796094597.170) + "."),
    ("EService:Throttled: 1796094655", "throttled until " + status.utc_clock(1796094655)),
    ("unexpected body (KeyError: 'price')", "the answer did not have the expected shape"),
    ("HTTP 502: HTML page: 502 Bad Gateway nginx/1.25",
     "HTTP 502; answered with a web page instead of data"),
    ("<html><head><title>Attention Required! | Cloudflare</title></head></html>",
     "answered with a web page instead of data"),
    ("expected JSON, got text/html; charset=UTF-8: '<!DOCTYPE html>\n<html lang=\"en\">",
     "answered with a web page instead of data"),
    ("HTTP 500", "HTTP 500"),
    ("volume 12345678901234 is fine", "volume 12345678901234 is fine"),
])
def test_humanize_sanitizes_provider_text(raw, words):
    assert status.humanize(raw, NOW) == words


def test_humanized_text_has_no_epoch_no_markup_no_exception_name():
    text = status.humanize("<b>slow</b> down until 1796094597 or 1796094597170 " + "x" * 300,
                           NOW)
    assert len(text) <= 160 and text.endswith("…") and text.startswith("slow down until ")
    assert not re.search(r"\d{10,}", text) and "<" not in text
    text = status.humanize("parse failed: ValueError: could not convert 'x'", NOW)
    assert text == "parse failed: the answer did not have the expected shape"


def test_all_sources_down_message():
    msg = status.outage_message("quote BTC", 9, data_at=NOW - 130, retry_in_s=14, now=NOW)
    assert msg == (f"All 9 price sources are failing right now; showing prices from "
                   f"{status.utc_clock(NOW - 130)} (2 min old). Next retry in 14 s.")
    empty = status.outage_message("quote BTC", 9, data_at=None, retry_in_s=14, now=NOW)
    assert empty == ("All 9 price sources are failing right now; there is nothing saved to "
                     "show yet. Next retry in 14 s.")
    assert status.outage_message("candles BTC 1h", 1, data_at=None, retry_in_s=None,
                                 now=NOW) == ("The candle source is failing right now; there is "
                                              "nothing saved to show yet.")
    for text in (msg, empty):
        assert len(text) < 240 and not re.search(r"\d{10,}", text)


def rows(*states: tuple[str, str, float | None]) -> list[dict]:
    return [{"name": n.lower(), "label": n, "state": s, "success_rate": r,
             "state_label": status.STATES[s]} for n, s, r in states]


def test_banner_is_operational_only_without_problems():
    ok = status.overall(rows(("Binance", "online", 1.0), ("OKX", "idle", None),
                             ("Coinbase", "cooldown", 1.0), ("CoinCap", "disabled", None)))
    assert ok == {"health": "online", "summary": "All systems operational", "enabled": 3,
                  "online": 1, "problems": 0}
    bad = status.overall(rows(("Binance", "online", 1.0), ("Bybit", "degraded", 0.8333),
                              ("Kraken", "down", 0.0)))
    assert bad["health"] == "partial" and bad["problems"] == 2
    assert bad["summary"] == ("2 of 3 providers have problems: Bybit (83 % of recent calls "
                              "succeeded), Kraken (down)")
    one = status.overall(rows(*[(f"P{i}", "online", 1.0) for i in range(9)],
                              ("Bybit", "degraded", 0.83)))
    assert one["health"] == "degraded"


def test_fastest_ranks_only_providers_answering_recently():
    stats = [
        {"name": "okx", "can_be_fastest": False, "latency_ms": {"p50": 1.4}},      # failing fast
        {"name": "binance", "can_be_fastest": True, "latency_ms": {"p50": 52.0}},
        {"name": "kraken", "can_be_fastest": True, "latency_ms": {"p50": 80.0}},
        {"name": "bybit", "can_be_fastest": True, "latency_ms": {"p50": None}},
    ]
    assert status.fastest(stats)["name"] == "binance"
    assert status.fastest(stats[:1]) is None


def test_error_list_groups_by_provider_and_kind_with_counts():
    errors = [{"time": NOW - 30 + i, "provider": p, "kind": k, "message": f"m{i}", "action": "a"}
              for i, (p, k) in enumerate([("okx", "http"), ("okx", "http"), ("kraken", "timeout"),
                                          ("okx", "malformed")])]
    grouped = status.group_errors(errors)
    assert [(g["provider"], g["type"], g["count"]) for g in grouped] == [
        ("okx", "malformed", 1), ("kraken", "timeout", 1), ("okx", "http", 2)]
    assert sum(g["count"] for g in grouped) == len(errors)
    assert grouped[-1]["message"] == "m1"


def test_time_words():
    assert status.in_words(14.2) == "14 s" and status.in_words(130) == "2 min"
    assert status.in_words(3900) == "1 h 5 min"
    assert status.utc_clock(NOW) == time.strftime("%H:%M UTC", time.gmtime(NOW))

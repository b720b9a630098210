"""One verdict per provider, and the words people read about it.

`assess()` turns a provider's measurements (its recent call outcomes, its cooldown, breaker and
budget) into its state and every number shown about that state. The Providers tab, the status
drawer, `/api/system/status` and `/provider_stats` all show what it returns, so they agree by
construction. `humanize()` makes a provider's error text readable: no markup, no exception class
names, no raw epoch numbers. Pure functions, no Gradio.
"""
from __future__ import annotations

import re
import time
from typing import Iterable

RECENT_CALLS = 20            # the recent success rate is over at most this many calls...
RECENT_WINDOW_S = 3600.0     # ...made in the last hour
ERROR_WINDOW_S = 3600.0      # the error list and every error count cover the last hour
ONLINE_MIN_RATE = 0.9        # below this recent success rate a provider is degraded, not online
NOT_HEALTH_KINDS = frozenset({"unknown_symbol", "unsupported"})   # the request's fault, not theirs

# Every state, in the order a reader should worry about them, with the word shown for it.
STATES = {
    "down": "down", "rate_limited": "rate limited", "degraded": "degraded",
    "cooldown": "cooldown", "online": "online", "idle": "idle", "disabled": "disabled",
}
# States that count as a problem: the overall banner is not "operational" while one exists.
PROBLEM_STATES = frozenset({"down", "rate_limited", "degraded"})
# States in which the provider can be asked right now or soon without a known fault.
USABLE_STATES = frozenset({"online", "degraded", "cooldown", "idle"})


# -- time words --------------------------------------------------------------------------------
def utc_clock(epoch: float) -> str:
    """03:12 UTC: a time of day people read at a glance."""
    return time.strftime("%H:%M UTC", time.gmtime(epoch))


def in_words(seconds: float) -> str:
    """14 s, 2 min, 1 h 5 min: how long, rounded the way people say it."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{round(s / 60):.0f} min"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def until_words(epoch: float, now: float) -> str:
    """"until 03:12 UTC (in 2 min)", or "for 14 s more" when under a minute away."""
    left = epoch - now
    if left < 60:
        return f"for {in_words(left)} more"
    return f"until {utc_clock(epoch)} (in {in_words(left)})"


# -- sanitizing provider text -----------------------------------------------------------------
_EPOCH = re.compile(r"(?<![\d.])(\d{13}|\d{10})(?:\.\d+)?(?![\d])")
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*(>|$)", re.S | re.I)
_EXC = re.compile(r"\(?\b(?:[A-Z][A-Za-z]*(?:Error|Exception)|KeyError|StopIteration)\b:?[^);]*\)?")
_KRAKEN = re.compile(r"\bE(?:Service|API|General|Query):\s*")


def _epoch_words(match: re.Match, now: float) -> str:
    raw = int(match.group(1))
    epoch = raw / 1000.0 if len(match.group(1)) == 13 else float(raw)
    if abs(epoch - now) > 10 * 365 * 86400:     # not a time after all (an id, a volume...)
        return match.group(0)
    return utc_clock(epoch)


def humanize(text: object, now: float | None = None, limit: int = 160) -> str:
    """A provider's error text for people: markup and error-page bodies dropped, exception class
    names replaced, epoch numbers written as UTC clock times, one line, at most `limit` chars."""
    now = time.time() if now is None else now
    s = str(text or "")
    page = re.search(r"<html|<!doctype|<head|<title|<body|HTML page:", s, re.I)
    if page:      # an error page: keep what we said before it, never the page's own words
        s = re.sub(r"expected JSON, got [^:]*:?\s*['\"]?\s*$", "", s[: page.start()])
        s = re.sub(r"\s+", " ", s).strip(" :;,-'\"")
        s = (s + "; " if s else "") + "answered with a web page instead of data"
    s = _TAGS.sub(" ", s)
    if _EXC.search(s):
        s = _EXC.sub("", s).strip(" :;,-")
        s = (s + ": " if s else "") + "the answer did not have the expected shape"
        s = s.replace("unexpected body: ", "")
    s = _KRAKEN.sub("", s)
    s = re.sub(r"\bThrottled:\s*", "throttled until ", s)
    s = _EPOCH.sub(lambda m: _epoch_words(m, now), s)
    s = re.sub(r"\s+", " ", s).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


# -- the verdict ------------------------------------------------------------------------------
def recent_outcomes(outcomes: Iterable[tuple[float, bool]], now: float) -> list[bool]:
    """The last RECENT_CALLS outcomes of the last hour, oldest first."""
    recent = [ok for t, ok in outcomes if now - t <= RECENT_WINDOW_S]
    return recent[-RECENT_CALLS:]


def assess(*, label: str, enabled: bool, outcomes: Iterable[tuple[float, bool]],
           gate: dict, last_error: str | None, last_success: float | None,
           now: float, disabled_reason: str | None = None) -> dict:
    """The state of one provider and the numbers and sentence that go with it.

    `outcomes` are (epoch, succeeded) of its calls, oldest first. `gate` holds its cooldown
    (blocked_until, block_state, block_reason), breaker (open_until, probe_in_flight) and budget
    (budget_remaining, budget_refill_s) and, while its quotes disagree with the other venues,
    deviation: the outlier reason, shown as degraded even though it answers. Returns state, state_label, reason (one plain sentence),
    until (epoch the state ends, or None), success_rate (0..1 over the recent calls, or None),
    recent_calls, recent_failures, can_be_fastest."""
    recent = recent_outcomes(outcomes, now) if enabled else []
    calls, ok = len(recent), sum(recent)
    rate = ok / calls if calls else None
    fails = calls - ok
    error = humanize(last_error, now, 120) if last_error else ""
    failed_words = (f"{fails} of the last {calls} calls failed" if calls > 1
                    else "the last call failed") + (f" ({error})" if error else "")
    blocked_until = gate.get("blocked_until") or 0.0
    open_until = gate.get("open_until") or 0.0
    until = None
    if not enabled:
        state, reason = "disabled", disabled_reason or "not enabled"
    elif now < blocked_until and gate.get("block_state") == "disabled":
        state, until = "disabled", blocked_until
        reason = (f"{label} refused access ({humanize(gate.get('block_reason'), now, 80)}); "
                  f"trying again {until_words(blocked_until, now)}")
    elif now < blocked_until:
        state, until = "rate_limited", blocked_until
        banned = "ban" in str(gate.get("block_reason") or "").lower()
        reason = (f"{'IP banned' if banned else 'rate limited'} by {label} "
                  f"{until_words(blocked_until, now)}")
    elif now < open_until:
        state, until = "down", open_until
        reason = (f"{failed_words}; paused {until_words(open_until, now)}" if calls
                  else f"paused after repeated failures {until_words(open_until, now)}")
    elif calls and ok == 0:
        state = "down"
        reason = failed_words + (" ; one trial call is allowed now" if open_until else "")
        reason = reason.replace(" ;", ";")
    elif gate.get("deviation"):          # it answers, but its price is off: never "online"
        state, reason = "degraded", humanize(gate["deviation"], now, 160)
    elif (gate.get("budget_remaining") or 0) <= 0 and "budget_remaining" in gate:
        state, refill = "cooldown", gate.get("budget_refill_s") or 0.0
        until = now + refill if refill else None
        reason = f"our own request budget for {label} is spent; it refills in {in_words(refill)}"
    elif calls and rate < ONLINE_MIN_RATE:
        state, reason = "degraded", failed_words
    elif open_until:
        state, reason = "degraded", "recovering: one trial call after repeated failures"
    elif calls:
        state = "online"
        reason = (f"{ok} of the last {calls} calls succeeded" if calls > 1
                  else "the last call succeeded")
    else:
        state = "idle"
        reason = ("not used yet" if not last_success else
                  f"no calls in the last hour; last answer at {utc_clock(last_success)}")
    return {"state": state, "state_label": STATES[state], "reason": reason, "until": until,
            "success_rate": None if rate is None else round(rate, 4),
            "recent_calls": calls, "recent_failures": fails,
            "can_be_fastest": state == "online" and ok > 0}


def overall(rows: list[dict]) -> dict:
    """The banner over all enabled providers: health (online, degraded, partial, offline) and one
    sentence naming the providers with a problem."""
    enabled = [r for r in rows if r.get("state") != "disabled"]
    n = len(enabled)
    problems = [r for r in enabled if r.get("state") in PROBLEM_STATES]
    usable = sum(r.get("state") in USABLE_STATES for r in enabled)
    if not n:
        health = "offline"
    elif not problems:
        health = "online"
    else:
        share = usable / n
        health = "degraded" if share >= 0.7 else "partial" if share >= 0.5 else "offline"
    if not n:
        summary = "No provider is enabled"
    elif not problems:
        summary = "All systems operational"
    else:
        named = ", ".join(f"{r.get('label') or r['name']} ({_short(r)})" for r in problems[:4])
        more = f" and {len(problems) - 4} more" if len(problems) > 4 else ""
        summary = f"{len(problems)} of {n} providers have problems: {named}{more}"
    return {"health": health, "summary": summary, "enabled": n,
            "online": sum(r.get("state") == "online" for r in enabled),
            "problems": len(problems)}


def _short(row: dict) -> str:
    state = row.get("state")
    rate = row.get("success_rate")
    if state == "degraded" and rate is not None:
        return f"{rate * 100:.0f} % of recent calls succeeded"
    return STATES.get(state, str(state))


def fastest(rows: list[dict]) -> dict | None:
    """The quickest provider among those that answered successfully recently (state online)."""
    timed = [r for r in rows if r.get("can_be_fastest")
             and (r.get("latency_ms") or {}).get("p50") is not None]
    return min(timed, key=lambda r: r["latency_ms"]["p50"]) if timed else None


def group_errors(errors: Iterable[dict]) -> list[dict]:
    """The error list: one row per (provider, kind), newest first, counts from the same records
    as each provider's errors_last_hour."""
    grouped: dict[tuple[str, str], dict] = {}
    for e in errors:
        row = grouped.setdefault((e["provider"], e["kind"]), {
            "provider": e["provider"], "type": e["kind"], "count": 0})
        row.update(count=row["count"] + 1, message=e["message"], action=e["action"],
                   last_seen=e["time"])
    return sorted(grouped.values(), key=lambda r: -r["last_seen"])


# What a request is about (NoProviderAvailable.what starts with the router's kind) -> the words
# for its sources and for what is shown instead.
_TOPICS = {"quote": ("price", "prices"), "quotes": ("price", "prices"),
           "candles": ("candle", "candles"), "top": ("market-cap", "top coins"),
           "fear": ("Fear & Greed", "the index"), "news": ("news", "headlines")}


def topic(what: str) -> tuple[str, str]:
    """("price", "prices") for "quote BTC"; the noun for the sources and what is shown."""
    return _TOPICS.get(what.split(" ", 1)[0], ("data", "data"))


def outage_message(what: str, sources: int, *, data_at: float | None, retry_in_s: float | None,
                   now: float) -> str:
    """One sentence for when every source of `what` (a router request such as "quote BTC") is
    failing: what is shown instead, and when the next try is. Example: "All 9 price sources are
    failing right now; showing prices from 03:10 UTC (2 min old). Next retry in 14 s." """
    noun, shown = topic(what)
    head = (f"All {sources} {noun} sources are failing right now" if sources > 1
            else f"The {noun} source is failing right now")
    if data_at:
        body = f"; showing {shown} from {utc_clock(data_at)} ({in_words(now - data_at)} old)."
    else:
        body = "; there is nothing saved to show yet."
    retry = f" Next retry in {in_words(retry_in_s)}." if retry_in_s is not None else ""
    return head + body + retry

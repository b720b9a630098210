"""The status drawer on the right: the six sections users know from the old dashboard, each drawn
from one service.system_status() call, refreshed every few seconds only while the drawer is open.
"""
from __future__ import annotations

import time
from typing import Any

import gradio as gr

from routing.service import MarketService

from . import formatting as fmt
from .common import (LIVE_HEAD, LOADING, REFRESHING, age_html, attempt, esc, keep, live,
                     message)

REFRESH_EVERY_S = 4.0
SECTIONS = ["All Providers", "AI Models", "Infrastructure", "Cache & Resources", "Recent Errors",
            "Performance"]
HEALTH_BADGE = {"online": ("ok", "All systems operational"), "degraded": ("warn", "Degraded"),
                "partial": ("warn", "Partial outage"), "offline": ("error", "Offline")}


def _dot(colour: str, title: str = "") -> str:
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="dot" style="background:{colour}"{tip}></span>'


def _kv(name: str, value: str, colour: str | None = None) -> str:
    dot = _dot(colour) if colour else '<span class="dot dot-none"></span>'
    return (f'<div class="drawer-kv">{dot}<span class="drawer-name">{esc(name)}</span>'
            f'<span class="drawer-detail">{esc(value)}</span></div>')


GREEN, AMBER, RED, GREY, BLUE = "#16a34a", "#eab308", "#dc2626", "#64748b", "#6366f1"


def provider_line(p: dict, now: float | None = None) -> str:
    """One provider: a state dot, the name and its headline (latency when online, else the state
    in words), then the backend's own sentence about that state. Nothing is re-derived here: the
    state, reason and success rate are the ones /api/system/status and /provider_stats show."""
    state = p.get("status") or "unknown"
    name = p.get("label") or p.get("name", "?")
    word = p.get("state_label") or state.replace("_", " ")
    reason = fmt.plain(p.get("reason") or "", 160)
    rate = p.get("success_rate")
    if state == "online":
        head = fmt.ms(p.get("response_time_ms"))
        calls = p.get("recent_calls") or 0
        success = (f"{rate:.0f}% of {_plural(calls, 'recent call')}" if rate is not None
                   else fmt.DASH)
        detail = f"Success: {success} | Last: {fmt.ago(p.get('last_check'), now)}"
    else:
        head = word[:1].upper() + word[1:]
        code = p.get("status_code")
        if state == "rate_limited" and code in (429, 418, 403):
            head += f" ({code})"
        detail = reason
    errors = p.get("errors_last_hour") or 0
    if errors:
        detail += f" | {_plural(errors, 'error')} in the last hour"
    if p.get("outliers"):
        detail += f" | Outliers: {p['outliers']}"
    colour = fmt.STATE_COLOR.get(state, GREY)
    return (f'<div class="drawer-provider" data-state="{esc(state)}">'
            f'{_dot(colour, word)}'
            f'<span class="drawer-name">{esc(name)}</span>'
            f'<span class="drawer-head-value">{esc(head)}</span>'
            f'<span class="drawer-sub">{esc(detail)}</span></div>')


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def providers_section(status: dict) -> str:
    rows = status.get("providers_detailed") or []
    if not rows:
        return message("No providers configured", "warn")
    now = status.get("timestamp")
    return "".join(provider_line(p, now) for p in rows)


def ai_section(status: dict) -> str:
    ai = status.get("ai_models") or {}
    state = ai.get("state") or "not_installed"
    if ai.get("transformers_loaded"):
        head = _kv("Transformers", f"Loaded ({ai.get('device') or 'CPU'} mode)", GREEN)
    else:
        colour = {"loading": BLUE, "failed": RED}.get(state, GREY)
        head = _kv("Transformers", f"Not loaded ({state.replace('_', ' ')})", colour)
    avg = ai.get("avg_ms")
    out = [head,
           _kv("Sentiment model", ai.get("model") or "none configured"),
           _kv("Answering engine", ai.get("engine") or fmt.DASH),
           _kv("Model inferences", f"{fmt.integer(ai.get('inferences') or 0)}"
               + (f", avg {fmt.ms(avg)} per batch" if avg else "")),
           _kv("Lexicon answers", fmt.integer(ai.get("lexicon_inferences") or 0))]
    if ai.get("last_error"):
        out.append(_kv("Last error", fmt.plain(ai["last_error"]), AMBER))
    return "".join(out)


def infrastructure_section(status: dict) -> str:
    inf = status.get("infrastructure") or {}
    backend = str(inf.get("cache_backend") or "?")
    out = [_kv("Answer cache", f"{fmt.integer(inf.get('cache_entries') or 0)} answers", GREEN),
           _kv("HTTP cache", f"{'SQLite' if backend == 'sqlite' else backend.capitalize()}, "
               + (f"{fmt.integer(inf['http_cache_entries'])} responses"
                  if inf.get("http_cache_entries") is not None else "size unknown"), GREEN),
           _kv("Data dir", str(inf.get("data_dir") or "in memory only")),
           persistence_line(inf.get("persistence") or {}),
           shared_state_line(inf.get("shared_state") or {}, status.get("replicas") or []),
           _kv("Uptime", fmt.seconds(inf.get("uptime_s")))]
    queue = inf.get("queue")
    if isinstance(queue, dict) and queue:
        out.append(_kv("Queue", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in queue.items())))
    else:
        out.append(_kv("Queue", "not reported"))
    return "".join(out)


def shared_state_line(s: dict, replicas: list[dict]) -> str:
    """Whether this replica shares its state with a fleet (REDIS_URL), and how that goes."""
    if s.get("backend") != "redis":
        return _kv("Shared state", "none: this process only (no REDIS_URL)")
    alive = sum(1 for r in replicas if r.get("alive"))
    if s.get("state") == "connected":
        return _kv("Shared state", f"Redis {s.get('url')}: {alive} replica"
                   f"{'' if alive == 1 else 's'} alive", GREEN)
    since = s.get("lost_since")
    when = f" since {time.strftime('%H:%M:%S UTC', time.gmtime(since))}" if since else ""
    share = s.get("budget_share") or 1.0
    return _kv("Shared state", f"Redis {s.get('url')} unreachable{when}: local state, each "
               f"provider budget at {share:.0%}", AMBER)


def persistence_line(p: dict) -> str:
    """Where state is saved, and anything that went wrong with it (memory mode, a damaged file
    moved aside, saves failing)."""
    if p.get("mode") == "memory":
        return _kv("Persistence", f"memory only: {fmt.plain(p.get('reason') or '?', 160)}", AMBER)
    notes = [f"{q['file']} was damaged, moved to {q['moved_to']}" for q in p.get("quarantined", [])]
    if p.get("saving") == "failing":
        notes.append(f"saving fails: {(p.get('last_save_error') or {}).get('error', '?')}")
    return _kv("Persistence", "SQLite" + (f" ({fmt.plain('; '.join(notes), 200)})" if notes
                                          else ""), AMBER if notes else GREEN)


def cache_section(status: dict) -> str:
    cache = status.get("cache") or {}
    kinds = cache.get("entries_by_kind") or {}
    total = sum(kinds.values())
    by_kind = ", ".join(f"{kind.replace('_', ' ')} {n:,}"
                        for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    stale = cache.get("stale_served") or 0
    return "".join([
        _kv("Cached answers", f"{fmt.integer(total)} in total"),
        _kv("By kind", by_kind or "none yet"),
        _kv("Cache hit rate", fmt.pct(cache.get("hit_rate"), signed=False, ratio=True), BLUE),
        _kv("Stale answers served", fmt.integer(stale), AMBER if stale else GREEN),
    ])


def errors_section(status: dict) -> str:
    errors = status.get("error_details") or []
    if not errors:
        return '<div class="drawer-empty">No provider errors in the last hour</div>'
    now = status.get("timestamp")
    total = sum(e.get("count") or 0 for e in errors)
    out = [f'<div class="drawer-empty">{_plural(total, "provider error")} in the last hour'
           f'</div>']
    for e in errors[:12]:
        out.append(
            f'<div class="drawer-error"><div><b>{esc(e.get("provider", "?"))}</b>: '
            f'{fmt.integer(e.get("count"))}× {esc(e.get("type", "?"))} '
            f'<span class="drawer-when">{fmt.ago(e.get("last_seen"), now)}</span></div>'
            f'<div class="drawer-msg">{esc(fmt.plain(e.get("message"), 200))}</div>'
            f'<div class="drawer-action">Action: {esc(e.get("action") or "—")}</div></div>')
    if len(errors) > 12:
        out.append(f'<div class="drawer-empty">and {len(errors) - 12} more</div>')
    return "".join(out)


def performance_section(status: dict) -> str:
    perf = status.get("performance") or {}
    fastest = perf.get("fastest_provider")
    return "".join([
        _kv("Avg response", fmt.ms(perf.get("avg_response_ms"))),
        _kv("Fastest (answering)", f"{fastest} ({fmt.ms(perf.get('fastest_time_ms'))})"
            if fastest else "none answered recently"),
        _kv("Cache hit", fmt.pct(perf.get("cache_hit_rate"), signed=False, ratio=True)),
        _kv("Upstream calls / request", f"{perf.get('upstream_per_request') or 0:.2f}"),
        _kv("User requests / upstream calls",
            f"{fmt.integer(perf.get('requests') or 0)} / "
            f"{fmt.integer(perf.get('upstream_calls') or 0)}"),
        _kv("User requests that failed", fmt.integer(perf.get("errors") or 0)),
        _kv("Provider errors (last hour)", fmt.integer(perf.get("provider_errors_last_hour")
                                                       or 0)),
    ])


def overall_html(status: dict) -> str:
    """The banner: the backend's verdict over all providers and its one sentence."""
    health = status.get("overall_health") or "offline"
    kind, text = HEALTH_BADGE.get(health, ("muted", health))
    enabled = [p for p in status.get("providers_detailed") or [] if p.get("status") != "disabled"]
    up = sum(p.get("status") == "online" for p in enabled)
    idle = sum(p.get("status") == "idle" for p in enabled)
    summary = status.get("overall_summary") or ""
    note = f"{up} of {len(enabled)} providers online" + (f", {idle} not used yet" if idle else "")
    return (f'<div class="drawer-overall"><span class="badge badge-{kind}">{esc(text)}</span>'
            f'<span class="ui-meta">{esc(note)}</span>'
            + (f'<div class="drawer-summary">{esc(summary)}</div>'
               if summary and health != "online" else "")
            + '</div>')


def footer_html(shown_at: float | None, now: float, error: str | None = None) -> str:
    """When what the drawer shows was true and how old it is (counting on in the browser), and
    why the last refresh failed when it did."""
    age = age_html("status", shown_at, now) if shown_at else "nothing shown yet"
    why = message(f"Couldn't refresh, still showing the last status: {error}", "warn") \
        if error and shown_at else (message(error, "error") if error else "")
    return (f'<div class="drawer-footer">Last update: {age}'
            f'{REFRESHING}</div>{why}')


def drawer_view(service: MarketService, shown_at: float | None = None) -> tuple:
    """(overall, six sections, footer, when the status shown is from) from one system_status()
    call. When it fails, a drawer already showing a status keeps it (the footer says why)."""
    status, error = attempt(service.system_status)
    now = time.time()
    if error and shown_at:
        return (*(keep(),) * 7, footer_html(shown_at, now, error), shown_at)
    if error:
        msg = message(error, "error")
        return (msg, msg, msg, msg, msg, msg, msg, footer_html(None, now, error), None)
    at = float(status.get("timestamp") or now)
    return (overall_html(status), providers_section(status), ai_section(status),
            infrastructure_section(status), cache_section(status), errors_section(status),
            performance_section(status), footer_html(at, now), at)


def build(demo: gr.Blocks, service: MarketService) -> dict[str, Any]:
    """The right-hand drawer; place at the top level of the Blocks so every tab reaches it."""
    loading = message(LOADING)
    with gr.Sidebar(position="right", open=False, width=400, elem_id="status-drawer") as drawer:
        with gr.Row(equal_height=True, elem_classes=["drawer-head"]):
            gr.HTML('<div class="drawer-title">System Status</div>')
            refresh = gr.Button("↻ Refresh", size="sm", variant="secondary", scale=0,
                                min_width=90, elem_id="drawer-refresh")
        overall = gr.HTML(loading)
        sections = []
        for title in SECTIONS:
            slug = title.lower().replace(" & ", "-").replace(" ", "-")
            with gr.Accordion(title, open=title != "Recent Errors",
                              elem_id=f"drawer-{slug}", elem_classes=["drawer-section"]):
                sections.append(gr.HTML(loading))
        footer = gr.HTML('<div class="drawer-footer">Last update: —</div>',
                         elem_id="drawer-footer", elem_classes=[LIVE_HEAD])
    timer = gr.Timer(REFRESH_EVERY_S, active=False)
    shown_at = gr.State(None)
    outputs = [overall, *sections, footer, shown_at]

    def refresh_drawer(at):
        return drawer_view(service, at)

    def opened(at):
        return (*drawer_view(service, at), gr.Timer(active=True))

    demo.load(refresh_drawer, shown_at, outputs, **live(footer))
    drawer.expand(opened, shown_at, [*outputs, timer], **live(footer))
    drawer.collapse(lambda: gr.Timer(active=False), None, timer, **live())
    timer.tick(refresh_drawer, shown_at, outputs, **live(footer))
    refresh.click(refresh_drawer, shown_at, outputs, **live(footer))
    return {"drawer": drawer, "timer": timer, "sections": sections}

"""The report: the checklist's targets judged against the run, the machine it ran on, and the
JSON and Markdown files (latest + a timestamped copy, each written whole or not at all)."""
from __future__ import annotations

import json
import os
import platform
import re
import signal
import threading
from datetime import datetime
from pathlib import Path

from .clients import ERROR_KINDS
from .scenario import BAD_INPUT_ACCEPTED, progress

TARGET_AVG_MS = 200.0
TARGET_HANG_P95_MS = 2000.0      # user p95 while five of nine quote venues hang
STRETCH_AVG_MS = 150.0
MAX_COINGECKO_SHARE = 0.05          # the checklist asks < 10 %; the quote book allows 5 %
MIN_CACHE_HIT_RATE = 0.95           # the checklist asks > 70 %
MIN_CACHE_HIT_RATE_QUICK = 0.90     # a 15 s run pays a larger share of refreshes
MAX_UPSTREAM_PER_1000 = 25.0
MAX_PROVIDER_429 = 1          # the checklist: "0 or very low (< 2)"
MIN_SOURCES = 5               # the checklist: "should show 5+ providers", source varies


def machine_info() -> dict:
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"nproc": nproc, "cpu_model": model or platform.processor() or None,
            "python": platform.python_version(), "platform": platform.platform(),
            "loadavg_1_5_15": [round(x, 2) for x in load] if load else None}


def _hang_targets(hang: dict | None) -> list[tuple]:
    """The hanging-venues phase's targets: p95 within 2 s, no error, batches by the deadline."""
    if not hang:
        return []
    p95 = (hang.get("latency_ms") or {}).get("p95")
    n = f"{len(hang['venues'])} of {hang['of']}"
    rows = [(f"User p95 with {n} quote venues hanging ≤ 2 s", "≤ 2,000 ms", _ms(p95),
             p95 is not None and p95 <= TARGET_HANG_P95_MS),
            (f"User-visible errors with {n} quote venues hanging", "0", hang["errors"],
             hang["errors"] == 0)]
    b = hang.get("batches_all_hanging") or {}
    if b.get("batches"):
        worst = max(row["ms"] for row in b["batches"])
        limit = (b["deadline_s"] + 1.0) * 1000
        rows.append(("Batch (2, 10, 50 coins) with every quote venue hanging ends by the "
                     "deadline", f"≤ {_ms(limit)}", _ms(worst), worst <= limit))
    return rows


def judge_targets(report: dict) -> list[dict]:
    """Each checklist target: what it asks, what this run measured, met or not."""
    load, up, skew = report["load"], report["upstream"], report["skew"]
    min_hit = MIN_CACHE_HIT_RATE_QUICK if report["quick"] else MIN_CACHE_HIT_RATE
    avg = load["latency_ms"].get("all", {}).get("mean")
    app_avg = up.get("app_avg_response_ms")
    hit = up.get("cache_hit_rate")
    rows = [
        ("No user-visible 429", "0", load["user_visible_429"], load["user_visible_429"] == 0),
        ("No 5xx / server error events", "0", load["server_errors_5xx"],
         load["server_errors_5xx"] == 0),
        ("No timeout errors", "0", load["timeouts"], load["timeouts"] == 0),
        ("No 503 no-provider answers", "0", load["no_provider_503"],
         load["no_provider_503"] == 0),
        ("Bad input: clear 4xx / error naming the parameter", f"all {load['bad_input']['sent']}",
         f"{load['bad_input']['clear_rejection']} of {load['bad_input']['sent']}",
         load["bad_input"]["unclear"] == 0),
        ("CoinGecko share of upstream calls ≤ 5% (checklist: < 10%)", "≤ 5%",
         _pct(up["coingecko_share"]), up["coingecko_share"] <= MAX_COINGECKO_SHARE),
        (f"Cache hit rate ≥ {min_hit:.0%} (checklist: > 70%)", f"≥ {min_hit:.0%}", _pct(hit),
         hit is not None and hit >= min_hit),
        ("Upstream calls per 1,000 user requests ≤ 25", "≤ 25", up["per_1000_user_requests"],
         up["per_1000_user_requests"] is not None
         and up["per_1000_user_requests"] <= MAX_UPSTREAM_PER_1000),
        ("Price answers > 1% off the true price (load)", "0",
         f"{load['truth']['off_by_more_than_1pct']} of {load['truth']['answers_checked']}",
         load["truth"]["off_by_more_than_1pct"] == 0),
        (f"Price answers > 1% off the true price, {skew['venue']} {skew['pct']:g}% high "
         "(skew phase)", "0",
         f"{skew['truth']['off_by_more_than_1pct']} of {skew['truth']['answers_checked']}",
         skew["truth"]["off_by_more_than_1pct"] == 0),
        (f"Answers served by the skewed venue ({skew['venue']})", "0",
         skew["truth"]["served_by_skewed_venue"], skew["truth"]["served_by_skewed_venue"] == 0),
        *_hang_targets(report.get("hang")),
        ("Average response < 200 ms (client-side, from scheduled time)", "< 200 ms",
         _ms(avg) + (f" (app's own average: {_ms(app_avg)})" if app_avg is not None else ""),
         avg is not None and avg < TARGET_AVG_MS),
        ("Average response < 150 ms (stretch)", "< 150 ms", _ms(avg),
         avg is not None and avg < STRETCH_AVG_MS),
        ("Providers' rate-limit answers, 0 or very low", "< 2",
         up["provider_rate_limit_answers"], up["provider_rate_limit_answers"] <= MAX_PROVIDER_429),
        ("Answers come from 5+ providers (source varies)", "≥ 5", load["distinct_sources"],
         load["distinct_sources"] >= MIN_SOURCES),
    ]
    return [{"target": name, "wanted": wanted, "measured": measured, "met": bool(met)}
            for name, wanted, measured, met in rows]


# -- Markdown -----------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f} ms"


def _cell(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}" if abs(v) >= 100 or v == int(v) else f"{v:.2f}".rstrip("0").rstrip(".")
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _latency_rows(lat: dict) -> list[list]:
    order = ["all", "path:rest", "path:gradio"]
    order += sorted(k for k in lat if k.startswith("type:"))
    order += sorted(k for k in lat if k.count(":") == 1 and not k.startswith(("path:", "type:")))
    names = {"all": "all requests", "path:rest": "REST", "path:gradio": "Gradio API"}
    rows = []
    for k in order:
        s = lat.get(k)
        if not s:
            continue
        label = names.get(k) or (k[5:] if k.startswith("type:") else k.replace(":", " / "))
        rows.append([label, s["n"], s["mean"], s["p50"], s["p95"], s["p99"], s["max"]])
    return rows


def to_markdown(r: dict) -> str:
    cfg, load, up, base, m = r["config"], r["load"], r["upstream"], r["baselines"], r["machine"]
    skew = r["skew"]
    met = sum(t["met"] for t in r["targets"])
    lines = [
        f"# Load scenario report{' (quick)' if r['quick'] else ''}",
        "",
        f"{r['started_at']} · {r['duration_s']} s in all · `python -m bench"
        f"{' --quick' if r['quick'] else ''}`",
        "",
        table(["Machine", ""], [["CPUs (nproc)", m["nproc"]], ["CPU model", m["cpu_model"]],
                                ["Python", m["python"]], ["Platform", m["platform"]],
                                ["Load average at start (1/5/15 min)", m["loadavg_1_5_15"]]]),
        "",
        f"Scenario: {cfg['rate']:g} requests/s for {cfg['seconds']:g} s, {cfg['threads']} client "
        f"threads, open loop; mix {', '.join(f'{k} {v:.0%}' for k, v in cfg['mix'].items())}, "
        f"half REST and half Gradio API; symbols Zipf s={cfg['zipf_s']} over the top "
        f"{cfg['ticker_pool']}; 1 in {cfg['bad_input_every']} requests deliberate bad input. "
        f"Simulated providers at their documented limits and latency scale "
        f"{cfg['sim_latency_scale']:g}. App start-up: {r['app']['startup_s']} s to /api/health; "
        f"HTTP cache on disk after the load: {r['app'].get('http_cache_mb_after_load', '–')} MB.",
        "",
        f"## Targets ({met} of {len(r['targets'])} met)",
        "",
        table(["Target", "Wanted", "Measured", "Met"],
              [[t["target"], t["wanted"], t["measured"], "met" if t["met"] else "**not met**"]
               for t in r["targets"]]),
        "",
        "## Load: requests",
        "",
        table(["", "Count"], [
            ["planned", load["requests_planned"]], ["sent", load["requests_sent"]],
            ["answered (any HTTP answer / result event)", load["requests_answered"]],
            ["requests sent per second over the phase", load["offered_rate_per_s"]],
            ["by path", ", ".join(f"{k} {v}" for k, v in sorted(load["by_path"].items()))],
            ["by type", ", ".join(f"{k} {v}" for k, v in sorted(load["by_type"].items()))],
            ["user-visible errors (all kinds)", load["user_visible_errors"]],
            ["stale answers", load["stale_answers"]],
            ["batch rows with an error", load["batch_rows_with_error"]],
            ["distinct answer sources", f"{load['distinct_sources']}: " + ", ".join(
                f"{k} {v}" for k, v in load["answer_sources"].items())],
            ["client start lag p99 (ms; > 0 means client threads were busy)",
             load["start_lag_ms"]["p99"]],
        ]),
        "",
        "## Load: user-visible errors by kind",
        "",
        table(["Kind", "REST", "Gradio API", "Total"],
              [[k, load["errors_by_kind"].get(k, {}).get("rest", 0),
                load["errors_by_kind"].get(k, {}).get("gradio", 0),
                load["errors_by_kind"].get(k, {}).get("total", 0)]
               for k in list(ERROR_KINDS) + [BAD_INPUT_ACCEPTED]]),
        "",
        "`invalid_input` here means a valid request that was refused; deliberate bad input "
        "rejected clearly is not an error (next table).",
        "",
        "## Load: bad input",
        "",
        table(["Sent", "Clear 4xx / error event naming the parameter", "Not clear"],
              [[load["bad_input"]["sent"], load["bad_input"]["clear_rejection"],
                load["bad_input"]["unclear"]]]),
    ]
    if load["bad_input"]["unclear_examples"]:
        lines += ["", table(["Path", "Request", "Param", "Got", "HTTP", "Error text"],
                            [[e["path"], e["kind"], e["param"], e["got"], e["http_status"],
                              e["error"]] for e in load["bad_input"]["unclear_examples"]])]
    lines += [
        "",
        "## Load: latency (ms, from each request's scheduled time)",
        "",
        "Valid requests that got an answer; deliberate bad input in its own rows.",
        "",
        table(["Path / type", "n", "mean", "p50", "p95", "p99", "max"],
              _latency_rows(load["latency_ms"])),
        "",
        "## Upstream",
        "",
        table(["", ""], [
            ["upstream calls over the load (app; warm-up excluded)", up["upstream_calls"]],
            ["upstream calls per 1,000 user requests", up["per_1000_user_requests"]],
            ["CoinGecko share (app / simulator)",
             f"{_pct(up['coingecko_share'])} / {_pct(up['coingecko_share_sim'])}"],
            ["cache hit rate over the load (app: performance.cache_hits / requests)",
             _pct(up["cache_hit_rate"])],
            ["router-level requests (app)", up["app_requests"]],
            ["app's own average response", _ms(up["app_avg_response_ms"])],
            ["rate-limit answers the providers sent (simulator)",
             up["provider_rate_limit_answers"]],
            ["overall health at the end", up["overall_health"]],
        ]),
        "",
        table(["Provider", "Upstream calls (app)", "Share", "State", "Rate-limit hits (app)",
               "Requests (sim)", "429s (sim)"],
              [[n, p["upstream_calls"], _pct(p["share"]), p["status"], p["rate_limit_hits"],
                p["sim_requests"], p["sim_rate_limited"]] for n, p in up["by_provider"].items()]),
        "",
        "## Truth: every price answer against the simulated market",
        "",
        "The simulated market is a pure function of (seed, coin, time), so each answer's USD "
        "price (USDT answers at the market's own tether rate) is compared with the reference "
        "price at the answer's own timestamp; venues sit a few bps apart by design.",
        "",
        table(["Phase", "Answers checked", "> 1% off", "Worst (%)", "Served by the skewed venue",
               "Consensus status of the answers"],
              [["load", load["truth"]["answers_checked"], load["truth"]["off_by_more_than_1pct"],
                load["truth"]["worst_off_pct"], "n/a",
                ", ".join(f"{k} {v}" for k, v in load["truth"]["consensus_status"].items())],
               [f"skew: {skew['venue']} {skew['pct']:g}% high, {skew['requests']} single prices "
                f"in {skew['seconds']:g} s", skew["truth"]["answers_checked"],
                skew["truth"]["off_by_more_than_1pct"], skew["truth"]["worst_off_pct"],
                skew["truth"]["served_by_skewed_venue"],
                ", ".join(f"{k} {v}" for k, v in skew["truth"]["consensus_status"].items())]]),
        "",
        f"Skew phase: answers by source {_cell(skew['answer_sources'])}; {skew['errors']} "
        f"user-visible errors; latency {_cell(skew['latency_ms'])}. At the end {skew['venue']} "
        f"was `{skew['venue_state']}` ({skew['venue_reason']}), {skew['venue_outliers']} "
        "outliers counted.",
        "",
    ]
    lines += _hang_lines(r.get("hang"))
    lines += _previous_rows(r)
    lines += [
        "## Baselines",
        "",
        "Same single-price schedule (symbols and times) for the first "
        f"{cfg['baseline_seconds']:g} s, straight to the simulated CoinGecko "
        "(reset before each phase).",
        "",
    ]
    naive, careful = base["naive_coingecko"], base["careful_single_provider"]
    sent = load["requests_sent"]
    window = min(cfg["baseline_seconds"], cfg["seconds"])
    app_ok = sent - load["user_visible_errors"]

    def per_request(upstream: int, requests: int) -> float | None:
        return round(upstream / requests, 3) if requests else None

    lines += [
        table(["", "Window (s)", "Requests", "OK", "429 seen by the user", "Other errors",
               "Error rate", "Upstream requests", "Upstream per request",
               "429s the provider sent"],
              [["naive: bare client", window, naive["requests"], naive["ok"],
                naive["rate_limited_429"], naive["other_errors"], _pct(naive["error_rate"]),
                naive["upstream_requests"],
                per_request(naive["upstream_requests"], naive["requests"]),
                naive["upstream_rate_limited"]],
               [f"careful: requests-cache {careful['expire_after_s']} s, CoinGecko only",
                window, careful["requests"], careful["ok"],
                careful["rate_limited_429"], careful["other_errors"], _pct(careful["error_rate"]),
                careful["upstream_requests"],
                per_request(careful["upstream_requests"], careful["requests"]),
                careful["upstream_rate_limited"]],
               ["this app (the whole load phase, every request type)", cfg["seconds"], sent,
                app_ok, load["user_visible_429"], load["user_visible_errors"]
                - load["user_visible_429"], _pct((sent - app_ok) / sent if sent else None),
                up["upstream_calls"], per_request(up["upstream_calls"] or 0, sent),
                up["provider_rate_limit_answers"]]]),
        "",
    ]
    floor = base["serving_floor"]
    lines += [
        f"Serving floor: {floor['calls_per_probe']} sequential calls per probe after "
        f"{floor['warmup_rounds']} warm-up rounds, interleaved; cached get_price({floor['symbol']})"
        " against the constant ping endpoint.",
        "",
        table(["Path", "Floor median (ms)", "Floor p95", "Cached get_price median (ms)",
               "get_price p95", "Ratio price / floor", "Misses left out"],
              [[label, f["floor_median_ms"] if f["floor_available"] else
                f"missing: {f['floor_error']}", f["floor_p95_ms"], f["cached_price_median_ms"],
                f["cached_price_p95_ms"], f["ratio_price_to_floor"],
                f["price_cache_misses_excluded"]]
               for label, f in (("REST (/api/ping vs /api/market/price)", floor["rest"]),
                                ("Gradio API (/ping vs /get_price)", floor["gradio"]))]),
        "",
    ]
    ip = base["in_process"]
    lines += [
        table(["In-process router.get_quote, cache hit", ""], [
            ["calls", ip["calls"]], ["median", f"{ip['median_us']} µs"],
            ["p99", f"{ip['p99_us']} µs"], ["mean", f"{ip['mean_us']} µs"],
            ["calls per second (one thread)", ip["calls_per_s"]],
            ["first call (miss)", f"{ip['first_call_ms']} ms from {ip['first_source']}"],
            ["misses among the timed calls", ip["cache_misses"]]]),
        "",
        "## Method notes",
        "",
        "- Open loop: request i leaves at start + i/rate whatever happened to earlier ones; "
        "latency is measured from that scheduled time, so a stalled server or a saturated "
        "client shows up as latency (no coordinated omission).",
        "- A REST batch is one GET /api/market/prices?symbols=... (10 symbols); a Gradio batch "
        "one /get_prices call.",
        "- Upstream numbers are read from the app's /api/system/status and the simulator's "
        "/_sim/stats right after the load phase (the simulator is reset just before it).",
        "- The baselines run while the app boots (they count 429s, not latency); the serving "
        "floor runs after the load on the same server; the in-process figure before the app "
        "starts. Client, app and simulator share this machine's CPUs.",
        "",
    ]
    return "\n".join(lines)


def previous_summary(report: dict) -> dict:
    """The figures a later run is compared with."""
    lat = report["load"]["latency_ms"]
    up = report["upstream"]
    return {"started_at": report["started_at"], "quick": report["quick"],
            "latency_ms": {k: lat.get(k) for k in ("all", "path:rest", "path:gradio",
                                                   "type:price", "type:prices")},
            "per_1000_user_requests": up.get("per_1000_user_requests"),
            "cache_hit_rate": up.get("cache_hit_rate"),
            "coingecko_share": up.get("coingecko_share"),
            "upstream_calls": up.get("upstream_calls")}


def load_previous(out: Path, quick: bool) -> dict | None:
    """The last report of the same kind in `out` (before this run overwrites it)."""
    path = out / f"latest{'-quick' if quick else ''}.json"
    try:
        return previous_summary(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _previous_rows(r: dict) -> list[str]:
    prev = r.get("previous")
    if not prev:
        return ["No earlier report of this kind in the output folder to compare with.", ""]
    now = previous_summary(r)
    rows = []
    for key, label in (("all", "all requests"), ("path:rest", "REST"),
                       ("path:gradio", "Gradio API"), ("type:price", "price"),
                       ("type:prices", "prices (batch)")):
        a, b = prev["latency_ms"].get(key) or {}, now["latency_ms"].get(key) or {}
        rows.append([f"latency {label} (ms): mean / p50 / p95 / p99",
                     " / ".join(_cell(a.get(k)) for k in ("mean", "p50", "p95", "p99")),
                     " / ".join(_cell(b.get(k)) for k in ("mean", "p50", "p95", "p99"))])
    rows += [["upstream calls per 1,000 user requests", prev["per_1000_user_requests"],
              now["per_1000_user_requests"]],
             ["cache hit rate", _pct(prev["cache_hit_rate"]), _pct(now["cache_hit_rate"])],
             ["CoinGecko share", _pct(prev["coingecko_share"]), _pct(now["coingecko_share"])]]
    return ["## Side by side with the previous report", "",
            table(["", f"previous ({prev['started_at']})", f"this run ({r['started_at']})"], rows),
            ""]


# -- files --------------------------------------------------------------------------------------

def write_report(report: dict, out: Path, *, prefix: str = "",
                 markdown=None) -> dict[str, Path]:
    """<prefix>latest[-quick].{json,md} and <prefix>run-<UTC time>[-quick].{json,md} under
    `out`; the markdown comes from `markdown(report)` (default: this module's to_markdown)."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if report["quick"] else ""
    stamp = re.sub(r"[-:]", "", datetime.fromisoformat(report["started_at"]).strftime(
        "%Y%m%dT%H%M%SZ"))
    text = {"json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
            "md": (markdown or to_markdown)(report)}
    written = {}
    for stem in (f"{prefix}latest{suffix}", f"{prefix}run-{stamp}{suffix}"):
        for ext, body in text.items():
            path = out / f"{stem}.{ext}"
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, path)
            written[f"{stem}.{ext}"] = path
    return written


def _hang_lines(hang: dict | None) -> list[str]:
    if not hang:
        return []
    lat, healthy = hang.get("latency_ms") or {}, hang.get("healthy_latency_ms") or {}
    b = hang.get("batches_all_hanging") or {}
    lines = [
        "## Never late: hanging venues",
        "",
        f"{', '.join(hang['venues'])} ({len(hang['venues'])} of the {hang['of']} quote venues) "
        f"held every answer (the simulator's `timeout` fault) while {hang['requests']} single "
        f"prices were asked over {hang['seconds']:g} s; beside it the healthy load phase.",
        "",
        table(["Phase", "p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)", "User-visible errors",
               "Hedges"],
              [["healthy load (all requests)", healthy.get("p50"), healthy.get("p95"),
                healthy.get("p99"), healthy.get("max"), "see above",
                hang.get("healthy_hedges")],
               [f"{len(hang['venues'])} of {hang['of']} hanging (single prices)", lat.get("p50"),
                lat.get("p95"), lat.get("p99"), lat.get("max"), hang["errors"],
                hang["hedges"]]]),
        "",
        f"Hedges by provider during the run: {_cell(hang.get('hedges_by_provider') or {})}; "
        f"answers by source while hanging: {_cell(hang['answer_sources'])}.",
        "",
    ]
    if b.get("batches"):
        lines += [
            f"Every quote venue hanging ({b['hang_s']:g} s per answer), a cold in-process "
            f"router with its {b['deadline_s']:g} s deadline:",
            "",
            table(["Coins in the batch", "Took (ms)", "Outcome"],
                  [[row["coins"], row["ms"], row["outcome"]] for row in b["batches"]]),
            "",
        ]
    return lines


def run_interruptibly(run, cfg, what: str):
    """`run(cfg, stop)` with SIGTERM and Ctrl-C unwinding through its `finally` (so the children
    it started are stopped); the report, or None when interrupted."""
    stop = threading.Event()

    def on_sigterm(signum, frame):
        stop.set()
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return run(cfg, stop)
    except KeyboardInterrupt:
        stop.set()
        progress(f"interrupted; {what} are stopped")
        return None

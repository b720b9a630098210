"""AI Models tab: the sentiment model's measured status, a retry, single-text analysis, and the
sentiment of recent headlines next to the Fear & Greed index."""
from __future__ import annotations

import time
from typing import Any, Callable

import gradio as gr

from ai.sentiment import SentimentModel

from . import figures, tables
from . import formatting as fmt
from .common import (LIVE_HEAD, LOADING, PRIVATE, READ, age_html, attempt, esc, keep, kept,
                     kept_head, live, message, meta_line, new_table, section, show_all_box,
                     shown, table)

STATUS_EVERY_S = 1.5
NEWS_LIMIT = 15

BADGES = {
    "not_started": ("Not started", "muted",
                    "The model has not been asked to load; the VADER lexicon answers."),
    "loading": ("Loading…", "info",
                "Loading in the background; the VADER lexicon answers until it is ready."),
    "loaded": ("Loaded", "ok", "Answers come from the transformers model on the CPU."),
    "failed": ("Failed", "error", "Loading failed; the VADER lexicon answers. Retry below."),
    "disabled": ("Disabled", "muted",
                 "Switched off (SENTIMENT_MODEL=none); the VADER lexicon answers."),
    "not_installed": ("Not installed", "warn",
                      "torch / transformers are not installed; the VADER lexicon answers."),
}

SENTIMENT_STYLE = {"bullish": ("▲", "ok"), "neutral": ("■", "muted"), "bearish": ("▼", "error")}


def _count(n: object) -> str:
    x = fmt._number(n)
    if x is None:
        return fmt.DASH
    return fmt.compact(x) if x >= 1e4 else fmt.integer(x)


def status_html(status: dict) -> str:
    """The model status card: a state badge, what it means, and every measured number."""
    state = status.get("state") or "not_started"
    label, kind, meaning = BADGES.get(state, (state, "muted", ""))
    threads = status.get("threads")
    rows = [
        ("Engine", status.get("engine") or fmt.DASH),
        ("transformers", status.get("transformers_version") or "not installed"),
        ("torch", status.get("torch_version") or "not installed"),
        ("Device", f"{status.get('device') or 'CPU'}"
                   + (f", {threads} threads" if threads else "")),
        ("Load time", fmt.seconds(status.get("load_time_s"))),
        ("Parameters", _count(status.get("parameters"))),
        ("Memory", f"{status['memory_mb']:.1f} MB" if status.get("memory_mb") else fmt.DASH),
        ("Model inferences", fmt.integer(status.get("inferences"))),
        ("Lexicon inferences", fmt.integer(status.get("lexicon_inferences"))),
        ("Batch avg / p95", f"{fmt.ms(status.get('avg_ms'))} / {fmt.ms(status.get('p95_ms'))}"),
        ("Max tokens", fmt.integer(status.get("max_length"))),
    ]
    model = (f'<div class="kv kv-wide"><span>Model</span><b>{esc(status.get("model") or fmt.DASH)}'
             f'</b></div>')
    grid = model + "".join(f'<div class="kv"><span>{esc(k)}</span><b>{esc(v)}</b></div>'
                           for k, v in rows)
    error = status.get("last_error")
    error_html = (f'<div class="ui-msg ui-msg-error">Last error: {esc(error)}</div>'
                  if error else "")
    return (f'<div class="model-card" data-state="{esc(state)}">'
            f'<div class="model-head"><span class="badge badge-{kind}">{esc(label)}</span>'
            f'<span class="model-meaning">{esc(meaning)}</span></div>'
            f'<div class="kv-grid">{grid}</div>{error_html}</div>')


def analysis_html(result: dict) -> str:
    label = result.get("label", "?")
    icon, kind = SENTIMENT_STYLE.get(label, ("", "muted"))
    score = result.get("score")
    engine = result.get("engine", "?")
    note = (f"model {result.get('model')}" if engine == "transformers"
            else "lexicon fallback (the model is not loaded)")
    width = max(0.0, min(1.0, float(score or 0))) * 100
    return (f'<div class="analysis"><span class="badge badge-{kind} badge-big">{icon} '
            f'{esc(label.capitalize())}</span>'
            f'<div class="score"><div class="score-bar"><div style="width:{width:.0f}%"></div>'
            f'</div><span>score {score:.2f}</span></div>'
            f'<div class="ui-meta">engine: {esc(engine)} · {esc(note)}</div></div>')


def news_view(news: Callable[[str | None, int], dict], symbol: str, limit: Any,
              last: dict | None = None):
    """(meta, headlines frame with every column, shares figure, fear & greed figure, what they
    now show) for one news request. When it fails and older headlines are shown (`last`), those
    stay and the meta says why."""
    sym = (symbol or "").strip() or None
    try:
        n = int(limit)
    except (TypeError, ValueError):
        n = NEWS_LIMIT
    answer, error = attempt(news, sym, n)
    now = time.time()
    if error and last:
        return kept_head("News sentiment", error, last, now), keep(), keep(), keep(), last
    if error:
        return (section("News sentiment", error=error),
                tables.placeholder(tables.HEADLINE_COLUMNS, "unavailable"),
                figures.sentiment_shares(None),
                figures.fear_greed_gauge({"error": "Fear & Greed not fetched"}), None)
    agg = answer.get("aggregate") or {}
    parts = [f"{agg.get('count', 0)} headlines for {answer.get('symbol', sym or 'MARKET')}",
             f"from {', '.join(answer.get('sources') or []) or '—'}",
             f"engine: {answer.get('engine', '?')}",
             "⚠ some feeds stale" if answer.get("stale") else ""]
    what = f"headlines for {answer.get('symbol', sym or 'MARKET')}"
    return (section("News sentiment", parts, age=age_html("analysis", now, now)),
            tables.headlines(answer), figures.sentiment_shares(agg),
            figures.fear_greed_gauge(answer.get("fear_greed")), shown(what, now))


def build(demo: gr.Blocks, sentiment: SentimentModel,
          news: Callable[[str | None, int], dict]) -> dict[str, Any]:
    """The tab's components and events; returns them as prices.build does. The status timer
    runs only while the model loads; the news load once, when the tab is first opened."""
    gr.HTML(section("Sentiment model", ["every number measured in this process"]))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            status = gr.HTML(message(LOADING), elem_id="model-status")
            retry = gr.Button("Retry load", variant="primary", visible=False, size="sm",
                              elem_id="model-retry")
        with gr.Column(scale=2, min_width=320):
            text = gr.Textbox(label="Text to analyze", lines=4, max_lines=8,
                              placeholder="e.g. Bitcoin breaks out as ETF inflows surge",
                              elem_id="analyze-text")
            analyze = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
            result = gr.HTML(meta_line(["the label, score and engine appear here"]),
                             elem_id="analyze-result")
    timer = gr.Timer(STATUS_EVERY_S, active=False)

    news_head = gr.HTML(section("News sentiment", [LOADING]), elem_id="news-head",
                        elem_classes=[LIVE_HEAD])
    with gr.Row(equal_height=True, elem_classes=["controls-row"]):
        symbol = gr.Textbox(value="BTC", label="Symbol (empty = whole market)", max_lines=1,
                            scale=2, min_width=160, elem_id="news-symbol")
        limit = gr.Slider(5, 50, value=NEWS_LIMIT, step=1, label="Headlines", scale=2,
                          min_width=200, elem_id="news-limit")
        fetch = gr.Button("Analyze news", variant="primary", scale=1, min_width=140,
                          elem_id="news-button")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            news_all = show_all_box("news-table-all")
            headlines = new_table(tables.HEADLINE_COLUMNS, elem_id="news-table", max_height=520,
                                  wrap=True)
        with gr.Column(scale=2, min_width=300):
            shares = gr.Plot(figures.empty_figure(LOADING, "Headline sentiment", 200),
                             show_label=False, elem_id="news-shares")
            fear_greed = gr.Plot(figures.empty_figure(LOADING, "Fear & Greed index", 280),
                                 show_label=False, elem_id="news-fear-greed")
    news_loaded = gr.State(False)
    news_last = gr.State(None)
    news_frame = gr.State(tables.placeholder(tables.HEADLINE_COLUMNS, LOADING))

    status_outputs = [status, retry, timer]

    def refresh_status():
        s = sentiment.status()
        return (status_html(s), gr.Button(visible=s.get("state") == "failed"),
                gr.Timer(active=s.get("state") == "loading"))

    def retry_load():
        sentiment.retry()
        return refresh_status()

    def run_analysis(value):
        results, error = attempt(sentiment.analyze, [value or ""])
        if error:
            return message(error, "error")
        return analysis_html(results[0])

    def run_news(sym, n, show_all, last):
        """The news outputs, then the status (its inference counters just moved)."""
        head, frame, share_fig, fg_fig, now_shown = news_view(news, sym, n, last)
        grid = keep() if kept(frame) else table(frame, show_all, True)
        return (head, grid, share_fig, fg_fig, frame, True, now_shown, *refresh_status())

    def first_news(sym, n, show_all, loaded, last):
        if loaded:
            return (gr.skip(),) * len(news_outputs)
        return run_news(sym, n, show_all, last)

    news_outputs = [news_head, headlines, shares, fear_greed, news_frame, news_loaded, news_last,
                    *status_outputs]
    def show_headlines(frame, show_all):
        return table(frame, show_all, True)

    news_all.input(show_headlines, [news_frame, news_all], headlines, **live())
    demo.load(refresh_status, None, status_outputs, **live())
    timer.tick(refresh_status, None, status_outputs, **live())
    retry.click(retry_load, None, status_outputs, **PRIVATE)
    gr.on([analyze.click, text.submit], run_analysis, text, result, **PRIVATE).then(
        refresh_status, None, status_outputs, **READ)
    gr.on([fetch.click, symbol.submit], run_news, [symbol, limit, news_all, news_last],
          news_outputs, **{**live(news_head), "concurrency_limit": "default"})
    return {"timers": [timer], "timer_follows_tab": False,
            "on_select": [(refresh_status, None, status_outputs, None),
                          (first_news, [symbol, limit, news_all, news_loaded, news_last],
                           news_outputs, news_head)],
            "show_all": [news_all], "status": status, "headlines": headlines}

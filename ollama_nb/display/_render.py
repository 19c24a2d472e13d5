r"""Safe rendering of untrusted model output into display bundles.

Model text is hostile input: a live run marks output trusted in JupyterLab, and
trusted ``text/html`` runs any script it contains. So everything here escapes:

* Markdown goes through markdown-it-py (CommonMark + tables + strikethrough) with
  ``html=False``: raw HTML in the answer is shown as text, never parsed.
* Links keep only ``http``, ``https`` and ``mailto`` targets (``javascript:``,
  ``data:``, ``file:``, ``vbscript:`` and relative URLs stay plain text) and
  open in a new tab with ``rel="noopener noreferrer nofollow"``.
* Images are never loaded from the network (a model could leak the prompt in an
  image URL): an image becomes a link to its URL; only inline ``data:image/...``
  pictures (png, jpeg, gif, webp) are shown.

How it is set, the same in a cell's output and in the widgets: the answer sits in a
``div`` with JupyterLab's own Markdown classes (``jp-RenderedHTMLCommon
jp-RenderedMarkdown``), so tables, code, quotes and links look as in a Markdown cell
and follow the theme's CSS variables (the dark theme too); inline styles add what
those classes leave out or what other frontends lack: long words and URLs wrap
(``overflow-wrap: anywhere``), code blocks scroll sideways instead of wrapping,
wide tables scroll. Math (``$…$`` and ``$$…$$`` by mdit-py-plugins' dollarmath, with
currency such as "$5 and $10" left alone; ``\(…\)`` and ``\[…\]`` by its texmath)
is kept verbatim for the frontend's MathJax: the rest of the answer is marked
``mathjax_ignore``, so only the math is typeset and the Markdown step never eats a
backslash. While an answer streams it is shown as escaped text in the same
typeface and size, so nothing switches fonts when it ends.

Public API (also used by the widgets)::

    render_markdown(text) -> str          safe HTML fragment
    answer_html(body) -> str              a fragment set as an answer (the classes above)
    escape_pre(text) -> str               text in an escaped code block that scrolls
    inline_html(text) -> str              one escaped line; `code` spans become <code>
    thinking_block(thinking) -> str       collapsed <details> block
    Stats.from_response(final)            model, tokens, tokens/s, load time
    stats_line(stats) -> str              "llama3.2 · 42 tokens · 61.2 tok/s · load 0.31 s"
    streaming_bundle(text, thinking=...)  cheap bundle for intermediate updates
    answer_bundle(text, thinking=..., stats=..., fmt=..., status=...)  the final bundle

Bundles are ``{"text/plain": ..., "text/html": ...}`` dicts meant for
``display(bundle, raw=True)``; never pass model text to ``IPython.display.HTML``
or ``Markdown`` positionally (they read files and fetch URLs).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "FORMATS",
    "Stats",
    "answer_bundle",
    "answer_html",
    "escape_pre",
    "inline_html",
    "render_markdown",
    "safe_url",
    "stats_line",
    "streaming_bundle",
    "thinking_block",
]

FORMATS = ("markdown", "text", "code", "json")

_LINK_SCHEMES = ("http:", "https:", "mailto:")
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpe?g|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)

# JupyterLab's Markdown look (its CSS, its variables); MathJax skips all but the math spans
_ANSWER_CLASSES = "ollama-nb-answer jp-RenderedHTMLCommon jp-RenderedMarkdown mathjax_ignore tex2jax_ignore"
# long words and URLs wrap (in min-content too, so flex containers can shrink); the answer's
# own typeface, size and line height also where JupyterLab's classes are missing
_ANSWER_STYLE = ("overflow-wrap:anywhere;padding-right:0;"
                 "font-family:var(--jp-content-font-family,inherit);"
                 "font-size:var(--jp-content-font-size1,inherit);"
                 "line-height:var(--jp-content-line-height,1.6)")
_FLOW_STYLE = "white-space:pre-wrap;margin:0"  # text as it arrives, in the answer's typeface
# what scrolls sideways takes the width it is given and never asks for more (width 0,
# min-width 100%): its long lines must not widen a widget or a flex row around it
_SCROLLS = "overflow-x:auto;box-sizing:border-box;width:0;min-width:100%"
# code keeps its lines and scrolls sideways (inline, so it beats the output area's
# `pre {word-break: break-all; white-space: pre-wrap}`)
_CODE_PRE_STYLE = (f"white-space:pre;{_SCROLLS};word-break:normal;overflow-wrap:normal;"
                   "margin:0 0 1em;padding:0.4em 0.6em;border-radius:3px;"
                   "background:var(--jp-cell-editor-background,#f5f5f5);"
                   "font-family:var(--jp-code-font-family,monospace);"
                   "font-size:var(--jp-code-font-size,0.9em);"
                   "line-height:var(--jp-code-line-height,1.4)")
_CODE_IN_PRE_STYLE = "white-space:inherit;background:none;padding:0;font-size:inherit"
_TABLE_WRAP_STYLE = f"{_SCROLLS};margin-bottom:1em"
_TABLE_STYLE = "margin:0;table-layout:auto"
_MATH_CLASSES = "ollama-nb-math mathjax_process tex2jax_process"
_DISPLAY_MATH_STYLE = f"{_SCROLLS};margin:0"  # MathJax gives display math its own 1em margins
# TeX commands that link, load or style: such math is shown as code, never typeset
_UNSAFE_TEX = re.compile(r"\\(?:href|url|require|class|cssId|style|html\w*|unicode|data)\b")
_MUTED = "color:var(--jp-ui-font-color2,#777);font-size:0.85em"
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def safe_url(url: str, *, image: bool = False) -> str | None:
    """``url`` if its scheme is allowed (http, https, mailto; data:image for images), else None."""
    # browsers ignore control characters and spaces inside a scheme ("java\nscript:")
    compact = _CONTROL.sub("", url)
    if image and _DATA_IMAGE.match(compact):
        return compact
    match = _SCHEME.match(compact)
    if match and (match.group(1).lower() + ":") in _LINK_SCHEMES:
        return url.strip()
    return None


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath import texmath_plugin

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # $…$ only when it hugs its content and no digit follows: "$5 and then $10" stays text
    md.use(dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False,
           double_inline=True)
    md.use(texmath_plugin, delimiters="brackets")  # \(…\) and \[…\], which models often write
    # links whose target is not allowed are left as literal text by the parser
    md.validateLink = lambda url: safe_url(url, image=True) is not None  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        href = safe_url(str(token.attrGet("href") or ""))
        if href is None:  # data:image targets are only fine inside <img>
            token.attrs.pop("href", None)
        token.attrSet("target", "_blank")
        token.attrSet("rel", "noopener noreferrer nofollow")
        return str(renderer.renderToken(tokens, idx, options, env))

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = html.escape(renderer.renderInlineAsText(token.children or [], options, env))
        if _DATA_IMAGE.match(_CONTROL.sub("", src)):
            return f'<img src="{html.escape(src)}" alt="{alt}" style="max-width:100%" />'
        href = safe_url(src)
        label = alt or "image"
        if href is None:
            return f"[{label}]"
        return (f'<a href="{html.escape(href)}" target="_blank" rel="noopener noreferrer nofollow">'
                f"🖼 {label}</a>")

    def math(display: bool) -> Any:
        def rule(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
            tex = str(tokens[idx].content).strip()
            if _UNSAFE_TEX.search(tex):
                return f"<code>{html.escape(tokens[idx].markup + tex)}</code>"
            if display:
                return (f'<div class="{_MATH_CLASSES}" style="{_DISPLAY_MATH_STYLE}">'
                        f"\\[{html.escape(tex)}\\]</div>\n")
            return f'<span class="{_MATH_CLASSES}">\\({html.escape(tex)}\\)</span>'
        return rule

    for name in ("math_inline", "math_inline_double", "math_block", "math_block_eqno"):
        md.add_render_rule(name, math(name != "math_inline"))

    rules = md.renderer.rules  # type: ignore[attr-defined]
    default_fence, default_code = rules["fence"], rules["code_block"]

    def code_block(default: Any) -> Any:
        def rule(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
            out = str(default(tokens, idx, options, env))
            return out.replace("<pre><code", f'<pre style="{_CODE_PRE_STYLE}">'
                               f'<code style="{_CODE_IN_PRE_STYLE}"', 1)
        return rule

    def table_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("style", _TABLE_STYLE)
        return f'<div style="{_TABLE_WRAP_STYLE}">' + str(renderer.renderToken(tokens, idx, options, env))

    def table_close(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return str(renderer.renderToken(tokens, idx, options, env)) + "</div>\n"

    def cell_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        if not tokens[idx].attrGet("style"):  # unaligned columns read left to right, in
            tokens[idx].attrSet("style", "text-align:left")  # outputs as in widgets
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("th_open", cell_open)
    md.add_render_rule("td_open", cell_open)
    md.add_render_rule("fence", code_block(default_fence))
    md.add_render_rule("code_block", code_block(default_code))
    md.add_render_rule("table_open", table_open)
    md.add_render_rule("table_close", table_close)
    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md


def render_markdown(text: str) -> str:
    """Markdown ``text`` as a safe HTML fragment (raw HTML escaped, unsafe links as text)."""
    return str(_markdown().render(text))


def answer_html(body: str, *, extra_class: str = "") -> str:
    """An HTML fragment set as an answer: JupyterLab's Markdown look, math left to MathJax."""
    classes = f"{_ANSWER_CLASSES} {extra_class}".strip()
    return f'<div class="{classes}" style="{_ANSWER_STYLE}">{body}</div>'


def escape_pre(text: str) -> str:
    """``text`` escaped inside a code block that keeps its lines and scrolls sideways."""
    return (f'<pre style="{_CODE_PRE_STYLE}"><code style="{_CODE_IN_PRE_STYLE}">'
            f"{html.escape(text)}</code></pre>")


def _flow(text: str) -> str:
    """``text`` escaped, its line breaks kept, in the surrounding (proportional) typeface."""
    return f'<div class="ollama-nb-flow" style="{_FLOW_STYLE}">{html.escape(text)}</div>'


def inline_html(text: str) -> str:
    """One line of our own (a status, an error) escaped, with its `code` spans as <code>."""
    parts = _INLINE_CODE.split(text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(parts))


def thinking_block(thinking: str, *, open: bool = False, label: str = "Thinking") -> str:
    """The model's thinking as a collapsed ``<details>`` block, kept apart from the answer."""
    if not thinking.strip():
        return ""
    attr = " open" if open else ""
    return (f'<details class="ollama-nb-thinking"{attr}><summary style="{_MUTED}">'
            f"{html.escape(label)}</summary>"
            f'<div style="{_MUTED};border-left:3px solid var(--jp-border-color2,#ccc);'
            f'padding-left:0.6em;margin-bottom:0.5em">'
            f"{_flow(thinking.strip())}</div></details>")


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _call_line(run: Any) -> str:
    """``name(arg=value, ...)`` shortened for a summary line."""
    return _short(run.signature(), 90)


def tool_call_html(run: Any) -> str:
    """One tool call as a collapsed ``<details>`` block: the call in the summary, then its
    arguments and its result (or error). Everything the model or the tool wrote is escaped."""
    if not run.done:
        state = "running…"
    elif run.error:
        state = f"✖ {_short(run.error, 100)}"
    else:
        took = f" · {run.seconds:.2f}s" if run.seconds is not None else ""
        state = f"✔{took}"
    try:
        args = json.dumps(run.arguments, ensure_ascii=False, indent=1, default=str)
    except (TypeError, ValueError):
        args = repr(run.arguments)
    body = [f'<div style="{_MUTED}">arguments</div>{escape_pre(args)}']
    if run.done:
        label, text = ("error", run.error) if run.error else ("result", run.content)
        body.append(f'<div style="{_MUTED}">{label}</div>{escape_pre(text or "")}')
    return (f'<details class="ollama-nb-tool"><summary style="{_MUTED}">🔧 '
            f"<code>{html.escape(_call_line(run))}</code> {html.escape(state)}</summary>"
            f'<div style="border-left:3px solid var(--jp-border-color2,#ccc);padding-left:0.6em;'
            f'margin-bottom:0.5em">{"".join(body)}</div></details>')


def tool_call_text(run: Any) -> str:
    """One tool call as a line of plain text."""
    if not run.done:
        return f"🔧 {_call_line(run)} running…"
    outcome = f"✖ {_short(run.error, 100)}" if run.error else f"→ {_short(run.content, 100)}"
    return f"🔧 {_call_line(run)} {outcome}"


def _steps(steps: Sequence[Any]) -> tuple[str, str]:
    """(HTML, text) of the steps before an answer: what the model said before calling tools
    (a message dict) and each call (a ToolRun)."""
    pieces, lines = [], []
    for step in steps:
        if isinstance(step, Mapping):
            pieces.append(thinking_block(str(step.get("thinking") or "")))
            content = str(step.get("content") or "")
            if content.strip():
                pieces.append(f'<div style="{_MUTED}">{_flow(content.strip())}</div>')
                lines.append(content.strip())
        else:
            pieces.append(tool_call_html(step))
            lines.append(tool_call_text(step))
    return "".join(pieces), "\n".join(lines)


@dataclass(frozen=True)
class Stats:
    """What the stats line shows, taken from the final (``done``) chunk of a response."""

    model: str = ""
    eval_count: int | None = None
    prompt_eval_count: int | None = None
    eval_seconds: float | None = None
    load_seconds: float | None = None
    total_seconds: float | None = None
    done_reason: str | None = None

    @property
    def cut_note(self) -> str:
        """A note when the answer stopped at ``num_predict``, for a place without the stats line."""
        return "… stopped at num_predict" if self.done_reason == "length" else ""

    @property
    def tokens_per_second(self) -> float | None:
        if self.eval_count and self.eval_seconds:
            return self.eval_count / self.eval_seconds
        return None

    @classmethod
    def from_response(cls, final: Any, *, model: str = "") -> Stats:
        """Read the metrics of a final chunk (typed response or plain dict); missing ones stay None."""
        raw: Mapping[str, Any]
        if final is None:
            raw = {}
        elif isinstance(final, Mapping):
            raw = final
        else:
            raw = getattr(final, "raw", None) or {}

        def seconds(key: str) -> float | None:
            value = raw.get(key)
            return value / 1e9 if isinstance(value, (int, float)) and value > 0 else None

        def count(key: str) -> int | None:
            value = raw.get(key)
            return int(value) if isinstance(value, (int, float)) else None

        return cls(
            model=str(raw.get("model") or model),
            eval_count=count("eval_count"),
            prompt_eval_count=count("prompt_eval_count"),
            eval_seconds=seconds("eval_duration"),
            load_seconds=seconds("load_duration"),
            total_seconds=seconds("total_duration"),
            done_reason=raw.get("done_reason"),
        )


def stats_line(stats: Stats) -> str:
    """One short line: model, tokens, tokens/s, load time (parts that are unknown are left out)."""
    parts = [stats.model] if stats.model else []
    if stats.eval_count is not None:
        parts.append(f"{stats.eval_count} tokens")
    rate = stats.tokens_per_second
    if rate is not None:
        parts.append(f"{rate:.1f} tok/s")
    if stats.load_seconds is not None:
        parts.append(f"load {stats.load_seconds:.2f} s")
    if stats.done_reason == "length":
        parts.append("stopped at num_predict")
    return " · ".join(parts)


def streaming_html(text: str, *, thinking: str = "", header: str = "",
                   steps: Sequence[Any] = ()) -> str:
    """The answer so far, cheaply: escaped text in the answer's typeface, no Markdown parsing;
    tool calls made so far (``steps``) above it."""
    pieces = [_steps(steps)[0]] if steps else []
    if header:
        pieces.append(f'<div style="{_MUTED}">{html.escape(header)}</div>')
    if thinking:
        pieces.append(thinking_block(thinking, open=not text))
    if text or not header:
        pieces.append(_flow(text))
    return answer_html("".join(pieces))


def streaming_bundle(text: str, *, thinking: str = "", header: str = "",
                     steps: Sequence[Any] = ()) -> dict[str, str]:
    """A cheap bundle for intermediate updates (see :func:`streaming_html`)."""
    plain = text if text or not header else header
    if steps:
        plain = "\n".join(x for x in (_steps(steps)[1], plain) if x)
    return {"text/plain": plain,
            "text/html": streaming_html(text, thinking=thinking, header=header, steps=steps)}


def first_code_block(text: str) -> str | None:
    """The body of the first fenced code block in ``text`` (``None`` if it has none)."""
    match = _FENCE.search(text)
    return match.group("body").rstrip("\n") if match else None


def _code_only(text: str) -> str:
    blocks = [m.group("body") for m in _FENCE.finditer(text)]
    return "\n".join(b.rstrip("\n") for b in blocks) if blocks else text


def _json_pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def answer_bundle(text: str, *, thinking: str = "", stats: Stats | None = None,
                  fmt: str = "markdown", status: str = "", steps: Sequence[Any] = ()) -> dict[str, str]:
    """The final bundle: tool calls (collapsed), rendered answer, collapsed thinking, stats
    line and a status line.

    ``fmt`` is one of :data:`FORMATS`; ``status`` is an extra line such as
    "⏹ interrupted" or an error message, shown after the answer; ``steps`` are the tool
    calls before the answer (see :func:`tool_call_html`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "markdown":
        plain, body = text, render_markdown(text)
    elif fmt == "code":
        plain = _code_only(text)
        body = escape_pre(plain)
    elif fmt == "json":
        plain = _json_pretty(text)
        body = escape_pre(plain)
    else:
        plain, body = text, _flow(text)
    steps_html, steps_text = _steps(steps) if steps else ("", "")
    parts = [steps_html, thinking_block(thinking), body if text else ""]
    if steps_text:
        plain = f"{steps_text}\n\n{plain}" if plain else steps_text
    tail = []
    if status:
        parts.append(f'<div class="ollama-nb-status" style="{_MUTED}">{inline_html(status)}</div>')
        tail.append(status)
    line = stats_line(stats) if stats is not None else ""
    if line:
        parts.append(f'<div class="ollama-nb-stats" style="{_MUTED}">{html.escape(line)}</div>')
        tail.append(line)
    if tail:
        plain = plain.rstrip("\n") + ("\n\n" if plain.strip() else "") + "\n".join(tail)
    return {"text/plain": plain, "text/html": answer_html("".join(p for p in parts if p))}

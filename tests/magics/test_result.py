"""OllamaResult: what _ollama and -o hold."""

from __future__ import annotations

from ollama_nb.display._render import Stats
from ollama_nb.magics._result import OllamaResult


def test_result_fields_and_reprs() -> None:
    final = {"model": "m", "done": True, "done_reason": "stop", "eval_count": 4, "eval_duration": 10**9}
    r = OllamaResult(text='{"a": 1}', thinking="t", model="m", response=final,
                     stats=Stats.from_response(final), fmt="json")
    assert r.json == {"a": 1} and r.done and r.status == "" and str(r) == '{"a": 1}'
    bundle = r._repr_mimebundle_()
    assert bundle["text/plain"] == '{\n  "a": 1\n}\n\nm · 4 tokens · 4.0 tok/s'
    assert "<details" in bundle["text/html"]
    assert r.bundle(show_stats=False)["text/plain"] == '{\n  "a": 1\n}'
    assert repr(r) == """<OllamaResult m: '{"a": 1}'>"""


def test_partial_results() -> None:
    stopped = OllamaResult(text="par", model="m", interrupted=True)
    assert not stopped.done and stopped.json is None
    assert stopped.status.startswith("⏹ interrupted")
    assert "interrupted" in repr(stopped)
    failed = OllamaResult(text="x" * 100, model="m", error="boom", response=None)
    assert failed.status == "✖ boom" and not failed.done
    assert repr(failed).endswith("...'>") and " error:" in repr(failed)
    assert failed.bundle()["text/plain"].endswith("x\n\n✖ boom")  # no stats known: no stats line

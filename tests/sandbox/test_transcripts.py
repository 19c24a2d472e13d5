"""For every real recorded transcript, the sandbox answers the same request with the
same status, content type, keys and value types (exact texts where the fact sheet
gives them). Keys that the fact sheet calls version-dependent may differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sandbox_raw import Raw, raw_request
from shared_data import TRANSCRIPTS

from ollama_nb.sandbox import Sandbox

METAS = sorted(TRANSCRIPTS.glob("*.meta.json"))

# keys a newer server adds (fact sheet: capabilities/context_length/embedding_length since
# v0.30.0, show's tensors/capabilities/modified_at since v0.6.x, done_reason since v0.1.35,
# tool-call id/index since v0.12.x) — the sandbox speaks the newest version
NEWER_KEYS = {"capabilities", "context_length", "embedding_length", "tensors", "modified_at",
              "done_reason", "id", "index", "thinking"}
# keys older servers sent that are gone now (fact sheet §1.2: "images": null in message)
OLDER_KEYS = {"images"}


def _request(meta: dict[str, Any]) -> tuple[str, str, Any]:
    req = meta["request"]
    if req.get("start_line"):
        method, uri, _ = req["start_line"].split(" ", 2)
    else:
        method, uri = req["method"].upper(), req["uri"]
    path = uri[uri.index("/api/"):] if "/api/" in uri else "/"
    body = json.loads(req["body"]) if req.get("body") else None
    return method, path, body


def _response(meta: dict[str, Any]) -> tuple[int, str]:
    resp = meta["response"]
    if "status_line" in resp:
        status = int(resp["status_line"].split()[1])
    else:
        status = int(resp["status"]["code"])
    ct = resp["headers"].get("content-type") or resp["headers"].get("Content-Type")
    return status, ct[0] if isinstance(ct, list) else ct


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    return type(value).__name__


def _same_kind(real: Any, ours: Any) -> bool:
    a, b = _kind(real), _kind(ours)
    return a == b or {a, b} == {"int", "number"} and not isinstance(real, int)


def compare(real: Any, ours: Any, where: str = "$") -> list[str]:
    """Differences in keys and value types (recursively; lists by their first items)."""
    problems: list[str] = []
    if real is None:
        return problems
    if isinstance(real, dict) and isinstance(ours, dict):
        for key, value in real.items():
            if key not in ours:
                if key not in OLDER_KEYS:
                    problems.append(f"{where}.{key} missing")
                continue
            problems += compare(value, ours[key], f"{where}.{key}")
        for key in ours.keys() - real.keys():
            if key not in NEWER_KEYS:
                problems.append(f"{where}.{key} unexpected")
        return problems
    if isinstance(real, list) and isinstance(ours, list):
        if real and ours:
            problems += compare(real[0], ours[0], f"{where}[0]")
        return problems
    if ours is None and isinstance(real, list) and ".model_info." in where:
        return problems  # newer servers send model_info arrays as null unless verbose
    if not _same_kind(real, ours):
        problems.append(f"{where}: {_kind(real)} vs {_kind(ours)}")
    return problems


def _setup(sb: Sandbox, name: str, body: Any) -> None:
    model = (body or {}).get("model") or (body or {}).get("name")
    if name.startswith("error-404"):
        return
    if name.startswith(("ps-", "tags-")):
        sb.install("llama3:8b")
        raw_request(sb.url, "POST", "/api/generate", {"model": "llama3:8b", "prompt": "",
                                                    "keep_alive": "1h"})
        return
    if model:
        sb.install(model)


@pytest.mark.parametrize("meta_path", METAS, ids=[p.name[: -len(".meta.json")] for p in METAS])
def test_transcript_shape(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    name = meta["name"]
    real_body = (TRANSCRIPTS / meta["body_file"]).read_bytes()
    method, path, body = _request(meta)
    status, content_type = _response(meta)
    with Sandbox(models=[]) as sb:
        _setup(sb, name, body)
        ours = raw_request(sb.url, method, path, body)
    assert ours.status == status
    assert ours.headers["content-type"] == content_type
    if content_type == "application/x-ndjson":
        _compare_stream(name, real_body, ours)
        return
    real = json.loads(real_body)
    if status >= 400:
        assert ours.json() == real  # exact error texts (fact sheet §3.1)
        return
    assert compare(real, ours.json()) == []


def _compare_stream(name: str, real_body: bytes, ours: Raw) -> None:
    assert ours.headers.get("transfer-encoding") == "chunked"
    assert ours.body.endswith(b"\n")
    real = [json.loads(line) for line in real_body.splitlines()]
    mine = ours.lines()
    if name.startswith("pull-"):
        statuses = [line["status"] for line in mine]
        assert statuses[0] == "pulling manifest"
        assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
        layers = mine[1:-3]
        assert layers and all(line["status"] == "pulling " + line["digest"][7:19]
                              and line["completed"] == line["total"] for line in layers)
        for real_line, our_line in zip(real[1:2], layers[:1]):
            assert compare(real_line, our_line) == []
        return
    assert compare(real[0], mine[0]) == []
    assert compare(real[-1], mine[-1]) == []
    assert all(not line["done"] for line in mine[:-1]) and mine[-1]["done"]
    if "truncate-true" in name:
        assert mine[-1]["prompt_eval_count"] == real[-1]["prompt_eval_count"] == 128


def test_compare_is_not_vacuous() -> None:
    real = {"model": "m", "done": True, "message": {"role": "assistant", "content": "x"},
            "eval_count": 3}
    assert compare(real, dict(real)) == []
    assert compare(real, {**real, "eval_count": "3"}) == ["$.eval_count: int vs str"]
    assert compare(real, {k: v for k, v in real.items() if k != "done"}) == ["$.done missing"]
    assert compare(real, {**real, "surprise": 1}) == ["$.surprise unexpected"]
    assert compare(real, {**real, "message": {"role": "assistant"}}) == [
        "$.message.content missing"]

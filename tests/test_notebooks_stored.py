"""The committed notebooks, read as a GitHub reader sees them (no kernel, no widgets).

Every answer must be in an ordinary output (``display_data`` with text/html and
text/plain), not only in a widget; widgets show a readable one-line text; nothing in
the stored HTML can run script; no errors, no stderr, no secrets; the models named are
Ollama library names; the dataset is the one its script writes.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ollama_nb.sandbox._catalogue import LIBRARY

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]-*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
CHECK_TAG = "nbval-check-output"
SECRETS = re.compile(r"Bearer\s+\S|Authorization:|OLLAMA_API_KEY=\S|sk-[A-Za-z0-9]{16}|"
                     r"ghp_[A-Za-z0-9]{16}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY")
UNSAFE_HTML = re.compile(r"<script|onerror\s*=|onload\s*=|javascript:|<iframe", re.IGNORECASE)

ids = [p.stem for p in NOTEBOOKS]


def _load(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def _code(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _is_prompt(cell: Any) -> bool:
    """A ``%%ollama`` cell that asks a model (not the embed/create cell forms)."""
    first = cell.source.split("\n", 1)[0].split()
    return first[:1] == ["%%ollama"] and (len(first) < 2 or first[1] not in ("embed", "create"))


def _answers(cell: Any) -> list[Any]:
    return [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")
            and WIDGET not in o.data]


def _texts(nb: Any) -> list[str]:
    out = []
    for cell in _code(nb):
        for o in cell.outputs:
            if o.output_type == "stream":
                out.append(o.text)
            for value in o.get("data", {}).values():
                if isinstance(value, str):
                    out.append(value)
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_was_executed_top_to_bottom(path: Path) -> None:
    nb = _load(path)
    code = _code(nb)
    assert code
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "run in order, in one kernel, every cell"
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        # a cell that shows an error on purpose (for %ollama explain/fix) says so in its tags
        assert bool(errors) == ("raises-exception" in cell.metadata.get("tags", [])), cell.source
        assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], \
            f"stderr (a warning?) stored under {cell.source[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_first_cell_says_which_server_answered(path: Path) -> None:
    first = _code(_load(path))[0]
    assert first.source.startswith("%load_ext ollama_nb")
    assert "onb.connect()" in first.source
    said = "".join(o.text for o in first.outputs if o.output_type == "stream")
    assert re.fullmatch(r"Connected to the ollama_nb sandbox at http://127\.0\.0\.1:\d+\n"
                        r"Chat model: smollm2:135m \(real SmolLM2-135M-Instruct, via llama\.cpp\)\n",
                        said), said
    # what it says depends on what is installed, so nbval does not compare it
    assert CHECK_TAG not in first.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_answer_is_an_ordinary_output(path: Path) -> None:
    prompts = [c for c in _code(_load(path)) if _is_prompt(c)]
    assert prompts or path.name == "03-embeddings.ipynb"
    for cell in prompts:
        answers = _answers(cell)
        if "--compare" in cell.source.split("\n", 1)[0]:  # one grid of answers, then the table
            assert len(answers) == 2 and "ollama-nb-compare" in answers[0].data["text/html"]
            assert answers[0].data["text/plain"].count("── ") == 2 and "<table" in answers[1].data["text/html"]
            continue
        # final-only display mode: one output per answer, no streaming placeholder left over
        assert len(answers) == 1, cell.source
        data = answers[0].data
        plain, page = data.get("text/plain", ""), data.get("text/html", "")
        assert plain.strip() and page.strip(), cell.source
        answer = plain.split("\n\n")[0].strip()
        assert len(answer) > 20, cell.source
        words = re.findall(r"[A-Za-z]{4,}", answer)[:5]
        assert all(w in page for w in words), "the HTML shows the same answer as the text"
        assert "tok/s" in plain  # the stats line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_every_answer_keeps_its_provenance(path: Path) -> None:
    """The saved file says which model build, settings and server made each answer (of
    ``%%ollama``, ``--compare`` and ``%ollama explain``/``fix``)."""
    prompts = [c for c in _code(_load(path)) if _is_prompt(c)
               or c.source.startswith(("%ollama explain", "%ollama fix"))]
    assert prompts or path.name == "03-embeddings.ipynb"
    for cell in prompts:
        answer = _answers(cell)[0]
        where = answer.metadata["ollama_nb"]["provenance"]
        provenances = list(where.values()) if "--compare" in cell.source else [where]
        for prov in provenances:
            assert prov["model"] and re.fullmatch(r"[0-9a-f]{64}", prov["digest"]), cell.source
            assert prov["endpoint"] in ("/api/generate", "/api/chat")
            assert prov["server_version"] and prov["eval_count"] > 0 and prov["time"]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", prov["host"])  # no credentials
    for cell in _code(_load(path)):
        if "ChatBox(" in cell.source:  # its transcript keeps one provenance per reply
            kept = [o.metadata["ollama_nb"]["provenance"] for o in _answers(cell)]
            assert kept and kept[0] and all(p["digest"] for p in kept[0])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_widgets_leave_readable_text_and_the_answer(path: Path) -> None:
    for cell in _code(_load(path)):
        widgets = [o for o in cell.outputs if WIDGET in o.get("data", {})]
        for o in widgets:
            plain = o.data.get("text/plain", "")
            assert re.match(r"(ModelPicker|StreamPane|ChatBox|PullProgress)\(", plain), plain
            assert "model_id" not in plain
        if widgets and _is_prompt(cell):
            assert _answers(cell), "a --pane answer is also kept as a display output"
    assert not _load(path).metadata.get("widgets"), "no widget state stored (model ids churn)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_stored_html_runs_no_script_and_holds_no_secrets(path: Path) -> None:
    nb = _load(path)
    for cell in _code(nb):
        for o in cell.outputs:
            page = o.get("data", {}).get("text/html", "")
            assert not UNSAFE_HTML.search(page), cell.source[:60]
    for text in [*_texts(nb), *(c.source for c in nb.cells)]:
        assert not SECRETS.search(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_checked_cells_have_outputs_to_compare(path: Path) -> None:
    checked = [c for c in _code(_load(path)) if CHECK_TAG in c.metadata.get("tags", [])]
    # what a live --nbval-lax run compares (tests/test_notebooks.py); a replay compares all
    assert checked
    for cell in checked:
        assert cell.outputs, f"a checked cell with no stored output: {cell.source[:60]!r}"


_MODEL_PATTERNS = (
    re.compile(r"^%%ollama (?!embed|create|-)([\w.:-]+)", re.MULTILINE),
    re.compile(r"^%ollama (?:pull|show) ([\w.:-]+)", re.MULTILINE),
    re.compile(r"^%%ollama embed ([\w.:-]+)", re.MULTILINE),
    re.compile(r"^FROM ([\w.:-]+)", re.MULTILINE),
    re.compile(r"client\.chat\(\"([\w.:-]+)\""),
    re.compile(r"model=\"([\w.:-]+)\""),
    re.compile(r" -m ([\w.:-]+)"),
    re.compile(r"picker\.value = \"([\w.:-]+)\""),
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_models_are_ollama_library_names(path: Path) -> None:
    """So the same notebook runs against a real Ollama (names the notebook creates aside)."""
    source = "\n".join(c.source for c in _code(_load(path)))
    created = set(re.findall(r"^%%ollama create ([\w.:-]+)", source, re.MULTILINE))
    created |= set(re.findall(r"^%ollama cp \S+ ([\w.:-]+)", source, re.MULTILINE))
    # (most prompts use the chat model the first cell chooses, and name none)
    used = {m for pattern in _MODEL_PATTERNS for m in pattern.findall(source)} - created
    for name in used:
        full = name if ":" in name else f"{name}:latest"
        assert full in LIBRARY, f"{name} is not an Ollama library model known to the sandbox"


def test_notebooks_link_to_each_other() -> None:
    for path in NOTEBOOKS:
        for cell in _load(path).cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"\]\(([^)#]+\.ipynb)\)", cell.source):
                    assert (NOTEBOOKS_DIR / target).is_file(), target


def test_reviews_dataset_is_what_its_script_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_reviews", NOTEBOOKS_DIR / "data" / "make_reviews.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with (NOTEBOOKS_DIR / "data" / "reviews.csv").open(encoding="utf-8", newline="") as fh:
        stored = list(csv.DictReader(fh))
    expected = [{k: str(v) for k, v in row.items()} for row in module.rows()]
    assert stored == expected
    assert len(stored) == 300
    assert {r["category"] for r in stored} == {"headphones", "coffee maker", "running shoes",
                                              "laptop", "novel"}
    assert len({r["review"] for r in stored}) > 290  # varied sentences, not one template


def test_docs_and_quickstart_show_the_current_help() -> None:
    from ollama_nb.magics._commands import HELP

    doc = (NOTEBOOKS_DIR.parent / "docs" / "notebooks.md").read_text(encoding="utf-8")
    block = doc.split("## `%ollama help`", 1)[1].split("```\n")[1]
    assert block.rstrip("\n") == HELP
    last = _code(_load(NOTEBOOKS_DIR / "01-quickstart.ipynb"))[-1]
    assert last.source == "%ollama help"
    assert last.outputs[0].text.rstrip("\n") == HELP


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_its_recording_is_plain_json_lines_without_secrets(path: Path) -> None:
    """notebooks/cassettes/<name>.jsonl (run_all.py): one exchange a line, no header kept."""
    import json

    lines = (NOTEBOOKS_DIR / "cassettes" / f"{path.stem}.jsonl").read_text("utf-8").splitlines()
    assert lines
    for line in lines:
        exchange = json.loads(line)
        assert set(exchange) == {"request", "response"}
        assert set(exchange["response"]["headers"]) <= {"Content-Type", "Location"}
        assert not SECRETS.search(line) and "authorization" not in line.lower()

"""The front page cannot rot: every ```python block of README.md runs, each in a fresh interpreter.

A block preceded by the line ``<!-- not-run -->`` (blank lines in between allowed) is skipped. Each block
runs in its own subprocess (a fresh namespace, no float64 from tests/conftest.py: what a reader gets when
pasting it), with this checkout first on ``sys.path``, the working directory a temporary folder (blocks
may write files) and a non-interactive Matplotlib backend. Also checked: the relative links of README.md
and docs/*.md point at files that exist, and no page refers to tracker issue numbers.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
DOC_PAGES = sorted((REPO_ROOT / "docs").glob("*.md"))
NOT_RUN = "<!-- not-run -->"
TIMEOUT_S = 600


def python_blocks(text: str) -> list[dict]:
    """The ```python fences of a Markdown text: ``{"line", "context", "source", "run"}`` each, in order.

    ``context`` is the text line just above the fence (or the section heading), ``run`` is False for a
    fence whose preceding non-blank line is the not-run marker.
    """
    lines = text.splitlines()
    blocks, heading, previous, i = [], "top", "", 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("#") and not stripped.startswith("#!"):
            heading = stripped.lstrip("#").strip()
        if stripped.startswith("```"):
            info = stripped[3:].strip().lower()
            start = i + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise ValueError(f"README.md line {i + 1}: unterminated code fence")
            if info == "python":
                context = previous if previous and previous != NOT_RUN else heading
                blocks.append({"line": i + 1, "context": context, "source": "\n".join(lines[start:end]) + "\n",
                               "run": previous != NOT_RUN})
            i = end + 1
            previous = ""
            continue
        if stripped:
            previous = stripped
        i += 1
    return blocks


def _label(block: dict) -> str:
    """A readable test id: the line of the fence and the first words of the text above it."""
    words = re.sub(r"[^a-z0-9]+", "-", block["context"].lower()).strip("-")[:30].strip("-")
    return f"line{block['line']}-{words}"


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples():
    assert sum(b["run"] for b in BLOCKS) >= 6, "the front page should show one runnable example per use case"


@pytest.mark.parametrize("block", BLOCKS, ids=[_label(b) for b in BLOCKS])
def test_readme_block_runs(block, tmp_path):
    if not block["run"]:
        pytest.skip(f"marked {NOT_RUN}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MPLBACKEND"] = "Agg"
    env.setdefault("PYTHONHASHSEED", "0")
    script = tmp_path / f"readme_line{block['line']}.py"
    script.write_text(block["source"], encoding="utf-8")
    try:
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"README.md block at line {block['line']} ran longer than {TIMEOUT_S} s")
    if result.returncode != 0:
        pytest.fail(f"README.md block at line {block['line']} ({block['context'][:60]}) failed with exit status "
                    f"{result.returncode}:\n{result.stderr[-4000:]}", pytrace=False)


def _relative_links(text: str):
    """``(path, anchor)`` of every relative Markdown link (URLs skipped; ``path`` empty for same-page anchors)."""
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        yield path, anchor


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens (code fences ignored)."""
    anchors, in_fence = set(), False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", [README] + DOC_PAGES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_relative_links_exist(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for path, anchor in _relative_links(text):
        target = page.parent / path if path else page
        if not target.exists():
            broken.append(f"{path} (no such file)")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target.read_text(encoding="utf-8")):
            broken.append(f"{path}#{anchor} (no such heading)")
    assert not broken, f"{page.name} has broken links: {broken}"


@pytest.mark.parametrize("page", [README] + DOC_PAGES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_no_issue_numbers(page):
    hits = re.findall(r"\bissues?\s*#?\d+", page.read_text(encoding="utf-8"), flags=re.IGNORECASE)
    assert not hits, f"{page.name} refers to tracker issues ({hits}); describe the concept instead"


def test_parser_skips_marked_blocks():
    text = "# T\n\n<!-- not-run -->\n\n```python\nraise SystemExit(1)\n```\n\n```python\nx = 1\n```\n```bash\nls\n```\n"
    blocks = python_blocks(text)
    assert [(b["run"], b["source"]) for b in blocks] == [(False, "raise SystemExit(1)\n"), (True, "x = 1\n")]

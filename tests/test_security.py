"""No code-executing deserialisation or dynamic evaluation in the package: no ``pickle`` (or its relatives),
``eval(``, ``exec(`` or ``allow_pickle=True`` anywhere in ``probsnn/``.

Two scans of every ``probsnn/**/*.py``: a grep of the source text (comments and docstrings included, so a
mention has to be worded around it) and a syntax-tree scan that also catches aliased imports and
``allow_pickle=`` given anything but the literal ``False``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "probsnn"
SOURCES = sorted(PACKAGE.rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "shelve", "marshal", "joblib"}
# ``pickle`` as a word (``allow_pickle=False`` is fine), calls of the builtins eval/exec, allow_pickle=True
GREP = re.compile(r"(?<![\w])(?:c|cloud|_)?pickle(?![\w])|(?<![\w.])(?:eval|exec)\s*\(|allow_pickle\s*=\s*True")


def test_the_package_sources_are_found():
    assert len(SOURCES) > 20 and PACKAGE / "streaming.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_pickle_eval_exec_or_allow_pickle_in_the_source_text(path):
    hits = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text().splitlines(), start=1) if GREP.search(line)]
    assert not hits, "unsafe constructs:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_unsafe_imports_calls_or_allow_pickle_in_the_syntax_tree(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            hits += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in UNSAFE_MODULES:
            hits.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec", "__import__"}:
                hits.append(f"{node.func.id}(...) at line {node.lineno}")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    hits.append(f"allow_pickle={ast.unparse(kw.value)} at line {node.lineno}")
    assert not hits, f"{path}: " + "; ".join(hits)


def test_the_grep_catches_what_it_should():
    for bad in ("import pickle", "pickle.load(f)", "x = eval('1')", "exec(code)", "np.load(p, allow_pickle=True)",
                "import cloudpickle"):
        assert GREP.search(bad), bad
    for fine in ("np.load(p, allow_pickle=False)", "jax.ensure_compile_time_eval()", "model.eval()",
                 "evaluate(x)", "executor(x)"):
        assert not GREP.search(fine), fine

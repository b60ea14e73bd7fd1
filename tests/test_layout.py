"""The package's layout rules (issue #8), checked on the source: one sub-package per concern,
no import cycles, and each sub-package imports only what its docstring allows.

Every import statement counts, also one inside a function: "no module imports a module
that imports it" holds for lazy imports too."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import spacy_task_pipes

PACKAGE = Path(spacy_task_pipes.__file__).resolve().parent
NAME = "spacy_task_pipes"
SHARED = {f"{NAME}.io", f"{NAME}.cli"}
SUBPACKAGES = ("hf", "ner", "qa", "seq2seq", "bench", "annotate", "demo", "safety")
# what each sub-package may import from the package, besides itself and SHARED
ALLOWED: Dict[str, Set[str]] = {
    "hf": {"safety"},
    "ner": {"annotate", "safety"},  # bootstrap_job: the sharded bootstrap runs on the annotate job
    "qa": {"hf"},
    "seq2seq": {"hf"},
    "annotate": {"safety"},
    "demo": {"safety"},
    "safety": set(),
    "bench": {"hf", "ner", "qa", "seq2seq", "annotate", "safety"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Set[str]:
    """The package modules ``path`` imports (absolute and relative, any depth)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == NAME)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != NAME:
                continue
            found.add(target)
            # `from . import x` / `from .qa import component` may name submodules
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                        (PACKAGE.parent / Path(*candidate.split("."))).is_dir():
                    found.add(candidate)
    return {m for m in found if m != me}


def graph() -> Dict[str, Set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_one_subpackage_per_concern():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py")
    assert top == ["__init__.py", "cli.py", "io.py"], "modules belong in a sub-package"
    for name in SUBPACKAGES:
        init = PACKAGE / name / "__init__.py"
        assert init.exists(), name
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"{name}/__init__.py must say what it may import"


def test_no_module_imports_a_module_that_imports_it():
    g = graph()
    # a module importing its own package __init__ (or vice versa) is not a cycle worth
    # flagging when the __init__ only re-exports: still, report every strongly connected set
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert cycles == []


def test_subpackages_import_only_what_they_may():
    bad = []
    for module, targets in graph().items():
        own = subpackage(module)
        if own not in ALLOWED:
            continue
        for target in targets:
            other = subpackage(target)
            if target in SHARED or other == own or target == NAME:
                continue
            if other not in ALLOWED[own]:
                bad.append(f"{module} imports {target}")
    assert bad == []


def test_nothing_imports_bench():
    importers = [m for m, targets in graph().items() if subpackage(m) != "bench"
                 and any(subpackage(t) == "bench" for t in targets)]
    assert importers == []


def test_registering_the_factories_imports_no_heavy_library():
    """spaCy loads every factory entry point whenever it makes a pipeline (an NER-only one too):
    ours register without transformers, Ray or the CPU runtimes, and without our Hugging Face
    plumbing (torch itself comes with thinc whenever it is installed)."""
    import subprocess
    import sys

    heavy = ["transformers", "ray", "onnxruntime", "ctranslate2", "datasets", "spacy_task_pipes.hf",
             "spacy_task_pipes.qa.component", "spacy_task_pipes.seq2seq.base"]
    code = ("import sys, spacy; nlp = spacy.blank('en'); nlp.add_pipe('entity_ruler'); "
            "from spacy.language import Language; "
            "assert all(Language.has_factory(f) for f in ('question_answerer', 'translator', 'summarizer')); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"

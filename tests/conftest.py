import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def run_script(name: str, *args: str):
    """Invoke one of the project's typer scripts in-process and return the click result."""
    import importlib.util

    from typer.testing import CliRunner

    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return CliRunner().invoke(module.app, [str(a) for a in args])


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (only in the team's checkouts)")
    return SHARED_DATA


# A tiny gadget NER set, and the model trained on it (tests of confidences, self-training, the dictionary)
TRAIN = [
    ("I love my Pixel 8 a lot.", [(10, 17)]),
    ("The iPhone 12 is fine.", [(4, 13)]),
    ("She bought a Galaxy S21 yesterday.", [(13, 23)]),
    ("Nothing beats the Kindle for reading.", [(18, 24)]),
    ("We talked about the weather.", []),
    ("My Pixel 8 and iPhone 12 both broke.", [(3, 10), (15, 24)]),
]


def train_tiny_ner():
    """tok2vec + ner trained for 30 passes over ``TRAIN`` (label GADGET), seeded."""
    import random

    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    nlp.add_pipe("ner")
    examples = []
    for text, spans in TRAIN:
        ref = nlp.make_doc(text)
        ref.set_ents([ref.char_span(s, e, label="GADGET") for s, e in spans], default="outside")
        examples.append(Example(nlp.make_doc(text), ref))
    nlp.initialize(lambda: examples)
    rng = random.Random(0)
    for _ in range(30):
        rng.shuffle(examples)
        nlp.update(examples, drop=0.1)
    return nlp


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Some tests run a script as ``__main__`` in this process (Streamlit's AppTest runs
    scripts/demo.py): restore the real ``__main__`` afterwards, or worker processes started with
    ``spawn`` by later tests would import that script as their main module (and exit with it)."""
    main = sys.modules.get("__main__")
    attrs = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    yield
    sys.modules["__main__"] = main
    for key, value in attrs.items():
        setattr(main, key, value)
    for key in ("__file__", "__spec__"):
        if key not in attrs and hasattr(main, key):
            delattr(main, key)

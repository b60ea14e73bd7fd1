import random

import pytest
import spacy
from spacy.training import Example
from spacy.util import registry

from spacy_task_pipes.ner.augment import shape_copy


def make_example(nlp, text, spans):
    doc = nlp.make_doc(text)
    doc.set_ents([doc.char_span(s, e, "GADGET") for s, e in spans], default="outside")
    return Example(nlp.make_doc(text), doc)


def test_shape_copy_keeps_shape():
    rng = random.Random(0)
    for _ in range(50):
        out = shape_copy("Pixel 7 Pro", rng, keep_token=0.0)
        assert [len(t) for t in out.split(" ")] == [5, 1, 3]
        assert out[0].isupper() and out[1:5].islower() and out[6].isdigit() and out[8].isupper()


def test_entity_swap_from_registry_preserves_context_and_labels():
    nlp = spacy.blank("en")
    augment = registry.augmenters.get("spacy_task_pipes.entity_swap.v1")(level=1.0, shape_copy=0.5, lower=0.0, seed=1)
    examples = [
        make_example(nlp, "My Pixel 7 Pro died, so I bought an iPhone X today.", [(3, 14), (36, 44)]),
        make_example(nlp, "The Galaxy S21 Ultra has a great zoom.", [(4, 20)]),
        make_example(nlp, "Nothing to see here.", []),
    ]
    outputs = [list(augment(nlp, eg)) for eg in examples * 5]
    swapped_names = set()
    for eg, out in zip(examples * 5, outputs):
        assert out[0] is eg, "the original example is always kept"
        if not eg.reference.ents:
            assert len(out) == 1
            continue
        assert len(out) == 2
        new = out[1].reference
        assert len(new.ents) == len(eg.reference.ents)
        assert {e.label_ for e in new.ents} == {"GADGET"}
        # the context around the entities is unchanged, and every non-entity token is O
        old_ctx = [t.text for t in eg.reference if not t.ent_type_]
        new_ctx = [t.text for t in new if not t.ent_type_]
        assert old_ctx == new_ctx
        assert all(t.ent_iob_ in ("B", "I", "O") for t in new)
        assert out[1].predicted.text == new.text
        swapped_names.update(e.text for e in new.ents)
    assert len(swapped_names - {"Pixel 7 Pro", "iPhone X", "Galaxy S21 Ultra"}) >= 5


def test_entity_swap_is_seeded_and_validates():
    nlp = spacy.blank("en")
    factory = registry.augmenters.get("spacy_task_pipes.entity_swap.v1")
    eg = make_example(nlp, "My Pixel 7 Pro died.", [(3, 14)])
    run = lambda seed: [list(factory(seed=seed)(nlp, eg))[-1].reference.text for _ in range(5)]
    assert run(3) == run(3)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        factory(level=1.5)

"""question_answerer inference: equivalence with transformers' QuestionAnsweringPipeline (4.x)
and with its post-processing written out in the tests (every version), multi-window decoding
against a reference written here, and bad input."""

from __future__ import annotations

import random
import warnings
from typing import Dict, List, Tuple

import numpy
import pytest
import spacy

from qa_fixtures import QA_REFERENCES, corpus_text, make_qa_nlp, qa_models, qa_reference, reference_pairs  # noqa: F401
from spacy_task_pipes.qa.component import (
    answer_questions,
    answer_questions_pipe,
    make_qa_doc,
)

MAX_SEQ, STRIDE, N_BEST, MAX_ANS = 384, 128, 20, 30


@pytest.fixture(scope="module")
def nlps(qa_models):
    return {kind: make_qa_nlp(path) for kind, path in qa_models.items()}


@pytest.fixture(scope="module", params=QA_REFERENCES)
def hf_pipelines(request, qa_models):
    """transformers' QuestionAnsweringPipeline (4.x) or its algorithm written out (any version)."""
    return {kind: qa_reference(request.param, path) for kind, path in qa_models.items()}


def _n_windows(tokenizer, question: str, context: str) -> int:
    enc = tokenizer(
        question, context, truncation="only_second", max_length=MAX_SEQ,
        stride=STRIDE, return_overflowing_tokens=True,
    )
    return len(enc["input_ids"])


def _run(nlp, pairs: List[Tuple[str, str]], batch_size: int = 16):
    docs = answer_questions_pipe(nlp, [(c, [q]) for q, c in pairs], batch_size=batch_size)
    return [doc._.answers[0] for doc in docs]


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
@pytest.mark.parametrize("impossible", [False, True])
def test_matches_hf_pipeline_single_window(kind, impossible, nlps, hf_pipelines):
    """With n_best covering the window our search is the pipeline's exhaustive one:
    same span, text and score on every single-window pair. With the default
    n_best=20 (run_qa-style candidates) answers may only differ where the pipeline's
    span uses a start/end outside the top 20, so ours then scores lower."""
    nlp = nlps[kind]
    qa = nlp.get_pipe("question_answerer")
    tokenizer = qa.tokenizer
    pairs = [p for p in reference_pairs() if _n_windows(tokenizer, *p) == 1]
    if impossible:
        pairs = pairs[:60]
    else:
        assert len(pairs) >= 200
    qa.cfg["handle_impossible_answer"] = impossible
    try:
        qa.cfg["n_best"] = MAX_SEQ
        exhaustive = _run(nlp, pairs)
        qa.cfg["n_best"] = N_BEST
        default = _run(nlp, pairs)
    finally:
        qa.cfg["handle_impossible_answer"] = False
        qa.cfg["n_best"] = N_BEST
    n_empty = n_diff = 0
    for (question, context), ans, ans20 in zip(pairs, exhaustive, default):
        ref = hf_pipelines[kind](
            question=question, context=context, max_answer_len=MAX_ANS, max_seq_len=MAX_SEQ,
            doc_stride=STRIDE, handle_impossible_answer=impossible,
        )
        assert (ans.start, ans.end) == (ref["start"], ref["end"]), (question, context, ans, ref)
        assert ans.text == ref["answer"] == context[ans.start : ans.end]
        assert ans.score == pytest.approx(ref["score"], rel=1e-4, abs=1e-7)
        n_empty += ans.text == ""
        if (ans20.start, ans20.end) != (ans.start, ans.end):
            n_diff += 1
            assert ans20.score < ans.score * (1 + 1e-4)
    assert n_diff <= 0.02 * len(pairs)
    if impossible:
        assert n_empty > 0  # the null answer is exercised


def _reference_answer(model, tokenizer, question: str, context: str, impossible: bool) -> Dict:
    """Straightforward reference: one window at a time, unpadded, Python loops."""
    import torch

    enc = tokenizer(
        question, context, truncation="only_second", max_length=MAX_SEQ, stride=STRIDE,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    best = None  # (score, window, s, e)
    null = None
    for w in range(len(enc["input_ids"])):
        inputs = {k: torch.tensor([enc[k][w]]) for k in tokenizer.model_input_names}
        with torch.no_grad():
            out = model(**inputs)
        seq = enc.sequence_ids(w)
        ctx = [i for i, s in enumerate(seq) if s == 1]
        allowed = ctx + [0]

        def probs(logits):
            x = logits[0].numpy().astype("float64")
            p = numpy.zeros_like(x)
            m = max(x[i] for i in allowed)
            for i in allowed:
                p[i] = numpy.exp(x[i] - m)
            return p / p.sum()

        ps, pe = probs(out.start_logits), probs(out.end_logits)
        null = ps[0] * pe[0] if null is None else min(null, ps[0] * pe[0])
        top_s = sorted(ctx, key=lambda i: -ps[i])[:N_BEST]
        top_e = sorted(ctx, key=lambda i: -pe[i])[:N_BEST]
        for s in top_s:
            for e in top_e:
                if s <= e < s + MAX_ANS:
                    if best is None or ps[s] * pe[e] > best[0]:
                        best = (ps[s] * pe[e], w, s, e)
    if best is None or (impossible and null > best[0]):
        return {"text": "", "start": 0, "end": 0, "score": null if impossible else 0.0}
    score, w, s, e = best
    encoding = enc.encodings[w]
    start = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=1)[0]
    end = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=1)[1]
    return {"text": context[start:end], "start": start, "end": end, "score": score}


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_multi_window_matches_reference(kind, nlps, qa_models):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(str(qa_models[kind])).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(qa_models[kind]))
    rng = random.Random(7)
    words = " ".join(corpus_text()).split()
    pairs = []
    # Contexts just below/above one window and up to ~5 windows.
    for n_ctx_tokens in [300, 360, 370, 380, 390, 400, 500, 640, 900, 1300]:
        question = "Who " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + "?"
        context = " ".join(rng.choice(words) for _ in range(n_ctx_tokens))
        ids = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
        # cut the context at a token boundary so the window count is controlled
        n = min(n_ctx_tokens, len(ids["input_ids"]))
        context = context[: ids["offset_mapping"][n - 1][1]]
        pairs.append((question, context))
    n_multi = sum(_n_windows(tokenizer, q, c) > 1 for q, c in pairs)
    assert n_multi >= 6
    for impossible in (False, True):
        qa = nlps[kind].get_pipe("question_answerer")
        qa.cfg["handle_impossible_answer"] = impossible
        try:
            ours = _run(nlps[kind], pairs, batch_size=4)
        finally:
            qa.cfg["handle_impossible_answer"] = False
        for (question, context), ans in zip(pairs, ours):
            ref = _reference_answer(model, tokenizer, question, context, impossible)
            assert (ans.start, ans.end, ans.text) == (ref["start"], ref["end"], ref["text"])
            assert ans.score == pytest.approx(ref["score"], rel=1e-4, abs=1e-7)


def test_outputs_spans_and_answers(nlps):
    nlp = nlps["bert"]
    context = "  Marie Curie was born in Warsaw in 1867; U.S.-based labs honoured her.  "
    doc = answer_questions(nlp, context, ["Where was she born?", "When?"])
    answers = doc._.answers
    assert [a.question for a in answers] == ["Where was she born?", "When?"]
    group = doc.spans["answers"]
    assert group.attrs["questions"] == [a.question for a in answers if a.text]
    assert group.attrs["scores"] == [a.score for a in answers if a.text]
    for ans, span in zip([a for a in answers if a.text], group):
        assert ans.text == context[ans.start : ans.end]
        assert span.start_char <= ans.start and span.end_char >= ans.end
        assert ans.span is not None and ans.span.text == span.text
    # Docs stay serializable (answers are plain data in user_data).
    from spacy.tokens import DocBin

    db = DocBin(store_user_data=True, docs=[doc])
    doc2 = list(DocBin(store_user_data=True).from_bytes(db.to_bytes()).get_docs(nlp.vocab))[0]
    assert [(a.text, a.start, a.score) for a in doc2._.answers] == [(a.text, a.start, a.score) for a in answers]


def test_default_questions_and_nlp_pipe(qa_models):
    nlp = make_qa_nlp(qa_models["distilbert"], default_questions=["Who ate?"])
    contexts = ["Bob ate the apple.", "Alice ate a pear in São Paulo.", "Москва является столицей."]
    docs = list(nlp.pipe([make_qa_doc(nlp, c, ["Where?"]) for c in contexts], batch_size=2))
    single = [answer_questions(nlp, c, ["Where?"]) for c in contexts]
    for doc, ref in zip(docs, single):
        assert [a.question for a in doc._.answers] == ["Where?", "Who ate?"]
        assert [(a.text, a.start, a.end) for a in doc._.answers] == [
            (a.text, a.start, a.end) for a in ref._.answers
        ]
        for a, b in zip(doc._.answers, ref._.answers):
            assert a.score == pytest.approx(b.score, rel=1e-4)
    plain = nlp("Bob ate the apple.")  # plain text: default questions only
    assert [a.question for a in plain._.answers] == ["Who ate?"]


def test_predict_runs_in_eval_mode_and_leaves_the_model_in_eval_mode(qa_models):
    """Answers do not depend on dropout (BERT default 0.1): a model left in train mode is put in eval
    mode once and stays there (thinc's shim switches it back to train mode, i.e. dropout on, after
    every call, which a concurrent caller would see mid-forward); training switches it back."""
    from spacy_task_pipes.hf import get_hf_shim

    nlp = make_qa_nlp(qa_models["bert"])
    hf_model = get_hf_shim(nlp.get_pipe("question_answerer").model).hf_objects.transformer
    context, questions = "Marie Curie was born in Warsaw in 1867.", ["Where was she born?", "When?"]
    hf_model.eval()
    first = [(a.text, a.score) for a in answer_questions(nlp, context, questions)._.answers]
    assert not hf_model.training
    hf_model.train()
    again = [(a.text, a.score) for a in answer_questions(nlp, context, questions)._.answers]
    assert not hf_model.training
    assert again == first


def test_bad_input_does_not_break_the_batch(nlps):
    nlp = nlps["bert"]
    good = [("Marie Curie was born in Warsaw.", ["Where was she born?"]), ("Bob ate.", ["Who ate?"])]
    huge = ("Zoë met José at the café in Zürich. " * 3000)[:100_000]
    items = [
        good[0],
        ("", ["Anything?"]),
        ("   \n\t ", ["Anything?"]),
        ("No questions here.", []),
        ("Empty question.", ["", "   "]),
        ("Long question.", ["why " * 400]),
        (huge, ["Who met José?"]),
        good[1],
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(answer_questions_pipe(nlp, items, batch_size=8))
    assert len(docs) == len(items)
    assert any("question 0 has" in str(w.message) for w in caught)
    alone = [answer_questions(nlp, c, q) for c, q in good]
    for doc, ref in zip([docs[0], docs[-1]], alone):
        assert [(a.text, a.start) for a in doc._.answers] == [(a.text, a.start) for a in ref._.answers]
        assert doc._.answers[0].text
    for doc in docs[1:3]:
        assert [a.text for a in doc._.answers] == [""]
        assert len(doc.spans["answers"]) == 0
    assert docs[3]._.answers == []
    assert [a.text for a in docs[4]._.answers] == ["", ""]
    assert [a.text for a in docs[5]._.answers] == [""]
    big = docs[6]._.answers[0]
    assert big.text and big.text == huge[big.start : big.end]


def test_missing_local_model_dir_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "question_answerer",
        config={"model": {"@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(missing)}},
    )
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        nlp.initialize()


def test_invalid_settings_raise():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="doc_stride"):
        nlp.add_pipe("question_answerer", config={"doc_stride": 400})


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [None, "float16", "bfloat16"])
def test_gpu_matches_cpu_and_frees_memory(qa_models, dtype):
    import torch
    from thinc.api import require_cpu

    pairs = reference_pairs(n_random=40)
    cpu = _run(make_qa_nlp(qa_models["bert"]), pairs)
    spacy.require_gpu()
    try:
        cfg = {} if dtype is None else {"model": {
            "@architectures": "spacy_task_pipes.QuestionAnswering.v1", "name": str(qa_models["bert"]),
            "mixed_precision": True, "mixed_precision_dtype": dtype}}
        nlp = make_qa_nlp(qa_models["bert"], **cfg)
        _run(nlp, pairs[:4])  # warm up
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        gpu = _run(nlp, pairs)
        torch.cuda.synchronize()
        assert torch.cuda.memory_allocated() <= before  # nothing kept after the batch
        same = sum((a.start, a.end) == (b.start, b.end) for a, b in zip(gpu, cpu))
        if dtype is None:
            assert same == len(pairs)
            for a, b in zip(gpu, cpu):
                assert a.score == pytest.approx(b.score, rel=1e-3)
        else:
            assert same >= 0.8 * len(pairs)
    finally:
        require_cpu()

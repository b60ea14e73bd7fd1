"""translator / summarizer training: the update() loss against Hugging Face's own,
corpus readers and DocBin conversion, scorers against sacreBLEU / rouge-score,
`spacy debug config`, and (slow) `spacy train` reproducing its training targets."""

from __future__ import annotations

import csv

import pytest
import spacy
import srsly
import torch
from thinc.api import Adam
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from conftest import ROOT
from seq2seq_fixtures import make_seq2seq_nlp, seq2seq_models  # noqa: F401
from spacy_task_pipes.seq2seq.data import (
    convert_to_docbin,
    create_parallel_text_corpus,
    create_seq2seq_corpus,
    create_summarization_corpus,
    summarization_scores,
    translation_scores,
)

PAIRS = [
    ("El perro come carne.", "O cachorro come carne."),
    ("Hoy hace calor.", "Hoje está calor."),
    ("Mi hermana vive en Madrid.", "Minha irmã mora em Madrid."),
    ("La casa es azul.", "A casa é azul."),
    ("¿Dónde está la estación?", "Onde fica a estação?"),
    ("Vamos a la playa.", "Vamos à praia."),
    ("El gato bebe leche.", "O gato bebe leite."),
    ("Tiene un jardín con flores.", "Tem um jardim com flores."),
    ("Trabaja en un hospital.", "Trabalha em um hospital."),
    ("Está cerca del parque.", "Fica perto do parque."),
]


def examples_for(nlp, pairs, field="translation"):
    from spacy.training import Example

    out = []
    for source, target in pairs:
        ref = nlp.make_doc(source)
        setattr(ref._, field, target)
        out.append(Example(nlp.make_doc(source), ref))
    return out


# ------------------------------------------------------------------ update


def test_update_loss_equals_hf_cross_entropy(seq2seq_models):
    """The loss of update() (no optimizer step) is the token-mean cross-entropy that
    the HF model computes from labels, also when the examples are split into batches."""
    prefix = "translate Spanish to Portuguese: "
    nlp = make_seq2seq_nlp("translator", seq2seq_models["t5"], prefix=prefix, update_token_budget=40)
    pipe = nlp.get_pipe("translator")
    loss = pipe.update(examples_for(nlp, PAIRS))["translator"]
    tok = AutoTokenizer.from_pretrained(str(seq2seq_models["t5"]))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(seq2seq_models["t5"]))
    total, n_tokens = 0.0, 0
    for source, target in PAIRS:  # one pair at a time: no padding at all
        enc = tok(prefix + source, return_tensors="pt")
        labels = tok(text_target=target, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            total += model(**enc, labels=labels).loss.item() * labels.shape[1]
        n_tokens += labels.shape[1]
    assert loss == pytest.approx(total / n_tokens, rel=1e-4)


def test_chunked_update_is_the_update_of_the_whole_batch(seq2seq_models, monkeypatch):
    """update_token_budget only changes how a step is split: loss and gradients are those of
    the whole batch padded to its longest example (as the Trainer computes them)."""
    from spacy_task_pipes.hf import get_hf_shim
    from spacy_task_pipes.seq2seq import base

    chunks = []
    real_batches = base.batches_by_token_budget

    def counted(*args):
        found = real_batches(*args)
        chunks.append([len(b) for b in found])
        return found

    monkeypatch.setattr(base, "batches_by_token_budget", counted)
    results = []
    for budget in (100_000, 40):
        nlp = make_seq2seq_nlp("translator", seq2seq_models["t5"], update_token_budget=budget,
                               use_training_dropout=True)
        pipe = nlp.get_pipe("translator")
        loss = pipe.update(examples_for(nlp, PAIRS), drop=0.0)["translator"]
        model = get_hf_shim(pipe.model).hf_objects.transformer
        results.append((loss, chunks[-1], {n: p.grad.clone() for n, p in model.named_parameters()
                                           if p.grad is not None}))
    (whole_loss, whole_chunks, whole), (chunked_loss, chunked_chunks, chunked) = results
    assert whole_chunks == [len(PAIRS)] and len(chunked_chunks) > 1 and sum(chunked_chunks) == len(PAIRS)
    assert chunked_loss == pytest.approx(whole_loss, rel=1e-5)
    assert whole.keys() == chunked.keys() and whole
    # float32 sums in another order: compared with the size of the whole gradient (a tensor whose
    # true gradient is about 0 is rounding noise either way)
    scale = torch.sqrt(sum(torch.sum(g * g) for g in whole.values()))
    diff = torch.sqrt(sum(torch.sum((chunked[n] - g) ** 2) for n, g in whole.items()))
    assert diff <= 1e-4 * scale, (float(diff), float(scale))


def test_update_learns_the_pairs(seq2seq_models):
    nlp = make_seq2seq_nlp("translator", seq2seq_models["t5-train"], num_beams=1, max_new_tokens=16,
                           prefix="translate Spanish to Portuguese: ")
    pipe = nlp.get_pipe("translator")
    examples = examples_for(nlp, PAIRS[:4])
    opt = Adam(0.01)
    losses = [pipe.update(examples, sgd=opt)["translator"] for _ in range(60)]
    assert losses[-1] < losses[0] / 10
    assert [d._.translation for d in nlp.pipe([s for s, _ in PAIRS[:4]])] == [t for _, t in PAIRS[:4]]
    scores = nlp.evaluate(examples)
    assert scores["translation_bleu"] == pytest.approx(1.0) and scores["translation_chrf"] == pytest.approx(1.0)


def test_a_built_bart_of_a_t5_shape_trains_in_the_translator(tmp_path):
    """make_seq2seq_model / benchmark_training --arch bart: the BART of a T5 size's shape loads in
    the translator, its update() loss is HF's cross-entropy, and it learns the pairs."""
    import json

    from seq2seq_fixtures import corpus_lines
    from spacy_task_pipes.bench.seq2seq import build_seq2seq_model_dir

    model_dir = build_seq2seq_model_dir(corpus_lines(), tmp_path / "bart", arch="bart", size="tiny", vocab_size=300)
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model_type"], config["d_model"], config["encoder_layers"], config["decoder_layers"],
            config["encoder_ffn_dim"]) == ("bart", 128, 2, 2, 512)
    nlp = make_seq2seq_nlp("translator", model_dir, num_beams=1, max_new_tokens=16, use_training_dropout=True)
    pipe = nlp.get_pipe("translator")
    examples = examples_for(nlp, PAIRS[:4])
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir))
    total, n_tokens = 0.0, 0
    for source, target in PAIRS[:4]:
        labels = tok(text_target=target, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            total += model(**tok(source, return_tensors="pt"), labels=labels).loss.item() * labels.shape[1]
        n_tokens += labels.shape[1]
    assert pipe.update(examples, drop=0.0)["translator"] == pytest.approx(total / n_tokens, rel=1e-4)
    opt = Adam(0.003)
    losses = [pipe.update(examples, sgd=opt, drop=0.1)["translator"] for _ in range(80)]
    assert losses[-1] < losses[0] / 10
    assert [d._.translation for d in nlp.pipe([s for s, _ in PAIRS[:4]])] == [t for _, t in PAIRS[:4]]


def test_update_without_target_names_the_field(seq2seq_models):
    nlp = make_seq2seq_nlp("summarizer", seq2seq_models["t5"])
    examples = examples_for(nlp, PAIRS[:2], field="translation")  # wrong field
    with pytest.raises(ValueError, match=r"doc\._\.summary"):
        nlp.get_pipe("summarizer").update(examples)


# ----------------------------------------------------------------- readers


def test_readers_parallel_tsv_jsonl_csv_and_docbin(tmp_path):
    import spacy_task_pipes.seq2seq.translator  # noqa: F401  (extensions)

    nlp = spacy.blank("xx")
    src, tgt = tmp_path / "train.spa", tmp_path / "train.por"
    src.write_text("\n".join(s for s, _ in PAIRS) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(t for _, t in PAIRS) + "\n", encoding="utf-8")
    tsv = tmp_path / "train.tsv"
    tsv.write_text("".join(f"{s}\t{t}\textra\n" for s, t in PAIRS), encoding="utf-8")
    jsonl = tmp_path / "train.jsonl"
    srsly.write_jsonl(jsonl, [{"source": s, "target": t, "id": i} for i, (s, t) in enumerate(PAIRS)])
    expected = [(s, t) for s, t in PAIRS]

    def pairs(reader):
        egs = list(reader(nlp))
        assert all(eg.predicted.text == eg.reference.text for eg in egs)
        return [(eg.reference.text, eg.reference._.translation) for eg in egs]

    assert pairs(create_parallel_text_corpus(src, tgt)) == expected
    assert pairs(create_seq2seq_corpus(tsv)) == expected
    assert pairs(create_seq2seq_corpus(jsonl)) == expected
    assert pairs(create_seq2seq_corpus(jsonl, limit=3)) == expected[:3]
    out = tmp_path / "train.spacy"
    assert convert_to_docbin(nlp, out, field="translation", source_path=src, target_path=tgt) == len(PAIRS)
    assert pairs(create_seq2seq_corpus(out)) == expected
    # spaCy's own corpus reader keeps the target too
    from spacy.training import Corpus

    assert [eg.reference._.translation for eg in Corpus(out)(nlp)] == [t for _, t in PAIRS]
    # errors name the file and the fix
    short = tmp_path / "short.por"
    short.write_text("uno\n", encoding="utf-8")
    with pytest.raises(ValueError, match="short.por has 1"):
        list(create_parallel_text_corpus(src, short)(nlp))
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        list(create_seq2seq_corpus(tmp_path / "missing.tsv")(nlp))
    bad = tmp_path / "bad.jsonl"
    srsly.write_jsonl(bad, [{"text": "x", "summary": "y"}])
    with pytest.raises(ValueError, match=r"bad.jsonl, line 1.*source_field"):
        list(create_seq2seq_corpus(bad)(nlp))


def test_summarization_reader_csv_jsonl_fields(tmp_path):
    import spacy_task_pipes.seq2seq.summarizer  # noqa: F401

    nlp = spacy.blank("en")
    rows = [{"fname": f"d{i}", "dialogue": f"#Person1#: Hi {i}.\n#Person2#: Bye.", "summary": f"They greet {i}."}
            for i in range(3)]
    jsonl = tmp_path / "dialogsum.jsonl"
    srsly.write_jsonl(jsonl, rows)
    csv_path = tmp_path / "data.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["article", "highlights"])
        writer.writeheader()
        for r in rows:
            writer.writerow({"article": r["dialogue"], "highlights": r["summary"]})
    got = [(eg.reference.text, eg.reference._.summary) for eg in create_summarization_corpus(jsonl)(nlp)]
    assert got == [(r["dialogue"], r["summary"]) for r in rows]
    got_csv = [(eg.reference.text, eg.reference._.summary)
               for eg in create_summarization_corpus(csv_path, text_field="article", summary_field="highlights")(nlp)]
    assert got_csv == got


def test_readers_on_shared_data(shared_data):
    import spacy_task_pipes.seq2seq.summarizer  # noqa: F401
    import spacy_task_pipes.seq2seq.translator  # noqa: F401

    nlp = spacy.blank("xx")
    tatoeba = shared_data / "tatoeba"
    egs = list(create_parallel_text_corpus(
        tatoeba / "por-spa.tatoeba-test-v2021-08-07.spa", tatoeba / "por-spa.tatoeba-test-v2021-08-07.por", limit=5)(nlp))
    assert len(egs) == 5 and all(eg.reference._.translation for eg in egs)
    first_por = (tatoeba / "por-spa.tatoeba-test-v2021-08-07.por").read_text(encoding="utf-8").splitlines()[0]
    assert egs[0].reference._.translation == first_por
    dialog = list(create_summarization_corpus(shared_data / "dialogsum" / "dialogsum.dev.jsonl", limit=3)(nlp))
    assert len(dialog) == 3 and dialog[0].reference.text.startswith("#Person1#")
    assert dialog[0].reference._.summary


# ------------------------------------------------------------------ scorers


def test_translation_scores_match_sacrebleu():
    import sacrebleu

    preds = ["O cachorro come carne.", "Hoje está muito calor.", ""]
    refs = ["O cachorro come carne.", "Hoje está calor.", "Vamos à praia."]
    scores = translation_scores(preds, refs)
    assert scores["translation_bleu"] == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score / 100)
    assert scores["translation_chrf"] == pytest.approx(sacrebleu.corpus_chrf(preds, [refs]).score / 100)
    assert translation_scores(refs, refs)["translation_bleu"] == pytest.approx(1.0)
    assert translation_scores([], [])["translation_bleu"] is None


def test_summarization_scores_match_rouge_score():
    from rouge_score import rouge_scorer

    preds = ["It slept all day. The cats were sitting on the mat.", "Bob buys apples"]
    refs = ["A cat sat on the mat. It slept all day.", "Bob bought three apples."]
    scores = summarization_scores(preds, refs)
    ref_scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    direct = [ref_scorer.score(r.replace(". ", ".\n"), p.replace(". ", ".\n")) for p, r in zip(preds, refs)]
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert scores[f"summary_{key}"] == pytest.approx(sum(d[key].fmeasure for d in direct) / 2)
    # Lsum sees the sentences: it differs from rougeL on the two-sentence pair
    assert direct[0]["rougeLsum"].fmeasure != direct[0]["rougeL"].fmeasure
    assert scores["summary_gen_len"] == pytest.approx((11 + 3) / 2)


# ------------------------------------------------------------------ configs


@pytest.mark.parametrize("name", ["translate", "summarize"])
def test_debug_config_passes(name, seq2seq_models, tmp_path):
    import spacy_task_pipes.seq2seq.summarizer  # noqa: F401
    import spacy_task_pipes.seq2seq.translator  # noqa: F401
    from spacy.cli.debug_config import debug_config

    data = tmp_path / "data.jsonl"
    srsly.write_jsonl(data, [{"source": "a", "target": "b", "dialogue": "a", "summary": "b"}])
    debug_config(ROOT / "configs" / f"{name}.cfg", overrides={
        "paths.train": str(data), "paths.dev": str(data), "paths.seq2seq_model": str(seq2seq_models["t5"]),
    })
    config = spacy.util.load_config(ROOT / "configs" / f"{name}.cfg")
    pipe = "translator" if name == "translate" else "summarizer"
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == [pipe]
    assert nlp.config.to_str() == spacy.util.load_model_from_config(config).config.to_str()  # config is filled


# ------------------------------------------------------------- spacy train


@pytest.mark.slow
def test_spacy_train_reproduces_training_targets(seq2seq_models, tmp_path, monkeypatch):
    import spacy_task_pipes.seq2seq.translator  # noqa: F401  (registrations, as the entry points will)
    from spacy.cli.train import train

    train_path = tmp_path / "train.jsonl"
    srsly.write_jsonl(train_path, [{"source": s, "target": t} for s, t in PAIRS])
    out = tmp_path / "training"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    train(
        ROOT / "configs" / "translate.cfg",
        out,
        overrides={
            "paths.train": str(train_path),
            "paths.dev": str(train_path),
            "paths.seq2seq_model": str(seq2seq_models["t5-train"]),
            "components.translator.prefix": "translate Spanish to Portuguese: ",
            "components.translator.num_beams": 1,
            "components.translator.max_new_tokens": 24,
            "training.max_steps": 200,
            "training.eval_frequency": 50,
            "training.dropout": 0.0,
            "training.batcher.size": 10,
            "training.optimizer.learn_rate": 0.01,
        },
    )
    meta = srsly.read_json(out / "model-best" / "meta.json")
    assert meta["performance"]["translation_bleu"] == pytest.approx(1.0)
    nlp = spacy.load(out / "model-best")
    assert [d._.translation for d in nlp.pipe([s for s, _ in PAIRS])] == [t for _, t in PAIRS]
    assert not [p for p in (out / "model-best").rglob("*.bin") if "translator" in p.parts]

"""The Hugging Face stack (issue #18): the task components run on the project's own shim on
thinc's PyTorchShim, on transformers 4.45+ and 5, without spacy-transformers. One test per
difference between the versions that would otherwise go unnoticed."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import spacy
import torch

from qa_fixtures import corpus_text, make_qa_nlp, qa_models  # noqa: F401
from seq2seq_fixtures import make_seq2seq_nlp, seq2seq_models  # noqa: F401
from spacy_task_pipes.hf import check_tokenizer, get_hf_shim, t5_tokenizer, wordpiece_tokenizer

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "components" / "spacy_task_pipes"


def test_no_module_of_the_package_imports_spacy_transformers():
    found = []
    for file in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{file.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "spacy_transformers"]
    assert found == []


def test_the_task_components_load_with_spacy_transformers_unimportable(tmp_path, qa_models, seq2seq_models):
    """Build, save and load a QA + translator pipeline in a process where importing
    spacy_transformers fails. (Where it is installed, spaCy loads every factory entry point,
    its own included, whenever a pipeline is made: the default environment, which does not
    have it, is where this runs.)"""
    if importlib.util.find_spec("spacy_transformers") is not None:
        pytest.skip("spacy-transformers is installed: spaCy imports its entry points for every pipeline")
    nlp = make_qa_nlp(qa_models["bert"])
    nlp.add_pipe("translator", config={"model": {"name": str(seq2seq_models["t5"])}, "num_beams": 1,
                                       "max_new_tokens": 4})
    nlp.get_pipe("translator").initialize()
    nlp.to_disk(tmp_path / "pipeline")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["spacy_transformers"] = None  # any import of it raises ImportError
        import spacy
        from spacy_task_pipes.qa.component import answer_questions
        nlp = spacy.load({str(tmp_path / "pipeline")!r})
        doc = answer_questions(nlp, "Marie Curie was born in Warsaw.", ["Where was she born?"])
        assert doc._.answers[0].text and isinstance(doc._.translation, str)
        assert not any(m.startswith("spacy_transformers.") for m in sys.modules)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ---------------------------------------------------- 1. vocab_file= ignored in 5


def test_wordpiece_builder_keeps_the_whole_vocabulary(tmp_path):
    """BertTokenizerFast(vocab_file=...) gives a 5-token tokenizer in transformers 5; ours
    keeps every entry, tokenizes like BERT (lower-casing, accents, ## pieces) and saves a
    folder both versions load."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "fox", "cafe", "##s", "j", "##o", "##s", "##e"]
    tokenizer = wordpiece_tokenizer(vocab, lowercase=True)
    assert len(tokenizer) == len(set(vocab))
    assert tokenizer.tokenize("The quick Foxs José café") == ["the", "quick", "fox", "##s", "j", "##o", "##s", "##e", "cafe"]
    assert tokenizer("the fox", "quick")["input_ids"] == [2, 5, 7, 3, 6, 3]
    cased = wordpiece_tokenizer(vocab, lowercase=False)
    assert cased.tokenize("The fox") == ["[UNK]", "fox"]
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path)
    assert len(again) == len(tokenizer) and again.tokenize("the foxs") == ["the", "fox", "##s"]


def test_fixture_tokenizers_know_their_text(qa_models, seq2seq_models):
    """The tokenizers the tests and make-*-tiny build: a real vocabulary, few unknown tokens."""
    from transformers import AutoTokenizer

    from seq2seq_fixtures import corpus_lines

    for path, texts in [(qa_models["bert"], corpus_text()), (qa_models["distilbert"], corpus_text()),
                        (seq2seq_models["t5"], corpus_lines())]:
        tokenizer = AutoTokenizer.from_pretrained(path)
        assert len(tokenizer) > 100, path
        ids = [i for line in texts[:50] for i in tokenizer(line, add_special_tokens=False)["input_ids"]]
        assert sum(i == tokenizer.unk_token_id for i in ids) < 0.05 * len(ids), path


def test_t5_builder_converts_the_sentencepiece_model(seq2seq_models):
    import sentencepiece as spm

    spm_files = list(seq2seq_models["t5"].parent.glob("t5spm.model"))
    assert spm_files
    sp = spm.SentencePieceProcessor(model_file=str(spm_files[0]))
    tokenizer = t5_tokenizer(spm_files[0])
    assert len(tokenizer) == sp.get_piece_size()
    text = "El perro come pan en la casa."
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == sp.encode(text)


def _bert_folder_with_vocabulary(tmp_path: Path, qa_models, vocab) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(qa_models["bert"], folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        (folder / name).unlink(missing_ok=True)
    wordpiece_tokenizer(vocab).save_pretrained(folder)
    return folder


def test_initialize_refuses_a_tokenizer_of_a_handful_of_entries(tmp_path, qa_models):
    """What transformers 5 makes of vocab_file=: only the special tokens. Training on it would
    see nothing but [UNK]; initialize says so and names the setting."""
    folder = _bert_folder_with_vocabulary(tmp_path, qa_models, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with pytest.raises(ValueError, match=r"\[components\.question_answerer\.model\] name: the tokenizer has only 5 entries"):
        make_qa_nlp(folder)


def test_initialize_refuses_a_tokenizer_that_knows_none_of_the_training_text(tmp_path, qa_models):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"unused{i}" for i in range(40)]
    folder = _bert_folder_with_vocabulary(tmp_path, qa_models, vocab)
    with pytest.raises(ValueError, match=r"turns all of the 1 texts checked into unknown tokens"):
        make_qa_nlp(folder)
    tokenizer = wordpiece_tokenizer(vocab + ["marie", "."], lowercase=True)
    check_tokenizer(tokenizer, ["Marie ."], "[x]")  # one known token is enough


# ------------------------------------ 2. a folder without tokenizer files


def test_a_model_folder_without_tokenizer_files_is_refused_at_initialize(tmp_path, qa_models):
    """transformers 5 answers AutoTokenizer.from_pretrained on such a folder with a 5-token
    BertTokenizer instead of an error."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(qa_models["bert"] / name, folder / name)
    with pytest.raises(FileNotFoundError, match=r"No tokenizer files in .*model: expected one of tokenizer\.json"):
        make_qa_nlp(folder)


# ------------------------------------------------ 3. out-of-range ids in decode


def test_ids_past_the_vocabulary_are_dropped_when_decoding(seq2seq_models):
    """M2M100's embedding matrix is larger than its tokenizer: transformers 5 decodes those ids
    to a literal "<unk>", 4.x dropped them; we drop them on both (so torch and CTranslate2
    agree)."""
    nlp = make_seq2seq_nlp("translator", seq2seq_models["m2m100"], src_lang="es", tgt_lang="pt", num_beams=1)
    pipe = nlp.get_pipe("translator")
    tokenizer = pipe.tokenizer
    ids = tokenizer("el perro come pan", add_special_tokens=False)["input_ids"]
    vocab_size = pipe.hf_model.config.vocab_size
    assert vocab_size > len(tokenizer)
    assert pipe.decode(ids + [len(tokenizer), vocab_size - 1]) == pipe.decode(ids)
    assert "<unk>" not in pipe.decode(ids + [len(tokenizer) + 1])


# -------------------------------------- 4. progress bars' lock held by a dead child


def test_saving_and_loading_never_wait_on_a_lock_a_killed_child_held(tmp_path, qa_models):
    """transformers 5's progress bars (from_pretrained, save_pretrained) take tqdm's write lock,
    which is shared with forked children: a child killed while holding it made the parent's
    next load wait forever. Our save and load of pipelines take no such lock."""
    nlp = make_qa_nlp(qa_models["bert"])
    nlp.to_disk(tmp_path / "pipeline")
    script = textwrap.dedent(f"""
        import os, signal, spacy
        from tqdm.auto import tqdm
        lock = tqdm.get_lock()
        pid = os.fork()
        if pid == 0:
            lock.acquire()
            os.kill(os.getpid(), signal.SIGKILL)
        os.waitpid(pid, 0)
        nlp = spacy.load({str(tmp_path / "pipeline")!r})
        nlp.to_disk({str(tmp_path / "again")!r})
        spacy.load({str(tmp_path / "again")!r})
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ------------------------------------------------------------- the shim's contract


def test_shim_bytes_round_trip_and_grad_scaler(qa_models):
    from spacy_task_pipes.hf import SafetensorsHFShim
    from thinc.api import PyTorchShim

    nlp = make_qa_nlp(qa_models["bert"])
    shim = get_hf_shim(nlp.get_pipe("question_answerer").model)
    assert isinstance(shim, SafetensorsHFShim) and isinstance(shim, PyTorchShim)
    assert type(shim).__mro__[1] is PyTorchShim
    assert shim._grad_scaler._enabled is False  # enabled with mixed precision only
    data = shim.to_bytes()
    before = {k: v.clone() for k, v in shim._model.state_dict().items()}
    with torch.no_grad():
        for param in shim._model.parameters():
            param.add_(1.0)
    shim.from_bytes(data)
    after = shim._model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    # tied weights stay one tensor after a load (T5: shared, encoder/decoder embeddings, lm_head)


def test_tokenizer_per_thread_is_a_copy(qa_models):
    import threading

    nlp = make_qa_nlp(qa_models["bert"])
    shim = get_hf_shim(nlp.get_pipe("question_answerer").model)
    main = shim.tokenizer
    assert shim.tokenizer is main
    seen = []
    thread = threading.Thread(target=lambda: seen.extend([shim.tokenizer, shim.tokenizer]))
    thread.start()
    thread.join()
    assert seen[0] is seen[1] and seen[0] is not main
    assert seen[0]("Where?")["input_ids"] == main("Where?")["input_ids"]


def test_tied_weights_stay_one_parameter_after_loading(tmp_path, seq2seq_models):
    """T5 ties its embeddings to the LM head: after a load they are one Parameter again (two
    copies would each get their own update in training)."""
    nlp = make_seq2seq_nlp("translator", seq2seq_models["t5"], num_beams=1)
    nlp.to_disk(tmp_path / "pipeline")
    model = get_hf_shim(spacy.load(tmp_path / "pipeline").get_pipe("translator").model)._model
    assert model.shared.weight is model.encoder.embed_tokens.weight is model.decoder.embed_tokens.weight
    if model.config.tie_word_embeddings:
        assert model.lm_head.weight is model.shared.weight
    assert all(p.dtype == torch.float32 and p.requires_grad for p in model.parameters())

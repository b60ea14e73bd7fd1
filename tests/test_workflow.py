"""End to end: `spacy project run all` in a temp copy of the project, then spacy.load the package."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from spacy_task_pipes.bench.seq2seq import hf_pipeline_unavailable

from conftest import ROOT

PACKAGE = "ner_gadget_e2e"
QA_PACKAGE = "qa_e2e"


def _run(args, cwd, env=None):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_project_deps_and_outputs_survive_variable_interpolation():
    """confection joins adjacent list items that are only "${vars...}" into one "a, b" string, so
    weasel would look for a file called "a, b" (and `spacy project run` fail). Every declared
    dependency and output must stay one path after loading, with the default vars and overrides."""
    import srsly
    from weasel.util import load_project_config

    raw = {cmd["name"]: cmd for cmd in srsly.read_yaml(ROOT / "project.yml")["commands"]}
    overrides = {"vars.qa_data": "/data/v1.json", "vars.qa_v2_data": "/data/v2.json",
                 "vars.translation_source": "/data/x.spa", "vars.translation_target": "/data/x.por"}
    for over in ({}, overrides):
        for cmd in load_project_config(ROOT, overrides=over)["commands"]:
            for key in ("deps", "outputs", "outputs_no_cache"):
                assert len(cmd.get(key, [])) == len(raw[cmd["name"]].get(key, [])), (cmd["name"], key, cmd.get(key))
                assert not any(", " in path for path in cmd.get(key, [])), (cmd["name"], key, cmd[key])


@pytest.fixture
def project_copy(tmp_path):
    dest = tmp_path / "project"
    dest.mkdir()
    # what a clone has: the package/package-qa steps also build the library's own wheel
    for name in ("project.yml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest)
    for folder in ("configs", "scripts", "assets", "components"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "conll2002", "*.egg-info"))
    yield dest
    for name in (PACKAGE, QA_PACKAGE):
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", f"en_{name}"], capture_output=True)


@pytest.mark.slow
def test_project_run_all_then_spacy_load(project_copy):
    env = dict(os.environ, SPACY_CONFIG_OVERRIDES="--training.max_steps=400 --training.eval_frequency=100")
    proc = _run(
        [sys.executable, "-m", "spacy", "project", "run", "all", str(project_copy),
         "--vars.name", PACKAGE, "--vars.bench_repeats", "1", "--vars.bench_copies", "1"],
        cwd=project_copy,
        env=env,
    )
    out = proc.stdout
    steps = ("check-vars", "convert", "filter-patterns", "bootstrap", "debug-data", "train", "self-train", "evaluate",
             "package", "summary")
    for step in steps:
        assert f"= {step} =" in out, f"step {step} did not run"
    assert "= benchmark =" not in out  # timing runs are the benchmarks workflow's (#23)
    assert f"packages/en_{PACKAGE}-0.1.0" in out and "training/en/ner_test_metrics.json" in out  # the summary
    _run([sys.executable, "-m", "spacy", "project", "run", "benchmark", str(project_copy),
          "--vars.bench_repeats", "1", "--vars.bench_copies", "1"], cwd=project_copy, env=env)
    # the English patterns are all precise enough on the gold dev set: the filter keeps every line
    report = json.loads((project_copy / "corpus/en/patterns.report.json").read_text())
    assert report["dropped_ids"] == [] and report["kept_lines"] == report["patterns"] == 80
    stats = json.loads((project_copy / "corpus/en/bootstrap_stats.json").read_text())
    assert stats["texts"] >= 600 and stats["entities_per_label"]["GADGET"] > 500
    metrics = json.loads((project_copy / "training/en/ner_test_metrics.json").read_text())
    assert metrics["gold_entities"] > 100
    assert 0.0 <= metrics["model"]["f"] <= 1.0 and "GADGET" in metrics["model"]["per_label"]
    assert (project_copy / "training/en/ner_test_predictions.html").stat().st_size > 1000
    speed = json.loads((project_copy / "training/en/ner_speed.json").read_text())
    assert speed["ours_wps_median"] > 0 and speed["ratio_ours_vs_init_config"] > 0
    # The installed package loads by name in a fresh interpreter and tags a gadget
    code = (
        "import json, spacy; nlp = spacy.load('en_%s');"
        "doc = nlp('I returned my iPhone 13 and bought a Galaxy S22 Ultra instead.');"
        "print(json.dumps([[e.text, e.label_, e._.confidence, e.ent_id_] for e in doc.ents] + [nlp.pipe_names]))"
        % PACKAGE
    )
    *ents, pipe_names = json.loads(_run([sys.executable, "-c", code], cwd=project_copy).stdout.strip().splitlines()[-1])
    assert ["iPhone 13", "GADGET"] in [e[:2] for e in ents] or ["Galaxy S22 Ultra", "GADGET"] in [e[:2] for e in ents], ents
    # the packaged pipeline scores its entities, above the threshold picked on the gold dev set
    calibration = json.loads((project_copy / "training/en/ner_calibration.json").read_text())
    # (an entity of the patterns' dictionary, where the gold dev set kept it, has a pattern id and no score)
    dictionary = json.loads((project_copy / "training/en/ner_dictionary.json").read_text())
    assert ("dictionary" in pipe_names) == dictionary["kept"] and set(dictionary["dev"]) == {"with", "without"}
    assert all(e[3] if e[2] is None else e[2] >= calibration["min_confidence"] for e in ents), ents
    assert "confidence >= 0.9" in proc.stdout  # evaluate prints P/R/F by confidence


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT with a WordPiece tokenizer trained here on the project's texts."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    texts = [json.loads(line)["text"] for line in (ROOT / "assets/en/raw_texts.jsonl").read_text().splitlines()]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=800, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    )
    path = tmp_path_factory.mktemp("tiny_bert")
    BertTokenizerFast(tokenizer_object=tok, do_lower_case=False).save_pretrained(path)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    BertForMaskedLM(config).save_pretrained(path)
    return path


@pytest.mark.slow
def test_transformer_workflow_with_local_model(project_copy, tiny_bert_dir):
    """all-gpu's commands with a local Hugging Face directory, here on CPU (--vars.gpu_id -1), offline."""
    pytest.importorskip("spacy_transformers", reason="all-gpu needs the trf extra (CI's trf leg runs this)")
    env = dict(os.environ, HF_HUB_OFFLINE="1",
               SPACY_CONFIG_OVERRIDES="--training.max_steps=20 --training.eval_frequency=10")
    _run(
        [sys.executable, "-m", "spacy", "project", "run", "all-gpu", str(project_copy),
         "--vars.trf_model", str(tiny_bert_dir), "--vars.gpu_id", "-1"],
        cwd=project_copy,
        env=env,
    )
    metrics = json.loads((project_copy / "training/en/ner_trf_test_metrics.json").read_text())
    assert metrics["gold_entities"] > 100 and "model" in metrics
    assert (project_copy / "training/en/ner_trf_learning_curve.png").stat().st_size > 10_000
    config = (project_copy / "training/en/ner_trf/model-best/config.cfg").read_text()
    assert f'name = "{tiny_bert_dir}"' in config


@pytest.mark.slow
def test_project_run_qa_with_local_models(project_copy, tmp_path):
    """The `qa` workflow (convert, train, evaluate, benchmark, package) offline on a tiny local
    DistilBERT and generated SQuAD files, then spacy.load of the installed package."""
    from qa_fixtures import get_tiny_qa_models, squad_file

    model = get_tiny_qa_models()["distilbert"]
    v1 = squad_file(tmp_path, n_articles=5, n_paragraphs=3, name="v1.json")
    v2 = squad_file(tmp_path, n_articles=2, n_paragraphs=2, impossible=True, name="v2.json")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               SPACY_CONFIG_OVERRIDES="--training.eval_frequency=10 --training.optimizer.learn_rate.warmup_steps=5")
    bench = ["--vars.qa_bench_model", str(model), "--vars.qa_bench_questions", "12", "--vars.bench_repeats", "1",
             "--vars.qa_bench_runners", "ours,hf_pipeline"]
    proc = _run(
        [sys.executable, "-m", "spacy", "project", "run", "qa", str(project_copy),
         "--vars.qa_model", str(model), "--vars.qa_data", str(v1), "--vars.qa_v2_data", str(v2),
         "--vars.qa_train_articles", "0:4", "--vars.qa_dev_articles", "4:", "--vars.qa_test_articles", "4:",
         "--vars.qa_v2_articles", ":", "--vars.qa_v2_questions", "9",
         "--vars.qa_max_steps", "30", "--vars.qa_max_seq_length", "64", "--vars.qa_doc_stride", "16",
         "--vars.qa_name", QA_PACKAGE],
        cwd=project_copy,
        env=env,
    )
    for step in ("convert-qa", "make-qa-tiny", "train-qa", "evaluate-qa", "package-qa", "summary"):
        assert f"= {step} =" in proc.stdout, f"step {step} did not run"
    assert "= benchmark-qa =" not in proc.stdout
    _run([sys.executable, "-m", "spacy", "project", "run", "benchmark-qa", str(project_copy), "--vars.qa_data", str(v1),
          *bench], cwd=project_copy, env=env)
    training = project_copy / "training/qa"
    # train on articles 0-3 (24 questions), score on article 4 (6 questions) and on the v2 subset
    assert json.loads((training / "squad_test.json").read_text())["questions"] == 6
    v2_metrics = json.loads((training / "squad_v2.json").read_text())
    assert v2_metrics["questions"] == 9
    for key in ("handle_impossible_answer=False", "handle_impossible_answer=True"):
        assert 0.0 <= v2_metrics[key]["f1"] <= 100.0
    assert "qa_f1" in json.loads((training / "metrics_test.json").read_text())
    assert (training / "answers_test.html").stat().st_size > 500
    speed = json.loads((training / "qa_speed.json").read_text())
    assert speed["questions"] == 12
    if hf_pipeline_unavailable() is None:  # transformers 4.x: QuestionAnsweringPipeline exists
        assert speed["agreement_with_hf_pipeline"]["exact"] == 1.0
    else:
        assert "removed in 5.0" in speed["skipped"]["hf_pipeline"] and speed["runners"] == ["ours"]
    # package-qa printed the answers of the installed package, a span of the check context
    checked = json.loads(proc.stdout[proc.stdout.index('{"pipeline"'):].splitlines()[0])
    assert checked["pipeline"] == ["question_answerer"] and len(checked["answers"]) == 1
    # and the package loads by name in a fresh, offline interpreter with its weights inside
    code = (
        "import json, spacy; from spacy_task_pipes.qa.component import answer_questions;"
        "nlp = spacy.load('en_%s'); doc = answer_questions(nlp, 'Bob lives in Cairo since 1990.', "
        "['Where does Bob live?', 'Who lives in Cairo?']);"
        "print(json.dumps([[a.question, a.text] for a in doc._.answers]))" % QA_PACKAGE
    )
    answers = json.loads(_run([sys.executable, "-c", code], cwd=tmp_path, env=env).stdout.strip().splitlines()[-1])
    assert [q for q, _ in answers] == ["Where does Bob live?", "Who lives in Cairo?"]
    assert all(text in "Bob lives in Cairo since 1990." for _, text in answers)


@pytest.mark.slow
def test_project_run_translation_and_summarization_with_local_model(project_copy, tmp_path):
    """The `translation` and `summarization` workflows (convert, spacy train, spacy evaluate)
    offline on a tiny local T5 and small generated files."""
    from seq2seq_fixtures import get_tiny_seq2seq_models, random_texts

    model = get_tiny_seq2seq_models()["t5-train"]
    texts = [" ".join(text.split()) for text in random_texts(24, seed=3)]
    src, tgt = tmp_path / "pairs.spa", tmp_path / "pairs.por"
    src.write_text("\n".join(texts[:12]) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(texts[12:]) + "\n", encoding="utf-8")
    dialogs = {}
    for split, n in (("train", 8), ("dev", 2), ("test", 3)):
        dialogs[split] = tmp_path / f"dialogs.{split}.jsonl"
        rows = [{"dialogue": f"#Person1#: {texts[i]}\n#Person2#: {texts[i + 1]}", "summary": texts[i + 2],
                 "summary1": texts[i + 3]} for i in range(n)]
        dialogs[split].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               SPACY_CONFIG_OVERRIDES="--training.eval_frequency=5")
    common = ["--vars.translation_max_steps", "10", "--vars.summarization_max_steps", "10"]
    proc = _run(
        [sys.executable, "-m", "spacy", "project", "run", "translation", str(project_copy),
         "--vars.translation_model", str(model), "--vars.translation_source", str(src),
         "--vars.translation_target", str(tgt), "--vars.translation_train_slice", "0:8",
         "--vars.translation_dev_slice", "8:10", "--vars.translation_test_slice", "10:", *common],
        cwd=project_copy, env=env,
    )
    for step in ("convert-translation", "train-translation", "evaluate-translation"):
        assert f"= {step} =" in proc.stdout, f"step {step} did not run"
    metrics = json.loads((project_copy / "training/translate/metrics.json").read_text())
    assert 0.0 <= metrics["translation_bleu"] <= 100.0 and 0.0 <= metrics["translation_chrf"] <= 100.0
    proc = _run(
        [sys.executable, "-m", "spacy", "project", "run", "summarization", str(project_copy),
         "--vars.summarization_model", str(model),
         *[arg for split, path in dialogs.items() for arg in (f"--vars.summarization_{split}", str(path))], *common],
        cwd=project_copy, env=env,
    )
    for step in ("convert-summarization", "train-summarization", "evaluate-summarization"):
        assert f"= {step} =" in proc.stdout, f"step {step} did not run"
    metrics = json.loads((project_copy / "training/summarize/metrics.json").read_text())
    assert 0.0 <= metrics["summary_rougeLsum"] <= 1.0 and metrics["summary_gen_len"] >= 0.0
    assert (project_copy / "training/summarize/model-best/summarizer").is_dir()

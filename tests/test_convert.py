import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_task_pipes.ner.convert import convert_file, detect_format
from spacy_task_pipes.io import InputError

from conftest import run_script


@pytest.fixture
def nlp():
    return spacy.blank("en")


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_jsonl_offsets(tmp_path, nlp):
    path = write(
        tmp_path / "gold.jsonl",
        json.dumps({"text": "I love my Galaxy S21 and Pixel 7 Pro.", "entities": [[10, 20, "GADGET"], [25, 36, "GADGET"]]})
        + "\n"
        + json.dumps({"text": "No gadgets here.", "entities": []})
        + "\n",
    )
    docs, report = convert_file(nlp, path)
    assert [ents(d) for d in docs] == [[(10, 20, "GADGET"), (25, 36, "GADGET")], []]
    assert all(t.ent_iob_ == "O" for t in docs[1]), "unlabelled tokens must be O, not missing"
    assert report.docs == 2 and report.entities == 2


def test_tuple_formats(tmp_path, nlp):
    data = [["Buy the Switch OLED now", {"entities": [[8, 19, "GADGET"]]}], ["Nothing", {"entities": []}]]
    as_json = write(tmp_path / "train.json", json.dumps(data))
    as_jsonl = write(tmp_path / "train_tuples.jsonl", "".join(json.dumps(item) + "\n" for item in data))
    assert detect_format(as_json) == detect_format(as_jsonl) == "tuples"
    for path in (as_json, as_jsonl):
        docs, _ = convert_file(nlp, path)
        assert [ents(d) for d in docs] == [[(8, 19, "GADGET")], []]
    bad = write(tmp_path / "bad.json", json.dumps([["text", {"entities": []}], ["no annotations"]]))
    with pytest.raises(InputError, match=r"bad.json:2: expected a \[text"):
        convert_file(nlp, bad)


def test_conll_iob2_and_iob1_with_docstart(tmp_path, nlp):
    text = (
        "-DOCSTART- -X- O\n\n"
        "Sony B-ORG\nmade O\nthe O\nPlayStation B-GADGET\n5 I-GADGET\n. O\n\n"
        "Madrid I-LOC\nis O\nnice O\n\n"
        "-DOCSTART- -X- O\n\n"
        "Hola O\nPedro I-PER\n"
    )
    path = write(tmp_path / "data.conll", text)
    docs, report = convert_file(nlp, path)
    assert len(docs) == 2, "-DOCSTART- starts a new doc"
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Sony", "ORG"), ("PlayStation 5", "GADGET"), ("Madrid", "LOC")]
    assert [s.text for s in docs[0].sents] == ["Sony made the PlayStation 5 .", "Madrid is nice"]
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Pedro", "PER")]
    docs, _ = convert_file(nlp, path, n_sents=1)
    assert len(docs) == 3
    write(tmp_path / "bad.conll", "Sony B-ORG\nmade Q-ORG\n")
    with pytest.raises(InputError, match=r"bad.conll:2: invalid IOB tag 'Q-ORG'"):
        convert_file(nlp, tmp_path / "bad.conll")


def test_misaligned_spans(tmp_path, nlp):
    record = {"text": "Got the iPhone12 today", "entities": [[8, 14, "GADGET"]]}
    path = write(tmp_path / "gold.jsonl", json.dumps({"text": "fine", "entities": []}) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(InputError) as err:
        convert_file(nlp, path)
    assert "gold.jsonl:2: span [8, 14, 'GADGET'] 'iPhone' does not fall on token boundaries" in str(err.value)
    assert "--alignment-mode" in str(err.value)
    docs, report = convert_file(nlp, path, alignment_mode="expand")
    assert ents(docs[1]) == [(8, 16, "GADGET")] and report.realigned == 1
    with pytest.raises(InputError, match="contract leaves no token"):
        convert_file(nlp, path, alignment_mode="contract")
    record = {"text": "Got the Pixel 7a today", "entities": [[8, 15, "GADGET"]]}
    write(path, json.dumps(record) + "\n")
    docs, _ = convert_file(nlp, path, alignment_mode="contract")
    assert [e.text for e in docs[0].ents] == ["Pixel"]


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"text": "ok", "entities": []}\n{"text": "broken", \n', r"in.jsonl:2: invalid JSON"),
        ('{"text": "ok", "entities": []}\n\n{"text": "ok", "entities": []}\n', r"in.jsonl:2: empty line"),
        ('{"text": "A B", "entities": [[0, 3, "X"], [2, 3, "Y"]]}\n', r"in.jsonl:1: overlapping entities \[0, 3, 'X'\] 'A B' and \[2, 3, 'Y'\] 'B'"),
        ('{"text": "A B", "entities": [[0, 9, "X"]]}\n', r"in.jsonl:1: entity \[0, 9, 'X'\] is out of range"),
        ('{"text": "A B", "entities": [[0, "1", "X"]]}\n', r"in.jsonl:1: entity \[0, '1', 'X'\] is not \[start, end, label\]"),
        ('{"txt": "A B"}\n', r"in.jsonl:1: expected \{\"text\""),
    ],
)
def test_bad_jsonl_input_names_the_line(tmp_path, nlp, content, message):
    path = write(tmp_path / "in.jsonl", content)
    with pytest.raises(InputError, match=message):
        convert_file(nlp, path, fmt="jsonl")


def test_wrong_encoding_names_line_and_fix(tmp_path, nlp):
    path = write(tmp_path / "esp.conll", "El O\nCorte B-ORG\nInglés I-ORG\n", encoding="latin-1")
    with pytest.raises(InputError, match=r"esp.conll:3: cannot decode byte 0xe9 .* --encoding latin-1"):
        convert_file(nlp, path)
    docs, _ = convert_file(nlp, path, encoding="latin-1")
    assert [e.text for e in docs[0].ents] == ["Corte Inglés"]


def test_missing_file(tmp_path, nlp):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        convert_file(nlp, tmp_path / "nope.jsonl", fmt="jsonl")


def test_cli_writes_atomically_and_keeps_old_output_on_failure(tmp_path):
    good = write(tmp_path / "good.jsonl", json.dumps({"text": "My Pixel 7 broke", "entities": [[3, 10, "GADGET"]]}) + "\n")
    out = tmp_path / "out" / "gold.spacy"
    result = run_script("convert", good, out)
    assert result.exit_code == 0, result.output
    assert "1 docs, 1 entities" in result.output
    before = out.read_bytes()
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert [e.text for e in docs[0].ents] == ["Pixel 7"]
    # 600 good lines then a bad one: nothing new is written and the old file is intact
    lines = [json.dumps({"text": f"text {i}", "entities": []}) for i in range(600)] + ['{"text": oops}']
    bad = write(tmp_path / "bad.jsonl", "\n".join(lines) + "\n")
    result = run_script("convert", bad, out)
    assert result.exit_code == 2
    assert "bad.jsonl:601: invalid JSON" in result.output
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["gold.spacy"], "no temp files left behind"
    result = run_script("convert", bad, tmp_path / "fresh.spacy")
    assert result.exit_code == 2 and not (tmp_path / "fresh.spacy").exists()


def test_real_conll2002_spanish(shared_data, tmp_path):
    """The shared CoNLL-2002 Spanish dev file: latin-1, 1,915 sentences."""
    path = shared_data / "conll2002_es" / "esp.testa"
    nlp = spacy.blank("es")
    with pytest.raises(InputError, match=r"esp.testa:\d+: cannot decode .* --encoding latin-1"):
        convert_file(nlp, path, fmt="conll")
    docs, report = convert_file(nlp, path, fmt="conll", encoding="latin-1", n_sents=1)
    assert len(docs) == 1915
    labels = {e.label_ for d in docs for e in d.ents}
    assert labels == {"PER", "LOC", "ORG", "MISC"}
    assert report.entities > 4000
    assert any("España" in e.text for d in docs for e in d.ents)

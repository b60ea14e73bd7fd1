"""An interactive demo page of every component: ``streamlit run scripts/demo.py -- [PIPELINE ...]``.

The page loads one of the project's pipelines (``training/**/model-best`` and
``model-last`` directories, installed pipeline packages, or the paths and package names
given on the command line), runs it on a text typed in, and shows one panel per result
the pipeline provides: entities (displaCy, through spacy-streamlit's ``visualize_ner``),
the answers to the questions typed in (highlighted in the context, with their scores),
the translation sentence by sentence, and the summary with its length. A pipeline that
lacks a component hides that panel; bad input and bad pipeline paths give a message on
the page, not a traceback.

Modules:

- ``pipelines``: finding, loading and describing pipelines (which panels they feed);
- ``views``: pure functions from a processed ``Doc`` to what the page shows (plain,
  picklable data classes and displaCy HTML; no Streamlit, testable on their own);
- ``app``: the Streamlit page (imports Streamlit and spacy-streamlit, the ``demo`` extra:
  ``pip install -e '.[demo]'``).

This sub-package uses only public spaCy and Streamlit APIs: the task components are
found by their factory names and read through their ``Doc``/``Span`` extensions.
"""

from .pipelines import PipelineChoice, PipelineTasks, find_pipelines, load_pipeline, pipeline_tasks
from .views import (
    Analysis,
    AnswerView,
    EntityView,
    SentencePair,
    SummaryView,
    analyse,
    answer_html,
    cap_text,
    parse_questions,
    translation_html,
)

__all__ = [
    "PipelineChoice", "PipelineTasks", "find_pipelines", "load_pipeline", "pipeline_tasks",
    "Analysis", "AnswerView", "EntityView", "SentencePair", "SummaryView",
    "analyse", "answer_html", "cap_text", "parse_questions", "translation_html",
]

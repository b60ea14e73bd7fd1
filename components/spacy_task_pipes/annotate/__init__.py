"""Annotate a corpus of any size with a trained or packaged pipeline.

One job applies a pipeline (a directory or an installed package: NER, ``question_answerer``,
``translator``, ``summarizer``, or several together) to an input file (JSONL, CSV,
Parquet, plain text with one document per line, or a ``.spacy`` DocBin) and writes one
result record per good input record (``id``, ``entities``, ``answers``, ``translation``,
``summary``: what the pipeline provides) as JSONL or Parquet shards, each written
atomically, plus an errors file for the records that are not valid input or make the
pipeline raise. ``resume=True`` skips the shards that are complete, so a killed job
loses nothing and redoes no finished work. Engines: ``local`` (this process or
``n_process`` worker processes) and ``ray`` (a pool of Ray Data actors on a local or an
existing cluster; Ray is an optional extra, imported only by that engine).

Modules: ``records`` (input formats, shard plans, per-shard readers), ``annotator`` (the
pipeline over a shard's records, with per-record fault isolation), ``local`` and
``ray_engine`` (the engines), ``output`` (the output directory) and ``job`` (one job);
its benchmark lives in ``bench.annotate``. This sub-package imports only
``spacy_task_pipes.io``/``cli`` and public spaCy APIs; the task components are used
through their factory names and ``Doc`` extensions.
"""

from .annotator import (
    Annotator,
    DocSplit,
    OutputFields,
    PipelineSpec,
    ShardResult,
    check_model,
    load_pipeline,
    output_fields,
)
from .job import ENGINES, Engine, JobSummary, input_identity, make_engine, run_annotate
from .local import LocalEngine
from .output import JOB_FILE, PIPELINE_DIR, STATS_FILE, OutputFormat, OutputSpec, ShardStore
from .ray_engine import RayEngine, RayOptions
from .records import (
    InputFormat,
    InputPlan,
    InputRecord,
    InputSource,
    MissingDependencyError,
    ShardSpec,
    detect_format,
    plan_input,
    read_shard,
)

__all__ = [
    "Annotator", "DocSplit", "OutputFields", "PipelineSpec", "ShardResult", "check_model", "load_pipeline",
    "output_fields",
    "ENGINES", "Engine", "JobSummary", "input_identity", "make_engine", "run_annotate",
    "LocalEngine",
    "JOB_FILE", "PIPELINE_DIR", "STATS_FILE", "OutputFormat", "OutputSpec", "ShardStore",
    "MissingDependencyError", "RayEngine", "RayOptions",
    "InputFormat", "InputPlan", "InputRecord", "InputSource", "ShardSpec", "detect_format", "plan_input", "read_shard",
]

"""The interactive demo page of the project's pipelines (see ``spacy_task_pipes.demo``).

    streamlit run scripts/demo.py -- [PIPELINE ...] [--root DIR] [--max-chars N]

PIPELINE: pipeline directories or installed package names, offered before the
``training/**/model-best`` and ``model-last`` directories found under ``--root``
(default: the working directory) and the installed pipeline packages.
Needs the ``demo`` extra: ``pip install -e '.[demo]'``.
"""

import sys

try:
    from streamlit import runtime
except ImportError:
    sys.exit("The demo page needs the 'demo' extra (Streamlit, spacy-streamlit): from a clone of the project run "
             "`pip install -e '.[demo]'`, then `streamlit run scripts/demo.py -- [PIPELINE ...]`.")

if not runtime.exists():
    sys.exit("This is a Streamlit page: run it with `streamlit run scripts/demo.py -- [PIPELINE ...]`.")

from spacy_task_pipes.demo.app import main  # noqa: E402  (after the check: no cache warnings outside Streamlit)

main(sys.argv[1:])

"""The interactive demo page of the project's pipelines (see ``spacy_task_pipes.demo``).

    python scripts/demo.py [--address HOST] [--port N] [-- [PIPELINE ...] [--root DIR] [--max-chars N]]
    streamlit run scripts/demo.py -- [PIPELINE ...] [--root DIR] [--max-chars N]

The first form starts Streamlit on ``--address`` (default 127.0.0.1: only this machine can
open the page; ``--address 0.0.0.0`` serves every interface) and ``--port`` (default 8501),
headless, without usage statistics; ``spacy project run demo`` runs it with the vars
``demo_address`` and ``demo_pipelines``. PIPELINE: pipeline directories or installed package
names, offered before the ``training/**/model-best`` and ``model-last`` directories found
under ``--root`` (default: the working directory) and the installed pipeline packages.
Needs the ``demo`` extra: ``pip install -e '.[demo]'``.
"""

import os
import sys
from typing import List, Sequence

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
PAGE_TITLE = "spaCy task pipes: demo"
LOADING_MESSAGE = ("Loading spaCy and the pipeline components: the first load takes up to a minute "
                   "on a busy CPU, later ones are instant.")
USAGE = "python scripts/demo.py [--address HOST] [--port N] [-- [PIPELINE ...] [--root DIR] [--max-chars N]]"

try:
    import streamlit as st
    from streamlit import runtime
except ImportError:
    sys.exit("The demo page needs the 'demo' extra (Streamlit, spacy-streamlit): from a clone of the project run "
             "`pip install -e '.[demo]'`, then `python scripts/demo.py -- [PIPELINE ...]`.")


def streamlit_command(argv: Sequence[str]) -> List[str]:
    """The ``python -m streamlit run`` command line for ``python scripts/demo.py ARGV``:
    ``--address``/``--port`` before ``--`` go to Streamlit, what follows ``--`` to the page."""
    argv = list(argv)
    own, page = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    options = {"--address": DEFAULT_ADDRESS, "--port": str(DEFAULT_PORT)}
    i = 0
    while i < len(own):
        name, _, value = own[i].partition("=")
        if name not in options:
            raise ValueError(f"unknown option {own[i]!r} (page arguments go after `--`). Usage: {USAGE}")
        if not value:
            if i + 1 >= len(own):
                raise ValueError(f"{name} needs a value. Usage: {USAGE}")
            i += 1
            value = own[i]
        options[name] = value
        i += 1
    if not options["--port"].isdigit() or not 0 < int(options["--port"]) < 65536:
        raise ValueError(f"--port must be a port number, got {options['--port']!r}.")
    return [sys.executable, "-m", "streamlit", "run", os.path.abspath(__file__),
            "--server.address", options["--address"], "--server.port", options["--port"],
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--", *page]


if __name__ == "__main__" and not runtime.exists():
    if any(arg in ("-h", "--help") for arg in sys.argv[1:sys.argv.index("--") if "--" in sys.argv else None]):
        print(__doc__)
        sys.exit(0)
    try:
        command = streamlit_command(sys.argv[1:])
    except ValueError as err:
        sys.exit(f"demo: {err}")
    print(f"demo: serving on http://{command[command.index('--server.address') + 1]}:"
          f"{command[command.index('--server.port') + 1]} (Ctrl+C stops it)", flush=True)
    os.execv(sys.executable, command)  # the same process becomes the Streamlit server

if runtime.exists():
    # Something on the page at once: importing spaCy, torch and transformers takes a while
    st.set_page_config(page_title=PAGE_TITLE, layout="wide")
    loading = st.empty()
    loading.info(LOADING_MESSAGE)

    from spacy_task_pipes.demo.app import main  # noqa: E402  (after the check: no cache warnings outside Streamlit)

    loading.empty()
    main(sys.argv[1:], page_configured=True)

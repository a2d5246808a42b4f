"""The ``trioagent`` command line: run, serve chat, serve api, chat, bench, pull, push,
fetch-model.

``_parser`` builds the argument parsers, ``_main`` dispatches to the commands, ``_serve``
runs the ``serve`` commands and ``_logging`` configures the log handlers.
"""

from ._logging import configure_logging as configure_logging
from ._main import load_environment as load_environment
from ._main import load_team_file as load_team_file
from ._main import main as main
from ._parser import AGENT_SOURCE_HELP as AGENT_SOURCE_HELP
from ._parser import CHAT_DESCRIPTION as CHAT_DESCRIPTION
from ._parser import DESCRIPTION as DESCRIPTION
from ._parser import FETCH_MODEL_DESCRIPTION as FETCH_MODEL_DESCRIPTION
from ._parser import SERVE_DESCRIPTION as SERVE_DESCRIPTION
from ._parser import build_parser as build_parser
from ._parser import parse_command_line as parse_command_line
from ._serve import serve_command as serve_command
from ._serve import serve_options as serve_options
from ._serve import startup_warnings as startup_warnings

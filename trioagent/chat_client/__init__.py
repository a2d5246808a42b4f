"""``trioagent chat URL``: a terminal client for the WebSocket chat at ``/v1/ws``.

Three sources of events meet in one nursery:

- the server's frames, read by one task that prints what a turn streams and answers every
  ``ping`` at once, whatever the prompt is doing (a quiet client is disconnected);
- the user's lines, read in a thread only while the prompt waits, one request at a time;
- Ctrl-C, from a signal receiver: during a turn it sends ``cancel``; at the prompt, or
  while a cancel is pending, it ends the chat with status 130.

Answers (and what ``/agents`` and ``/help`` list) go to stdout; the welcome message, tool
activity, notes and errors go to stderr, so ``trioagent chat URL > answers.txt`` keeps
only the answers.

The modules: ``_command`` (the command and Ctrl-C), ``_client`` (`ChatClient`: the prompt
loop and the frame reader), ``_screen`` (what goes where) and ``_options`` (the options and
the server's URL).
"""

from __future__ import annotations

from ._client import CLOSE_TIMEOUT as CLOSE_TIMEOUT
from ._client import COMMANDS as COMMANDS
from ._client import CONNECT_TIMEOUT as CONNECT_TIMEOUT
from ._client import MAX_FRAME as MAX_FRAME
from ._client import PROMPT as PROMPT
from ._client import ChatClient as ChatClient
from ._client import parse_server_frame as parse_server_frame
from ._command import INTERRUPTED as INTERRUPTED
from ._command import chat_command as chat_command
from ._command import run_chat as run_chat
from ._options import API_KEY_ENV as API_KEY_ENV
from ._options import ChatOptions as ChatOptions
from ._options import websocket_url as websocket_url
from ._screen import Screen as Screen

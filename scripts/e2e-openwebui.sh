#!/usr/bin/env bash
# Usage: scripts/e2e-openwebui.sh [--update-screenshot]
#
# Slow end-to-end test, not part of `pytest`: Open WebUI, the chat front end, against
# `trioagent serve chat`, driven in headless Chromium. Everything runs on 127.0.0.1 and
# offline; only the first run's install reaches PyPI.
#
# 1. Installs a pinned Open WebUI into its own virtual environment (first run: about 4
#    minutes and 3 GB; later runs reuse it). torch is installed first, pinned, with
#    TORCH_PIP_ARGS: the pin alone does not keep out the multi-GB CUDA build (on Linux
#    x86_64 the package index's torch is that build, nvidia packages included); PyTorch's
#    own CPU index does (TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu').
# 2. Starts scripts/openwebui_backend.py: a scripted model, trioagent serve chat on it
#    (with an API key), and a tap that records what Open WebUI sends and gets.
# 3. Starts Open WebUI offline, with trioagent as its only OpenAI connection.
# 4. Runs scripts/openwebui_e2e.py: picks an agent, chats (streaming, a follow-up, one of
#    Open WebUI's tools), checks titles, tags and follow-ups, takes a screenshot, then
#    checks keep-alives, Continue Response and an error in a second chat, and what went
#    over the wire. About a minute once installed.
# --update-screenshot (or UPDATE_SCREENSHOT=1) saves the screenshot over the tracked
# docs/openwebui.png; without it (and without SCREENSHOT), docs/ is never written.
# Exits non-zero with a message on any failure; every process it started is stopped.
#
# Environment (all optional):
#   OPENWEBUI_VENV     Open WebUI's virtual environment (default: .openwebui-venv/ here)
#   OPENWEBUI_PYTHON   Python 3.11 or 3.12 to create it with (default: python3)
#   TORCH_PIP_ARGS     extra pip arguments for installing torch (default: none, so pip's
#                      own index); '--index-url https://download.pytorch.org/whl/cpu'
#                      gets the CPU-only build where the index would give the CUDA one
#   TRIOAGENT_PYTHON   Python with trioagent and playwright installed (default: the active
#                      virtual environment's, else .venv/bin/python, else python3)
#   CHROMIUM           browser executable (default: /usr/bin/chromium)
#   SCREENSHOT         where to save the screenshot (default: $TMPDIR/e2e-openwebui.png,
#                      or docs/openwebui.png with --update-screenshot)
#   KEEP_DATA=1        keep the temporary directory (Open WebUI's data, logs, records)
set -euo pipefail

update_screenshot=${UPDATE_SCREENSHOT:-}
for arg in "$@"; do
    case $arg in
        --update-screenshot) update_screenshot=1 ;;
        *) printf 'usage: %s [--update-screenshot]\n' "$0" >&2; exit 2 ;;
    esac
done

OPENWEBUI_VERSION=0.12.4
TORCH_VERSION=2.13.0

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${OPENWEBUI_VENV:-$repo/.openwebui-venv}
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ "$update_screenshot" = 1 ]; then
    screenshot=${SCREENSHOT:-$repo/docs/openwebui.png}
else
    screenshot=${SCREENSHOT:-${TMPDIR:-/tmp}/e2e-openwebui.png}
fi
if [ -n "${TRIOAGENT_PYTHON:-}" ]; then
    py=$TRIOAGENT_PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    py=$VIRTUAL_ENV/bin/python
elif [ -x "$repo/.venv/bin/python" ]; then
    py=$repo/.venv/bin/python
else
    py=python3
fi

log() { printf '[e2e-openwebui %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

"$py" -c 'import trioagent, playwright' 2>/dev/null ||
    die "$py cannot import trioagent and playwright: set TRIOAGENT_PYTHON to the project's venv python (pip install -e '.[dev]')"
[ -x "$chromium" ] || die "no browser at $chromium (apt-get install chromium, or set CHROMIUM)"
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"

# 1. Open WebUI, pinned, in its own venv.
started=$SECONDS
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('open-webui') != '$OPENWEBUI_VERSION')" 2>/dev/null; then
    log "installing open-webui==$OPENWEBUI_VERSION into $venv (first run: several minutes)"
    [ -x "$venv/bin/python" ] || "${OPENWEBUI_PYTHON:-python3}" -m venv "$venv"
    # torch (asked for by sentence-transformers) first, so that TORCH_PIP_ARGS can pick
    # its build: from the package index it is a multi-GB CUDA build on Linux x86_64.
    # (The grep drops pip's warnings about this machine's missing local index folders.)
    # shellcheck disable=SC2086  # TORCH_PIP_ARGS is a list of words
    "$venv/bin/python" -m pip install --quiet "torch==$TORCH_VERSION" ${TORCH_PIP_ARGS:-} 2>&1 |
        { grep -v '^WARNING: Location ' || true; }
    "$venv/bin/python" -m pip install --quiet "open-webui==$OPENWEBUI_VERSION" 2>&1 |
        { grep -v '^WARNING: Location ' || true; }
    log "installed in $((SECONDS - started)) s"
else
    log "reusing open-webui==$OPENWEBUI_VERSION in $venv"
fi

# 2. Scratch space and cleanup.
work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-openwebui.XXXXXX")
backend_pid=""
webui_pid=""
browser_pid=""
stop() {  # stop PID: TERM, then KILL after 10 s
    local pid=$1 waited=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop "$browser_pid"
    stop "$webui_pid"
    stop "$backend_pid"
    if [ "$status" -ne 0 ]; then
        log "logs: $work (kept)"
        for file in webui.log backend.err records/trioagent.log; do
            [ -f "$work/$file" ] && { log "--- last lines of $file"; tail -n 25 "$work/$file" >&2; }
        done
    elif [ "${KEEP_DATA:-}" = 1 ]; then
        log "data kept in $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# 3. The scripted model, trioagent and the tap.
api_key=$("$py" -c 'import secrets; print(secrets.token_hex(16))')
webui_secret=$("$py" -c 'import secrets; print(secrets.token_hex(32))')
TRIOAGENT_API_KEY=$api_key "$py" "$repo/scripts/openwebui_backend.py" "$work/records" \
    >"$work/backend.out" 2>"$work/backend.err" &
backend_pid=$!
for _ in $(seq 100); do
    grep -q '^TRIOAGENT_URL=' "$work/backend.out" 2>/dev/null && break
    kill -0 "$backend_pid" 2>/dev/null || die "the back end exited early"
    sleep 0.2
done
trioagent_url=$(sed -n 's/^TRIOAGENT_URL=//p' "$work/backend.out")
[ -n "$trioagent_url" ] || die "the back end did not start in 20 s"
log "trioagent serve chat (through the tap) at $trioagent_url"

# 4. Open WebUI, offline, with trioagent as its only model connection.
port=$(free_port)
webui_url=http://127.0.0.1:$port
mkdir -p "$work/data"
log "starting Open WebUI at $webui_url"
webui_started=$SECONDS
(
    cd "$work"
    exec env \
        DATA_DIR="$work/data" \
        WEBUI_SECRET_KEY="$webui_secret" \
        WEBUI_AUTH=False \
        OFFLINE_MODE=true \
        HF_HUB_OFFLINE=1 \
        TRANSFORMERS_OFFLINE=1 \
        ENABLE_VERSION_UPDATE_CHECK=false \
        ENABLE_OLLAMA_API=False \
        ENABLE_OPENAI_API=True \
        OPENAI_API_BASE_URLS="$trioagent_url" \
        OPENAI_API_KEYS="$api_key" \
        ENABLE_DIRECT_CONNECTIONS=False \
        RAG_EMBEDDING_MODEL= \
        RAG_EMBEDDING_MODEL_AUTO_UPDATE=False \
        RAG_RERANKING_MODEL_AUTO_UPDATE=False \
        WHISPER_MODEL_AUTO_UPDATE=False \
        ENABLE_WEB_SEARCH=False \
        ENABLE_IMAGE_GENERATION=False \
        ENABLE_CODE_INTERPRETER=False \
        ENABLE_CODE_EXECUTION=False \
        ENABLE_COMMUNITY_SHARING=False \
        ENABLE_EVALUATION_ARENA_MODELS=False \
        ENABLE_OTEL=False \
        ENABLE_TITLE_GENERATION=True \
        ENABLE_TAGS_GENERATION=True \
        ENABLE_FOLLOW_UP_GENERATION=True \
        ANONYMIZED_TELEMETRY=False \
        DO_NOT_TRACK=True \
        SCARF_NO_ANALYTICS=True \
        "$venv/bin/open-webui" serve --host 127.0.0.1 --port "$port"
) >"$work/webui.log" 2>&1 &
webui_pid=$!
for _ in $(seq 600); do
    curl -fs "$webui_url/health" >/dev/null 2>&1 && break
    kill -0 "$webui_pid" 2>/dev/null || die "Open WebUI exited early"
    sleep 0.5
done
curl -fs "$webui_url/health" >/dev/null || die "Open WebUI did not answer /health in 300 s"
log "Open WebUI is up after $((SECONDS - webui_started)) s"

# 5. The browser (in the background, so that a signal stops it at once too).
"$py" "$repo/scripts/openwebui_e2e.py" --webui "$webui_url" --records "$work/records" \
    --chromium "$chromium" --screenshot "$screenshot" --failure-screenshot "$work/failure.png" &
browser_pid=$!
wait "$browser_pid" || die "the browser scenario failed (see above; logs in $work)"
browser_pid=""
log "PASSED ($((SECONDS - started)) s in all); screenshot: $screenshot"

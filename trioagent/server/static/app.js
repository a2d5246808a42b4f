// The trioagent web chat: one WebSocket to /v1/ws (frames: trioagent/wire/ws.py).
// Model text only reaches the page through textContent or renderMarkdown, which escapes
// every character of it before adding its own tags.
"use strict";

(() => {
  // ---- Markdown: escape first, then a small, safe subset ----------------------------
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

  // Inline Markdown of raw text: code spans and links are set aside (as \u0000N\u0000)
  // so emphasis never reaches inside them, then put back.
  function inline(raw) {
    const kept = [];
    const keep = (html) => `\u0000${kept.push(html) - 1}\u0000`;
    let html = escapeHtml(raw)
      .replace(/`([^`]+)`/g, (_, code) => keep(`<code>${code}</code>`))
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, (_, label, url) =>
        keep(`<a href="${url}" target="_blank" rel="noopener noreferrer">${emphasis(label)}</a>`));
    html = emphasis(html);
    return html.replace(/\u0000(\d+)\u0000/g, (_, i) => kept[i]);
  }

  const emphasis = (html) => html
    .replace(/\*\*(\S(?:[^]*?\S)?)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|\W)__(\S(?:[^]*?\S)?)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/\*([^\s*](?:[^*]*?[^\s*])?)\*/g, "<em>$1</em>")
    .replace(/(^|\W)_([^\s_](?:[^_]*?[^\s_])?)_(?!\w)/g, "$1<em>$2</em>");

  function renderMarkdown(source) {
    const lines = source.replace(/\r\n?/g, "\n").replace(/\u0000/g, "").split("\n");
    const out = [];
    let paragraph = [];
    let list = null; // {tag, items}
    const flush = () => {
      if (paragraph.length) out.push(`<p>${inline(paragraph.join("\n")).replace(/\n/g, "<br>")}</p>`);
      if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${list.tag}>`);
      paragraph = [];
      list = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if ((m = /^\s*(```|~~~)\s*([\w+#.-]*)/.exec(line))) {
        flush();
        const code = [];
        while (++i < lines.length && !lines[i].trimStart().startsWith(m[1])) code.push(lines[i]);
        const lang = escapeHtml(m[2]);
        const attrs = lang ? [` data-lang="${lang}"`, ` class="language-${lang}"`] : ["", ""];
        out.push(`<pre${attrs[0]}><code${attrs[1]}>${escapeHtml(code.join("\n"))}</code></pre>`);
      } else if (!line.trim()) {
        flush();
      } else if ((m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
        flush();
        const level = Math.min(6, m[1].length + 2); // the page itself has h1 and h2
        out.push(`<h${level}>${inline(m[2])}</h${level}>`);
      } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        out.push("<hr>");
      } else if ((m = /^\s*>\s?(.*)$/.exec(line))) {
        flush();
        out.push(`<blockquote>${inline(m[1])}</blockquote>`);
      } else if ((m = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line))) {
        const tag = /\d/.test(m[1]) ? "ol" : "ul";
        if (paragraph.length || (list && list.tag !== tag)) flush();
        list ??= { tag, items: [] };
        list.items.push(m[2]);
      } else if (list && /^\s+\S/.test(line)) {
        list.items[list.items.length - 1] += ` ${line.trim()}`;
      } else {
        if (list) flush();
        paragraph.push(line);
      }
    }
    flush();
    return out.join("");
  }

  // ---- Page state --------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const ui = {
    scroller: $("scroller"), log: $("log"), composer: $("composer"), input: $("input"),
    send: $("send"), stop: $("stop"), agent: $("agent"), newChat: $("new-chat"),
    status: $("status"), keyForm: $("key-form"), keyInput: $("key-input"),
    keyMessage: $("key-message"),
  };
  const storage = {
    get(name, fallback) {
      try { return JSON.parse(localStorage.getItem(`trioagent.${name}`)) ?? fallback; } catch { return fallback; }
    },
    set(name, value) {
      try { localStorage.setItem(`trioagent.${name}`, JSON.stringify(value)); } catch { /* private mode */ }
    },
  };
  // Each agent keeps its own conversation: switching agents resumes that agent's last one.
  const saved = storage.get("chat", { agent: null, conversations: {} });
  let apiKey = storage.get("apiKey", null);

  let socket = null;
  let ready = false;
  let hello = null; // the hello waiting for its ready
  let turn = null; // the running turn: {body, segment, tools, text}
  let retries = 0;
  let retryTimer = null;
  let needKey = false;

  // ---- DOM helpers -------------------------------------------------------------------
  function el(tag, props = {}, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  function scrollDown(force = false) {
    const s = ui.scroller;
    if (force || s.scrollHeight - s.scrollTop - s.clientHeight < 120) s.scrollTop = s.scrollHeight;
  }

  function addUser(text) {
    ui.log.querySelector(".empty")?.remove();
    ui.log.append(el("div", { className: "msg user" }, el("div", { className: "bubble", textContent: text })));
    scrollDown(true);
  }

  function addAssistant() {
    const body = el("div", { className: "body" });
    ui.log.append(el("div", { className: "msg assistant" }, el("div", { className: "avatar", ariaHidden: "true" }), body));
    return body;
  }

  function addText(body, text) {
    const node = el("div", { className: "markdown" });
    node.innerHTML = renderMarkdown(text); // escaped by renderMarkdown
    body.append(node);
    return node;
  }

  function prettyJson(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
  }

  function addTool(body, { name, arguments: args }) {
    const status = el("span", { className: "tool-status", textContent: "running…" });
    const result = el("pre", { className: "tool-result", textContent: "…" });
    const details = el("details", { className: "tool running" },
      el("summary", {}, el("span", { className: "tool-name", textContent: name }), status),
      el("div", { className: "tool-label", textContent: "Arguments" }),
      el("pre", { textContent: prettyJson(args) }),
      el("div", { className: "tool-label", textContent: "Result" }), result);
    body.append(details);
    return { details, status, result };
  }

  function finishTool(tool, result, isError) {
    tool.details.classList.replace("running", isError ? "failed" : "ok");
    tool.status.textContent = isError ? "failed" : "done";
    tool.result.textContent = result;
  }

  function addNote(body, text, kind) {
    body.append(el("div", { className: `note ${kind}`, textContent: text }));
    scrollDown();
  }

  function redraw(messages, welcome, agent) {
    ui.log.replaceChildren();
    const tools = new Map();
    let body = null;
    for (const message of messages) {
      if (message.role === "user") {
        addUser(message.content);
        body = null;
      } else if (message.role === "assistant") {
        body ??= addAssistant();
        if (message.content) addText(body, message.content);
        for (const call of message.tool_calls ?? []) tools.set(call.id, addTool(body, call));
      } else if (message.role === "tool" && tools.has(message.tool_call_id)) {
        finishTool(tools.get(message.tool_call_id), message.content, false);
      }
    }
    if (!messages.length) {
      const empty = el("div", { className: "empty" }, el("h2", { textContent: `Chat with ${agent}` }));
      if (welcome) addText(empty, welcome);
      ui.log.append(empty);
    }
    scrollDown(true);
  }

  // ---- Controls ----------------------------------------------------------------------
  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  function updateControls() {
    const running = turn !== null;
    ui.send.hidden = running;
    ui.stop.hidden = !running;
    ui.send.disabled = !ready || !ui.input.value.trim();
    ui.agent.disabled = running || !ready || ui.agent.options.length < 2;
    ui.newChat.disabled = running || !ready;
  }

  function showAgents(agents, current) {
    ui.agent.replaceChildren(...agents.map((name) => el("option", { value: name, textContent: name })));
    ui.agent.value = current;
  }

  // ---- The socket --------------------------------------------------------------------
  function send(frame) {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function sendHello(agent, conversationId) {
    hello = { agent };
    send({ type: "hello", agent: agent || null, conversation_id: conversationId || null, api_key: apiKey || null });
  }

  function connect() {
    clearTimeout(retryTimer);
    const url = new URL("v1/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    socket = ws;
    setStatus("connecting", retries ? "Reconnecting…" : "Connecting…");
    ws.onopen = () => sendHello(saved.agent, saved.conversations[saved.agent]);
    ws.onmessage = (event) => { if (socket === ws) onFrame(JSON.parse(event.data)); };
    ws.onclose = () => { if (socket === ws) onClose(); };
  }

  function onClose() {
    socket = null;
    ready = false;
    if (turn) endTurn("Connection lost: this turn was not saved.", "error", true);
    updateControls();
    if (needKey) return setStatus("offline", "API key needed");
    const delay = Math.min(15000, 500 * 2 ** retries) * (0.75 + Math.random() / 2);
    retries += 1;
    setStatus("offline", `Offline, retrying in ${Math.ceil(delay / 1000)} s`);
    retryTimer = setTimeout(connect, delay);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ping": return send({ type: "pong" });
      case "ready": return onReady(frame);
      case "delta": return turn && onDelta(frame.text);
      case "tool_started": return turn && onToolStarted(frame);
      case "tool_finished": {
        const tool = turn?.tools.get(frame.id);
        return tool && finishTool(tool, frame.result, frame.is_error);
      }
      case "done": {
        const tokens = frame.usage?.total_tokens;
        return turn && endTurn(tokens ? `${tokens} tokens` : "", "meta");
      }
      case "cancelled": return turn && endTurn("Stopped. This turn was not saved.", "stopped");
      case "error": return onError(frame);
    }
  }

  function onReady(frame) {
    ready = true;
    retries = 0;
    hello = null;
    needKey = false;
    ui.keyForm.hidden = true;
    saved.agent = frame.agent;
    saved.conversations[frame.agent] = frame.conversation_id;
    storage.set("chat", saved);
    showAgents(frame.agents, frame.agent);
    redraw(frame.messages, frame.welcome, frame.agent);
    setStatus("online", "Connected");
    updateControls();
  }

  function onError({ message, code, ends_turn: endsTurn }) {
    if (code === 401) {
      needKey = true;
      ui.keyMessage.textContent = apiKey
        ? "That key was not accepted. Check it and try again."
        : "Enter a key to start chatting. It is kept in this browser only.";
      ui.keyForm.hidden = false;
      ui.keyInput.focus();
    } else if (hello?.agent) { // the saved agent may be gone: ask for the default one
      delete saved.conversations[hello.agent];
      saved.agent = null;
      sendHello(null, null);
    } else if (turn && endsTurn) {
      endTurn(message, "error", true);
    } else {
      addNote(turn?.body ?? ui.log, message, "error");
    }
  }

  // ---- Turns -------------------------------------------------------------------------
  function startTurn(text) {
    addUser(text);
    const body = addAssistant();
    body.setAttribute("aria-busy", "true");
    body.append(el("div", { className: "typing", ariaLabel: "The agent is working" }, el("span"), el("span"), el("span")));
    turn = { body, segment: null, tools: new Map(), text };
    updateControls();
  }

  function onDelta(text) {
    turn.body.querySelector(".typing")?.remove();
    if (!turn.segment) turn.segment = { node: addText(turn.body, ""), text: "" };
    turn.segment.text += text;
    turn.segment.node.innerHTML = renderMarkdown(turn.segment.text); // escaped by renderMarkdown
    scrollDown();
  }

  function onToolStarted(frame) {
    turn.body.querySelector(".typing")?.remove();
    turn.segment = null;
    turn.tools.set(frame.id, addTool(turn.body, frame));
    scrollDown();
  }

  function endTurn(note, kind, giveBack = false) {
    const { body, text } = turn;
    body.querySelector(".typing")?.remove();
    body.removeAttribute("aria-busy");
    for (const tool of turn.tools.values()) {
      if (tool.details.classList.contains("running")) finishTool(tool, "(no result)", true);
    }
    if (note) addNote(body, note, kind);
    if (giveBack && !ui.input.value) ui.input.value = text; // the message can be sent again
    turn = null;
    ui.stop.disabled = false;
    ui.stop.textContent = "Stop";
    updateControls();
  }

  // ---- Events ------------------------------------------------------------------------
  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.input.value.trim();
    if (!text || !ready || turn) return;
    send({ type: "message", text });
    ui.input.value = "";
    resizeInput();
    startTurn(text);
  });

  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });

  function resizeInput() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 240)}px`;
    updateControls();
  }
  ui.input.addEventListener("input", resizeInput);

  ui.stop.addEventListener("click", () => {
    send({ type: "cancel" });
    ui.stop.disabled = true;
    ui.stop.textContent = "Stopping…";
  });

  ui.agent.addEventListener("change", () => {
    if (turn || !ready) return;
    ready = false;
    updateControls();
    sendHello(ui.agent.value, saved.conversations[ui.agent.value]);
  });

  ui.newChat.addEventListener("click", () => {
    if (turn || !ready) return;
    ready = false;
    updateControls();
    sendHello(saved.agent, null);
    ui.input.focus();
  });

  ui.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey = ui.keyInput.value.trim();
    storage.set("apiKey", apiKey);
    ui.keyInput.value = "";
    ui.keyForm.hidden = true;
    needKey = false;
    retries = 0;
    connect();
  });

  window.addEventListener("online", () => { if (!socket && !needKey) connect(); });

  connect();
})();

// The `openai` npm package against a trioagent server: one scenario per run.
//
//     TRIOAGENT_BASE_URL=http://127.0.0.1:PORT/v1 node openai.mjs <scenario>
//
// tests/clients/test_js.py scripts the fake upstream for the scenario, runs this, and
// asserts on the one JSON document printed on stdout (and on an empty stderr).
import OpenAI, { APIError, AuthenticationError, NotFoundError } from "openai";

import {
  API_KEY, BASE_URL, SCENARIO, USER, WEATHER_TOOL, errorInfo, getWeather, print,
} from "./common.mjs";

function client(options = {}) {
  return new OpenAI({
    baseURL: BASE_URL,
    apiKey: API_KEY,
    maxRetries: 0,
    timeout: 10_000,
    ...options,
  });
}

const RUNNABLE_WEATHER = {
  type: "function",
  function: {
    name: "get_weather",
    description: WEATHER_TOOL.function.description,
    parameters: WEATHER_TOOL.function.parameters,
    parse: JSON.parse,
    function: ({ city }) => getWeather(city),
  },
};

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const scenarios = {
  async plain() {
    return await client().chat.completions.create({ model: "root", messages: USER });
  },

  async stream() {
    const stream = await client().chat.completions.create({
      model: "root", messages: USER, stream: true, stream_options: { include_usage: true },
    });
    return { chunks: await collect(stream) };
  },

  async models() {
    const openai = client();
    const page = await openai.models.list();
    const all = [];
    for await (const model of openai.models.list()) all.push(model);
    return { data: page.data, iterated: all, one: await openai.models.retrieve("helper") };
  },

  async not_found() {
    // Known before the first byte, so a real status even when streaming.
    const result = {};
    for (const stream of [false, true]) {
      try {
        await client().chat.completions.create({ model: "gpt-4o", messages: USER, stream });
        result[stream ? "stream" : "plain"] = { error: null };
      } catch (error) {
        result[stream ? "stream" : "plain"] = {
          isNotFound: error instanceof NotFoundError, ...errorInfo(error),
        };
      }
    }
    return result;
  },

  async upstream_error() {
    // The SDK's default retries (2): the server's x-should-retry: false must stop them.
    try {
      await client({ maxRetries: 2 }).chat.completions.create({ model: "root", messages: USER });
    } catch (error) {
      return { isAPIError: error instanceof APIError, ...errorInfo(error) };
    }
    return { error: null };
  },

  async stream_error() {
    const chunks = [];
    try {
      const stream = await client({ maxRetries: 2 }).chat.completions.create({
        model: "root", messages: USER, stream: true,
      });
      for await (const chunk of stream) chunks.push(chunk);
    } catch (error) {
      return { chunks, isAPIError: error instanceof APIError, ...errorInfo(error) };
    }
    return { chunks, error: null };
  },

  async abort() {
    // Read the first piece of text, then hang up: the server must cancel the turn.
    const controller = new AbortController();
    const stream = await client().chat.completions.create(
      { model: "root", messages: USER, stream: true }, { signal: controller.signal },
    );
    const chunks = [];
    try {
      for await (const chunk of stream) {
        chunks.push(chunk);
        if (chunk.choices[0]?.delta.content) controller.abort();
      }
    } catch (error) {
      return { chunks, ...errorInfo(error) };
    }
    return { chunks, error: null };
  },

  async auth() {
    const result = {};
    try {
      await client({ apiKey: "not-the-key" }).models.list();
      result.wrong = { error: null };
    } catch (error) {
      result.wrong = { isAuthenticationError: error instanceof AuthenticationError,
                       ...errorInfo(error) };
    }
    const ok = await client({ apiKey: "k" }).models.list();
    result.ok = ok.data.map((model) => model.id);
    return result;
  },

  async tools() {
    const openai = client();
    const first = await openai.chat.completions.create({
      model: "root", messages: USER, tools: [WEATHER_TOOL],
    });
    const message = first.choices[0].message;
    const results = message.tool_calls.map((call) => ({
      role: "tool", tool_call_id: call.id,
      content: getWeather(JSON.parse(call.function.arguments).city),
    }));
    const second = await openai.chat.completions.create({
      model: "root", tools: [WEATHER_TOOL], messages: [...USER, message, ...results],
    });
    return { first, second };
  },

  async tools_stream() {
    const stream = await client().chat.completions.create({
      model: "root", messages: USER, tools: [WEATHER_TOOL], stream: true,
      stream_options: { include_usage: true },
    });
    return { chunks: await collect(stream) };
  },

  async stream_helper() {
    // ChatCompletionStream assembles snapshots from the deltas and checks them as it goes.
    const stream = client().chat.completions.stream({
      model: "root", messages: USER, stream_options: { include_usage: true },
    });
    const deltas = [];
    stream.on("content", (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    return { deltas, final, content: await stream.finalContent() };
  },

  async stream_helper_tools() {
    const stream = client().chat.completions.stream({
      model: "root", messages: USER, tools: [WEATHER_TOOL],
    });
    const done = [];
    stream.on("tool_calls.function.arguments.done", (event) => done.push(event));
    const final = await stream.finalChatCompletion();
    return { final, done };
  },

  async run_tools() {
    const runner = client().chat.completions.runTools({
      model: "root", messages: USER, tools: [RUNNABLE_WEATHER],
    });
    const content = await runner.finalContent();
    return { content, messages: runner.messages, usage: await runner.totalUsage() };
  },

  async run_tools_stream() {
    const runner = client().chat.completions.runTools({
      model: "root", messages: USER, tools: [RUNNABLE_WEATHER], stream: true,
      stream_options: { include_usage: true },
    });
    const deltas = [];
    runner.on("content", (delta) => deltas.push(delta));
    const content = await runner.finalContent();
    return { content, deltas, messages: runner.messages };
  },
};

await print(scenarios, SCENARIO);

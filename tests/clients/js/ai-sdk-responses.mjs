// The Vercel AI SDK with the OpenAI provider's Responses model (`ai` + `@ai-sdk/openai`,
// `createOpenAI(...).responses(...)`) against a trioagent server: one scenario per run.
//
//     TRIOAGENT_BASE_URL=http://127.0.0.1:PORT/v1 node ai-sdk-responses.mjs <scenario>
//
// tests/clients/test_js_responses.py scripts the fake upstream for the scenario, runs this,
// and asserts on the one JSON document printed on stdout (and on an empty stderr: the SDK
// reports unsupported settings and shape problems as "AI SDK Warning" process warnings).
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

import { API_KEY, BASE_URL, SCENARIO, errorInfo, getWeather, print } from "./common.mjs";

const trioagent = createOpenAI({ baseURL: BASE_URL, apiKey: API_KEY });

// Keep each step's request body: the tests check what the SDK sent.
const INCLUDE = { requestBody: true };

const TOOLS = {
  get_weather: tool({
    description: "The weather in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => getWeather(city),
  }),
};

function parsed(body) {
  return typeof body === "string" ? JSON.parse(body) : body ?? null;
}

/** The parts of a result (or step) the tests look at, with the request body it sent. */
function step(result) {
  return {
    text: result.text,
    finishReason: result.finishReason,
    usage: result.usage,
    warnings: result.warnings,
    responseId: result.providerMetadata?.openai?.responseId ?? null,
    toolCalls: result.toolCalls.map(({ toolCallId, toolName, input }) =>
      ({ toolCallId, toolName, input })),
    toolResults: result.toolResults.map(({ toolCallId, toolName, output }) =>
      ({ toolCallId, toolName, output })),
    sent: parsed(result.request?.body),
  };
}

/** Everything a streamText result resolves to, plus the stream parts it went through. */
async function streamed(result, errors) {
  const parts = [];
  const deltas = [];
  for await (const part of result.fullStream) {
    if (part.type === "text-delta") deltas.push(part.text);
    parts.push(part.type === "error" ? { type: "error", error: errorInfo(part.error) }
                                     : { type: part.type });
  }
  const steps = await result.steps;
  return {
    text: await result.text,
    finishReason: await result.finishReason,
    usage: await result.usage,
    totalUsage: await result.totalUsage,
    warnings: await result.warnings,
    steps: steps.map(step),
    deltas,
    parts,
    errors,
  };
}

function generated(result) {
  return { ...step(result), totalUsage: result.totalUsage, steps: result.steps.map(step) };
}

const scenarios = {
  async generate() {
    const result = await generateText({
      model: trioagent.responses("root"), system: "Be brief.", prompt: "hi", maxRetries: 0,
      include: INCLUDE,
      // Settings the Responses model maps to request fields: no "unsupported" warning.
      temperature: 0.25, topP: 0.5, maxOutputTokens: 77,
    });
    return generated(result);
  },

  async stream() {
    const errors = [];
    const result = streamText({
      model: trioagent.responses("root"), prompt: "hi", maxRetries: 0, include: INCLUDE,
      onError: ({ error }) => errors.push(errorInfo(error)),
    });
    return await streamed(result, errors);
  },

  async tools() {
    const result = await generateText({
      model: trioagent.responses("root"), prompt: "What is the weather in Paris?",
      tools: TOOLS, stopWhen: stepCountIs(2), maxRetries: 0, include: INCLUDE,
    });
    return generated(result);
  },

  // store: false, so that the SDK sends earlier output items whole, not as item_reference.
  async tools_unstored() {
    const result = await generateText({
      model: trioagent.responses("root"), prompt: "What is the weather in Paris?",
      tools: TOOLS, stopWhen: stepCountIs(2), maxRetries: 0, include: INCLUDE,
      providerOptions: { openai: { store: false } },
    });
    return generated(result);
  },

  async tools_stream() {
    const errors = [];
    const result = streamText({
      model: trioagent.responses("root"), prompt: "What is the weather in Paris?",
      tools: TOOLS, stopWhen: stepCountIs(2), maxRetries: 0, include: INCLUDE,
      onError: ({ error }) => errors.push(errorInfo(error)),
    });
    return await streamed(result, errors);
  },

  async continue() {
    const first = await generateText({
      model: trioagent.responses("root"), prompt: "I am Ada.", maxRetries: 0,
      include: INCLUDE,
    });
    const second = await generateText({
      model: trioagent.responses("root"), prompt: "What is my name?", maxRetries: 0,
      include: INCLUDE,
      providerOptions: { openai: { previousResponseId: first.providerMetadata.openai.responseId } },
    });
    return { first: step(first), second: step(second) };
  },

  async not_found() {
    try {
      await generateText({ model: trioagent.responses("gpt-4o"), prompt: "hi", maxRetries: 0 });
    } catch (error) {
      return { isAPICallError: APICallError.isInstance(error), isRetryable: error.isRetryable,
               ...errorInfo(error) };
    }
    return { error: null };
  },
};

await print(scenarios, SCENARIO);

// The Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`) against a trioagent server: one
// scenario per run.
//
//     TRIOAGENT_BASE_URL=http://127.0.0.1:PORT/v1 node ai-sdk.mjs <scenario>
//
// tests/clients/test_js.py scripts the fake upstream for the scenario, runs this, and
// asserts on the one JSON document printed on stdout (and on an empty stderr: the SDK
// reports unsupported settings and shape problems as "AI SDK Warning" process warnings).
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { APICallError, Output, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

import { API_KEY, BASE_URL, SCENARIO, errorInfo, getWeather, print } from "./common.mjs";

const trioagent = createOpenAICompatible({
  name: "trioagent", baseURL: BASE_URL, apiKey: API_KEY, includeUsage: true,
});

// For structured output: json_schema response formats instead of json_object.
const structured = createOpenAICompatible({
  name: "trioagent", baseURL: BASE_URL, apiKey: API_KEY, includeUsage: true,
  supportsStructuredOutputs: true,
});

const WEATHER = Output.object({ schema: z.object({ city: z.string(), sky: z.string() }) });

const TOOLS = {
  get_weather: tool({
    description: "The weather in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => getWeather(city),
  }),
};

/** The parts of a result the tests look at (results hold promises and class instances). */
function step(result) {
  return {
    text: result.text,
    finishReason: result.finishReason,
    rawFinishReason: result.rawFinishReason,
    usage: result.usage,
    warnings: result.warnings,
    toolCalls: result.toolCalls.map(({ toolCallId, toolName, input }) =>
      ({ toolCallId, toolName, input })),
    toolResults: result.toolResults.map(({ toolCallId, toolName, output }) =>
      ({ toolCallId, toolName, output })),
  };
}

/** Everything a streamText result resolves to, plus the stream parts it went through. */
async function streamed(result, errors) {
  const parts = [];
  for await (const part of result.fullStream) {
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
    parts,
    errors,
  };
}

const scenarios = {
  async generate() {
    const result = await generateText({
      model: trioagent("root"), system: "Be brief.", prompt: "hi", maxRetries: 0,
      // Settings the provider maps to Chat Completions fields: no "unsupported" warning.
      temperature: 0.25, topP: 0.5, maxOutputTokens: 77, stopSequences: ["END"], seed: 42,
      presencePenalty: 0.5, frequencyPenalty: -0.5,
    });
    return { ...step(result), totalUsage: result.totalUsage, steps: result.steps.length };
  },

  async stream() {
    const errors = [];
    const result = streamText({
      model: trioagent("root"), prompt: "hi", maxRetries: 0,
      onError: ({ error }) => errors.push(errorInfo(error)),
    });
    return await streamed(result, errors);
  },

  async stream_error() {
    const errors = [];
    const result = streamText({
      model: trioagent("root"), prompt: "hi", maxRetries: 0,
      onError: ({ error }) => errors.push(errorInfo(error)),
    });
    return await streamed(result, errors);
  },

  async object() {
    const generated = await generateText({
      model: structured("root"), prompt: "Weather in Paris?", output: WEATHER, maxRetries: 0,
    });
    const errors = [];
    const streamed = streamText({
      model: structured("root"), prompt: "Weather in Rome?", output: WEATHER, maxRetries: 0,
      onError: ({ error }) => errors.push(errorInfo(error)),
    });
    return {
      generated: { output: generated.output, warnings: generated.warnings },
      streamed: { output: await streamed.output, warnings: await streamed.warnings, errors },
    };
  },

  async tools() {
    const result = await generateText({
      model: trioagent("root"), prompt: "What is the weather in Paris?", tools: TOOLS,
      stopWhen: stepCountIs(3), maxRetries: 0,
    });
    return { ...step(result), totalUsage: result.totalUsage, steps: result.steps.map(step) };
  },

  async tools_stream() {
    const errors = [];
    const result = streamText({
      model: trioagent("root"), prompt: "What is the weather in Paris?", tools: TOOLS,
      stopWhen: stepCountIs(3), maxRetries: 0,
      onError: ({ error }) => errors.push(errorInfo(error)),
    });
    return await streamed(result, errors);
  },

  async not_found() {
    try {
      await generateText({ model: trioagent("gpt-4o"), prompt: "hi", maxRetries: 0 });
    } catch (error) {
      return { isAPICallError: APICallError.isInstance(error), isRetryable: error.isRetryable,
               ...errorInfo(error) };
    }
    return { error: null };
  },
};

await print(scenarios, SCENARIO);

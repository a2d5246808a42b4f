// What the client scripts share: the request they send, the client-side tool, and how a
// scenario's result reaches the Python test (one JSON document on stdout).

export const SCENARIO = process.argv[2];

export const BASE_URL = process.env.TRIOAGENT_BASE_URL;

export const API_KEY = process.env.TRIOAGENT_API_KEY ?? "unused";

export const USER = [{ role: "user", content: "hi" }];

export const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    },
  },
};

/** The client-side implementation of WEATHER_TOOL. */
export function getWeather(city) {
  return { Paris: "sunny, 21 C", Rome: "cloudy, 18 C" }[city] ?? "unknown";
}

/** The fields of an SDK error that the tests look at. */
export function errorInfo(error) {
  return {
    name: error?.constructor?.name,
    message: String(error?.message),
    status: error?.status ?? error?.statusCode ?? null,
    code: error?.code ?? null,
    type: error?.type ?? null,
    param: error?.param ?? null,
    headers: error?.headers ? Object.fromEntries(error.headers) : null,
  };
}

/** Run `scenarios[name]` and print its result as JSON; an unknown name or a throw fails. */
export async function print(scenarios, name) {
  const scenario = scenarios[name];
  if (scenario === undefined) {
    console.error(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios)}`);
    process.exitCode = 2;
    return;
  }
  const result = await scenario();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

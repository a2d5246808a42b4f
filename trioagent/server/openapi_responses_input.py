"""The request side of the Responses API in the OpenAPI document of ``serve chat``: input
items and their content, as `trioagent.wire.responses` reads them."""

from __future__ import annotations

from ..wire import rules
from .openapi_parts import STRING, Schema, object_of, opt, or_null, ranged, ref, tagged


def input_schemas() -> dict[str, Schema]:
    """The schemas of ``input``: its items and their content parts."""
    content = {"oneOf": [STRING, {"type": "array", "items": ref("ResponseInputContent")}]}
    user_turn = {
        "anyOf": [
            object_of({"type": {"const": "message"}, "role": {"const": "user"}}, ("role",)),
            object_of({"type": {"const": "function_call_output"}}, ("type",)),
        ]
    }
    return {
        "ResponseCreateRequest": object_of(
            {
                "model": ref("AgentName"),
                "input": {
                    "oneOf": [
                        {"type": "string", "minLength": 1, "description": "One user message."},
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": ref("ResponseInputItem"),
                            "contains": user_turn,
                            "description": "At least one user message or `function_call_output`.",
                        },
                    ]
                },
                "instructions": opt(
                    "string",
                    description="A system message before the input, "
                    "after the agent's own instruction. Kept in the stored "
                    "conversation; the same text sent again is not repeated.",
                ),
                "previous_response_id": opt(
                    "string",
                    description="Continue this stored response's conversation (for this API key).",
                ),
                "store": opt(
                    "boolean",
                    description="Keep this response for `GET` and "
                    "`previous_response_id` (the default; with `--responses-max 0`, "
                    "nothing is kept).",
                ),
                "stream": opt("boolean"),
                "stream_options": opt("object", description="Only with `stream: true`; ignored."),
                "tools": opt(
                    "array",
                    items=ref("ResponseTool"),
                    description="Tools the client "
                    "runs; unique names. One named like an agent tool is not offered: "
                    "the agent's own tool shadows it.",
                ),
                "tool_choice": {
                    "oneOf": [
                        {"type": "string", "enum": ["none", "auto", "required"]},
                        ref("ResponseNamedToolChoice"),
                        {"type": "null"},
                    ],
                    "description": "A named function must be one of the tools offered (the "
                    "request's and the agent's own).",
                },
                "parallel_tool_calls": opt("boolean"),
                **{name: ranged(allowed) for name, allowed in rules.RESPONSE_RANGES.items()},
                "text": or_null(ref("ResponseTextConfig")),
                "metadata": opt(
                    "object", additionalProperties=STRING, description="Echoed in the response."
                ),
                # Refused unless unset.
                "background": {"enum": [False, None], "description": "Not supported."},
                "conversation": {
                    "type": "null",
                    "description": "Not supported: use `previous_response_id`.",
                },
                "prompt": {"type": "null", "description": "Not supported."},
                "top_logprobs": {"enum": [0, None], "description": "Not supported."},
                # Accepted and ignored.
                "include": opt("array", items=STRING),
                "reasoning": opt("object"),
                "truncation": opt("string"),
                "user": opt("string"),
                "service_tier": opt("string"),
                "prompt_cache_key": opt("string"),
                "safety_identifier": opt("string"),
                "max_tool_calls": opt("integer"),
            },
            ("model", "input"),
            description="Sampling fields override the agent's model settings for every model "
            "call of the turn. Unknown fields are ignored; `null` means unset. "
            "`stream_options` needs `stream: true`.",
            **{
                "if": object_of({"stream_options": {"type": "object"}}, ("stream_options",)),
                "then": object_of({"stream": {"const": True}}, ("stream",)),
            },
        ),
        "ResponseInputItem": {
            "oneOf": [
                ref(name)
                for name in (
                    "ResponseInputMessage",
                    "ResponseFunctionCallInput",
                    "ResponseFunctionCallOutputInput",
                    "ResponseReasoningInput",
                    "ResponseItemReferenceInput",
                )
            ],
            "description": "Told apart by `type`; a message may leave it out. Other item "
            "types are refused.",
        },
        "ResponseInputMessage": object_of(
            {
                "type": {"const": "message"},
                "role": {"enum": ["user", "assistant", "system", "developer"]},
                "content": content,
                "id": opt("string"),
                "status": opt("string"),
            },
            ("role", "content"),
            description="`system` and `developer` messages are system "
            "messages, after the agent's own instruction. Images reach the model from `user` "
            "messages only.",
        ),
        "ResponseFunctionCallInput": object_of(
            {
                "type": {"const": "function_call"},
                "call_id": STRING,
                "name": STRING,
                "arguments": STRING,
                "id": opt("string"),
                "status": opt("string"),
            },
            ("type", "call_id", "name", "arguments"),
            description="A client tool call of an earlier response, sent back.",
        ),
        "ResponseFunctionCallOutputInput": object_of(
            {
                "type": {"const": "function_call_output"},
                "call_id": STRING,
                "output": content,
                "id": opt("string"),
                "status": opt("string"),
            },
            ("type", "call_id", "output"),
            description="The result of a client tool call; only its text reaches the model.",
        ),
        "ResponseReasoningInput": object_of(
            {"type": {"const": "reasoning"}}, ("type",), description="Accepted and skipped."
        ),
        "ResponseItemReferenceInput": object_of(
            {"type": {"const": "item_reference"}, "id": STRING},
            ("type", "id"),
            description="An output item (`msg_…`, `fc_…`) of a stored response of the same "
            "API key, standing for that item; an id that names no stored item is 400.",
        ),
        "ResponseInputContent": {
            **tagged(
                "type",
                {
                    "input_text": "ResponseInputText",
                    "output_text": "ResponseOutputTextInput",
                    "refusal": "ResponseRefusalInput",
                    "input_image": "ResponseInputImage",
                },
            ),
            "description": "`input_file` parts are refused: the agent reads files with its tools.",
        },
        "ResponseInputText": object_of(
            {"type": {"const": "input_text"}, "text": STRING}, ("type", "text")
        ),
        "ResponseOutputTextInput": object_of(
            {
                "type": {"const": "output_text"},
                "text": STRING,
                "annotations": {"type": "array"},
            },
            ("type", "text"),
        ),
        "ResponseRefusalInput": object_of(
            {"type": {"const": "refusal"}, "refusal": STRING}, ("type", "refusal")
        ),
        "ResponseInputImage": object_of(
            {
                "type": {"const": "input_image"},
                "image_url": {
                    "type": "string",
                    "minLength": 1,
                    "description": "An `https:` or `data:` URL.",
                },
                "file_id": opt("string", description="Not supported: send `image_url`."),
                "detail": opt("string"),
            },
            ("type", "image_url"),
            description="Refused (400) by providers that take no images.",
        ),
    }

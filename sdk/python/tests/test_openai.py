"""The OpenAI wire format: request bodies (content parts included) and the
records parsed from answers and stream events, as the Rust SDK's ``openai``
module maps them."""

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hanzo_node import openai  # noqa: E402
from hanzo_node import types as t  # noqa: E402
from hanzo_node.errors import BadRequest, ContextTooLong, RateLimited, Unsupported, UpstreamUnavailable  # noqa: E402
from hanzo_node.sse import Event  # noqa: E402

PNG = b"\x89PNG"
PNG_URL = "data:image/png;base64,iVBORw=="


def body(*messages, **fields):
    return openai.chat_request_body(t.chat_request("m", list(messages), **fields))


class RequestTest(unittest.TestCase):
    def test_text_stays_a_string(self):
        b = body(t.system("Be brief."), t.user("hi"),
                 t.assistant("", [t.ToolCall("c1", "f", "{}", "sig")]), t.tool_result("c1", "4"))
        self.assertEqual([m["content"] for m in b["messages"]], ["Be brief.", "hi", None, "4"])
        self.assertEqual(b["messages"][2]["tool_calls"][0]["function"], {"name": "f", "arguments": "{}"})
        self.assertEqual(b["messages"][3]["tool_call_id"], "c1")
        # An empty message still has its (empty) content.
        self.assertEqual(body(t.user(""))["messages"][0]["content"], "")

    def test_images_and_documents_become_parts(self):
        b = body(t.user([
            t.ContentPart_Text("what is it?"),
            t.image_bytes("image/png", PNG),
            t.image_url("https://x/a.png", detail="high"),
            t.document_bytes("application/pdf", b"%PDF", title="report.pdf"),
            t.document_bytes("application/pdf", b"%PDF"),
        ]))
        self.assertEqual(b["messages"][0]["content"], [
            {"type": "text", "text": "what is it?"},
            {"type": "image_url", "image_url": {"url": PNG_URL}},
            {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "high"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "report.pdf"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "document"}},
        ])
        json.dumps(b)  # what fetch sends

    def test_what_openai_cannot_take_is_unsupported(self):
        with self.assertRaises(Unsupported) as e:
            body(t.system([t.image_url(PNG_URL)]))
        self.assertIn("message 0 (system)", e.exception.message)
        self.assertEqual(e.exception.to_wit().__class__.__name__, "ProviderError_Unsupported")
        with self.assertRaises(Unsupported) as e:
            body(t.user("a"), t.assistant([t.document_bytes("application/pdf", b"%PDF")]))
        self.assertIn("documents in user messages only", e.exception.message)
        with self.assertRaises(Unsupported) as e:
            body(t.user([t.document_url("https://x/a.pdf")]))
        self.assertIn("document by URL", e.exception.message)

    def test_reasoning_is_not_sent_back(self):
        m = t.assistant("4", reasoning=[t.Reasoning("2+2", None, False)])
        self.assertEqual(body(t.user("2+2?"), m)["messages"][1], {"role": "assistant", "content": "4"})

    def test_extra_merges_its_own_wire_format_only(self):
        b = body(t.user("hi"), stop=["END"], json_mode=True,
                 extra=json.dumps({"seed": 1, "model": "x", "openai": {"logprobs": True},
                                   "anthropic": {"thinking": {"type": "enabled"}}}))
        self.assertEqual((b["seed"], b["logprobs"], b["model"], b["stop"]), (1, True, "m", ["END"]))
        self.assertNotIn("thinking", b)
        self.assertNotIn("anthropic", b)
        self.assertEqual(b["response_format"], {"type": "json_object"})
        with self.assertRaises(BadRequest):
            body(t.user("hi"), extra='{"openai": 1}')
        with self.assertRaises(BadRequest):
            body(t.user("hi"), extra="[1]")

    def test_stream_asks_for_usage(self):
        b = openai.chat_request_body(t.chat_request("m", [t.user("hi")]), stream=True)
        self.assertEqual((b["stream"], b["stream_options"]), (True, {"include_usage": True}))


class ResponseTest(unittest.TestCase):
    def test_answer_with_reasoning_and_tool_calls(self):
        r = openai.parse_chat_response(json.dumps({
            "id": "x",
            "choices": [{"message": {"content": "4", "reasoning_content": "2+2 is 4",
                                     "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        }), "m")
        self.assertEqual((r.id, r.model, r.finish_reason, r.stop_sequence), ("x", "m", t.FinishReason.TOOL_CALLS, None))
        self.assertEqual(r.message.content, [t.ContentPart_Text("4")])
        self.assertEqual(r.message.reasoning, [t.Reasoning("2+2 is 4", None, False)])
        self.assertEqual(r.message.tool_calls, [t.ToolCall("c", "f", '{"a": 1}', None)])
        self.assertEqual(r.usage, t.Usage(1, 2, 3))
        # Content as parts, OpenRouter's `reasoning`, a refusal.
        r = openai.parse_chat_response(
            {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                                      "reasoning": "hmm"}}]}, "m")
        self.assertEqual((t.text_of(r.message), r.message.reasoning[0].text), ("ab", "hmm"))
        r = openai.parse_chat_response({"choices": [{"message": {"content": None, "refusal": "no"}}]}, "m")
        self.assertEqual((t.text_of(r.message), r.message.reasoning), ("no", []))
        r = openai.parse_chat_response({"choices": [{"message": {"content": None}}]}, "m")
        self.assertEqual((r.message.content, r.finish_reason), ([], t.FinishReason.STOP))

    def test_errors_in_answers(self):
        with self.assertRaises(UpstreamUnavailable):
            openai.parse_chat_response(b"{", "m")
        with self.assertRaises(ContextTooLong):
            openai.parse_chat_response({"error": {"code": "context_length_exceeded", "message": "x"}}, "m")
        e = openai.error_from_response(429, {"retry-after": "2"}, b'{"error": {"message": "slow"}}')
        self.assertIsInstance(e, RateLimited)
        self.assertEqual((e.retry_after_ms, e.message), (2000, "upstream answered 429: slow"))

    def test_stream_chunks(self):
        events = [
            {"id": "s", "choices": [{"delta": {"role": "assistant"}}]},
            {"id": "s", "choices": [{"delta": {"reasoning_content": "think"}}]},
            {"id": "s", "choices": [{"delta": {"content": "Hi"}}]},
            {"id": "s", "choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{"}}]}}]},
            {"id": "s", "choices": [{"delta": {}, "finish_reason": "stop"}]},
            {"id": "s", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
        ]
        chunks = list(openai.stream_chunks(iter([Event("message", json.dumps(e)) for e in events] + [Event("message", "[DONE]")]), "m"))
        self.assertEqual(len(chunks), 5, "the role-only chunk carries nothing")
        self.assertEqual(chunks[0].reasoning, [t.ReasoningDelta(0, "think", None, False)])
        self.assertEqual((chunks[0].content, chunks[1].content), (None, "Hi"))
        self.assertEqual(chunks[2].tool_calls, [t.ToolCallDelta(0, "c", "f", "{", None)])
        self.assertEqual(chunks[3].finish_reason, t.FinishReason.STOP)
        self.assertEqual(chunks[4].usage, t.Usage(3, 4, 7))
        with self.assertRaises(UpstreamUnavailable):
            list(openai.stream_chunks(iter([Event("message", json.dumps(events[2]))]), "m"))


if __name__ == "__main__":
    unittest.main()

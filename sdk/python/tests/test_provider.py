"""The provider export as the host calls it, and provider errors to and
from their WIT variants."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from componentize_py_types import Err, Ok  # noqa: E402
from wit_world.imports import llm as wit_llm  # noqa: E402
from wit_world.imports import llm_types as wit  # noqa: E402

from hanzo_node import types as t  # noqa: E402
from hanzo_node.errors import Internal, LlmError, ProviderError, RateLimited, Unsupported  # noqa: E402
from hanzo_node.provider import Provider, serve  # noqa: E402


class Echo(Provider):
    def models(self):
        return [t.model_info("echo")]

    def chat(self, request):
        return t.chat_response(
            "r1", request.model,
            t.assistant(t.text_of(request.messages[-1]), [t.ToolCall("c1", "f", "{}", "sig")],
                        [t.Reasoning("", "opaque", True)]),
            t.FinishReason.STOP_SEQUENCE, stop_sequence="END", usage=t.Usage(1, 2, 3))


class Counting(Echo):
    def count_tokens(self, request):
        return 7


class Counted(Echo):
    """Streams three text chunks, then fails when ``fail`` is set."""

    fail = False

    def stream_chat(self, request):
        for word in ["a", "b", "c"]:
            yield t.chunk("r1", request.model, word)
        if self.fail:
            raise RateLimited("slow down", 5)


class Failing(Counted):
    fail = True


class ProviderTest(unittest.TestCase):
    request = t.chat_request("echo", [t.user([t.ContentPart_Text("hi"), t.image_url("https://x/a.png")])])

    def test_count_tokens_defaults_to_unsupported(self):
        with self.assertRaises(Err) as e:
            serve(Echo)().count_tokens(self.request)
        self.assertEqual(e.exception.value, wit.ProviderError_Unsupported("model `echo`: this provider cannot count tokens"))
        self.assertEqual(serve(Counting)().count_tokens(self.request), 7)

    def test_default_stream_is_the_whole_answer(self):
        stream = serve(Echo)().stream_chat(self.request)
        first = stream.next()
        self.assertIsInstance(first, Ok)
        c = first.value
        self.assertEqual((c.content, c.finish_reason, c.stop_sequence), ("hi", t.FinishReason.STOP_SEQUENCE, "END"))
        self.assertEqual(c.tool_calls, [t.ToolCallDelta(0, "c1", "f", "{}", "sig")])
        self.assertEqual(c.reasoning, [t.ReasoningDelta(0, "", "opaque", True)])
        self.assertIsNone(stream.next())

    def test_next_many_takes_a_chunk_a_call_and_says_when_the_stream_ended(self):
        stream = serve(Counted)().stream_chat(self.request)
        batches = [stream.next_many(64) for _ in range(5)]
        self.assertEqual([[c.value.content for c in b.chunks] for b in batches],
                         [["a"], ["b"], ["c"], [], []])
        self.assertEqual([b.ended for b in batches], [False, False, False, True, True])

        # An error is the last chunk and ends the stream with its batch.
        stream = serve(Failing)().stream_chat(self.request)
        batches = [stream.next_many(64) for _ in range(5)]
        self.assertEqual([b.ended for b in batches], [False, False, False, True, True])
        last = batches[3].chunks
        self.assertEqual(len(last), 1)
        self.assertIsInstance(last[0], Err)
        self.assertEqual(last[0].value, RateLimited("slow down", 5).to_wit())
        self.assertEqual(batches[4].chunks, [])

    def test_errors_round_trip(self):
        for e in [Unsupported("no images"), RateLimited("slow", 5), Internal("bug")]:
            back = ProviderError.from_wit(e.to_wit())
            self.assertEqual((type(back), back.kind, back.message), (type(e), e.kind, e.message))
        self.assertEqual(ProviderError.from_wit(wit.ProviderError_Unsupported("x")).kind, "unsupported")
        err = LlmError.from_wit(wit_llm.LlmError_Provider(wit.ProviderError_Unsupported("no images")))
        self.assertIsInstance(err.provider_error, Unsupported)
        self.assertEqual(err.message, "unsupported: no images")
        self.assertEqual(LlmError.from_wit(wit_llm.LlmError_Unsupported("cannot count")).kind, "unsupported")


if __name__ == "__main__":
    unittest.main()

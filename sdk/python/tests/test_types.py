"""Message content as parts and the record constructors, on the WIT records
componentize-py generates (``make python-sdk-check`` puts them on the path)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hanzo_node import types as t  # noqa: E402

PNG = b"\x89PNG"


class ContentTest(unittest.TestCase):
    def test_text_becomes_one_part_and_reads_back(self):
        m = t.user("hi")
        self.assertEqual(m.content, [t.ContentPart_Text("hi")])
        self.assertEqual((m.role, m.tool_calls, m.reasoning), (t.Role.USER, [], []))
        self.assertEqual(t.text_of(m), "hi")
        # An assistant turn that only calls tools has no part at all.
        self.assertEqual(t.assistant("", [t.ToolCall("c1", "f", "{}", None)]).content, [])
        self.assertEqual(t.tool_result("c1", "4").tool_call_id, "c1")

    def test_text_of_skips_media(self):
        m = t.user([t.ContentPart_Text("a "), t.image_url("https://x/a.png"), t.ContentPart_Text("b")])
        self.assertEqual(t.text_of(m), "a b")
        self.assertEqual(t.text_of(m.content), "a b")
        self.assertFalse(t.is_text_only(m.content))
        self.assertTrue(t.is_text_only(t.system("s").content))
        self.assertEqual([t.part_kind(p) for p in m.content], ["text", "image", "text"])

    def test_data_urls_round_trip_and_others_stay_urls(self):
        blob = t.Blob("image/png", PNG)
        url = t.data_url(blob)
        self.assertEqual(url, "data:image/png;base64,iVBORw==")
        self.assertEqual(t.parse_data_url(url), blob)
        self.assertIsNone(t.parse_data_url("https://x/a.png"))
        self.assertIsNone(t.parse_data_url("data:image/png,notbase64"))
        self.assertIsNone(t.parse_data_url("data:image/png;base64,!!"))
        self.assertEqual(t.parse_data_url("data:;base64,AA==").media_type, "application/octet-stream")
        self.assertEqual(t.source_from_url(url), t.MediaSource_Inline(blob))
        self.assertEqual(t.source_from_url("https://x/a.png"), t.MediaSource_Url("https://x/a.png"))
        self.assertEqual(t.source_url(t.MediaSource_Inline(blob)), url)

    def test_media_parts(self):
        image = t.image_bytes("image/png", bytearray(PNG), detail="low").value
        self.assertEqual((image.source.value.data, image.detail), (PNG, "low"))
        self.assertEqual(t.image_url("data:image/png;base64,iVBORw==").value.source,
                         t.MediaSource_Inline(t.Blob("image/png", PNG)))
        doc = t.document_bytes("application/pdf", b"%PDF", title="a.pdf")
        self.assertEqual(t.part_kind(doc), "document")
        self.assertEqual(doc.value.title, "a.pdf")
        self.assertEqual(t.document_url("https://x/a.pdf").value.source, t.MediaSource_Url("https://x/a.pdf"))

    def test_records_default_the_new_fields(self):
        c = t.chunk("id", "m", "x")
        self.assertEqual((c.reasoning, c.stop_sequence, c.tool_calls), ([], None, []))
        r = t.chat_response("id", "m", t.assistant("done"), t.FinishReason.STOP_SEQUENCE, stop_sequence="END")
        self.assertEqual((r.stop_sequence, r.usage, t.text_of(r.message)), ("END", None, "done"))
        self.assertEqual(t.chat_request("m", [t.user("hi")]).stop, [])


if __name__ == "__main__":
    unittest.main()

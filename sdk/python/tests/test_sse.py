"""The SSE decoder against the cases the Rust SDK's decoder is tested with."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hanzo_node.sse import Decoder, TooLarge, decode  # noqa: E402


def events(chunks):
    return [(e.event, e.data) for e in decode(chunks)]


class SseTest(unittest.TestCase):
    def test_events_split_anywhere(self):
        body = b'event: a\ndata: {"x"\ndata: :1}\n\n: comment\ndata: two\n\n'
        whole = events([body])
        self.assertEqual(whole, [("a", '{"x"\n:1}'), ("message", "two")])
        for size in range(1, len(body)):
            chunks = [body[i : i + size] for i in range(0, len(body), size)]
            self.assertEqual(events(chunks), whole, size)

    def test_line_endings(self):
        self.assertEqual(events([b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]), [("message", "a"), ("message", "b"), ("message", "c")])
        # \r and \n of one line ending in different chunks.
        self.assertEqual(events([b"data: a\r", b"\n", b"\r", b"\ndata: b\n\n"]), [("message", "a"), ("message", "b")])

    def test_fields(self):
        d = Decoder()
        d.feed(b"\xef\xbb\xbfid: 7\nretry: 1500\ndata:no space\n\ndata: x\n\n")
        first, second = d.next_event(), d.next_event()
        self.assertEqual((first.data, first.id, first.retry), ("no space", "7", 1500))
        self.assertEqual((second.id, second.retry), ("7", None))
        self.assertIsNone(d.next_event())

    def test_no_data_no_event_and_partial(self):
        d = Decoder()
        d.feed(b"event: ping\n\n")
        self.assertIsNone(d.next_event())
        d.feed(b"data: [DONE")
        self.assertTrue(d.has_partial())
        d.feed(b"]\n\n")
        self.assertEqual(d.next_event().data, "[DONE]")
        self.assertFalse(d.has_partial())

    def test_limit(self):
        d = Decoder(max_event_bytes=16)
        with self.assertRaises(TooLarge):
            d.feed(b"data: " + b"x" * 32)


if __name__ == "__main__":
    unittest.main()

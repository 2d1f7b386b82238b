"""Text tools for agents, written in Python with the Hanzo Node SDK.

Build: ``make python-tool`` (from the repository root) writes
``$CARGO_TARGET_DIR/python-plugins/python-tool/`` (plugin.toml +
python_tool.wasm): copy that folder into a node's plugin directory.
"""

import hashlib
import heapq  # noqa: F401  Counter.most_common imports it when first called: see below
import re
import unicodedata
from collections import Counter
from datetime import date
from typing import Literal, Optional

from hanzo_node import log
from hanzo_node.errors import InvalidArguments, ToolFailed
from hanzo_node.tool import Toolbox, tool  # noqa: F401  (Toolbox is the export)

# componentize-py snapshots the interpreter after importing this module and
# bundles only the modules imported by then: a module the standard library
# imports lazily at run time (heapq, by Counter.most_common) must be imported
# here, or the call fails with ModuleNotFoundError.

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)


@tool
def text_stats(text: str, top: int = 5) -> dict:
    """Counts characters, words, lines and sentences of a text, and its most frequent words.

    Args:
        text: The text to measure.
        top: How many of the most frequent words to list (0 for none).
    """
    words = [w.lower() for w in _WORD.findall(text)]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    return {
        "characters": len(text),
        "words": len(words),
        "lines": len(text.splitlines()) if text else 0,
        "sentences": len(sentences),
        "top_words": [{"word": w, "count": n} for w, n in Counter(words).most_common(max(top, 0))],
    }


@tool
def slugify(text: str, separator: str = "-", max_length: Optional[int] = None) -> str:
    """Turns a title into a URL slug: ASCII, lower case, words joined by a separator.

    Args:
        text: The text to turn into a slug.
        separator: What joins the words.
        max_length: Cut the slug to at most this many characters (at a word boundary).
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = separator.join(words)
    if max_length is not None and len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit(separator, 1)[0] if separator in cut else cut[:max_length]
    return slug


@tool
def regex_extract(pattern: str, text: str, ignore_case: bool = False, limit: int = 100) -> dict:
    """Finds every match of a regular expression (Python syntax) in a text.

    Args:
        pattern: The regular expression; its named groups are returned per match.
        text: The text to search.
        ignore_case: Match without regard to case.
        limit: The most matches to return.
    """
    try:
        rx = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as e:
        raise InvalidArguments(f"pattern is not a valid regular expression: {e}") from None
    matches = []
    for m in rx.finditer(text):
        if len(matches) >= limit:
            break
        matches.append({"match": m.group(0), "start": m.start(), "groups": m.groupdict() or list(m.groups())})
    return {"count": len(matches), "matches": matches}


@tool
def hash_text(text: str, algorithm: Literal["sha256", "sha1", "md5", "blake2b", "sha3_256"] = "sha256") -> dict:
    """Hashes a text (UTF-8) and returns the hex digest.

    Args:
        text: The text to hash.
        algorithm: The hash function.
    """
    return {"algorithm": algorithm, "hex": hashlib.new(algorithm, text.encode()).hexdigest()}


@tool
def days_between(start: str, end: str) -> dict:
    """Counts the days between two ISO dates (YYYY-MM-DD), and the weekdays among them.

    Args:
        start: The first date.
        end: The second date (may be before the first).
    """
    try:
        a, b = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as e:
        raise ToolFailed(f"not an ISO date: {e}") from None
    lo, hi = min(a, b), max(a, b)
    total = (hi - lo).days
    full_weeks, rest = divmod(total, 7)
    weekdays = full_weeks * 5 + sum(1 for i in range(rest) if (lo.weekday() + i) % 7 < 5)
    log.debug("days_between %s %s: %d", start, end, total)
    return {"days": (b - a).days, "weekdays": weekdays, "start_weekday": a.strftime("%A"), "end_weekday": b.strftime("%A")}

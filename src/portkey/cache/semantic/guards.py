"""What a semantic hit must share exactly: everything but the wording of the last user turn.

A bare similarity threshold answers the wrong question: "Is it safe to take ibuprofen?" and
"Is it not safe...?" embed at 0.991, "Convert 5 miles" and "50 miles" at 0.853 (FIELD-NOTES).
So a lookup only compares questions in the same partition: same model, system prompt, earlier
turns, tools and every other parameter, and the same guard signature of the last user turn:
its numbers, its negations, its quoted strings and its language.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from portkey.cache.keys import IGNORED

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
QUOTED = re.compile(r'"([^"]{1,200})"|“([^”]{1,200})”|«([^»]{1,200})»')


def _words(*texts: str) -> frozenset[str]:
    return frozenset(word for text in texts for word in text.split(" "))


#: negation words of the languages below (and English's n't)
NEGATIONS = _words(
    "not no never none nothing nobody nowhere neither nor without cannot",
    "ne pas jamais rien sans aucun aucune",  # French
    "nicht kein keine keinen nie niemals ohne",  # German
    "nunca nada ninguno ninguna sin",  # Spanish
    "non mai nessuno senza",  # Italian
    "não nunca nenhum nenhuma sem",  # Portuguese
)
STOPWORDS = {
    "en": _words("the is are what how why which who of to in and a an do does can you"),
    "fr": _words("le la les est sont quel quelle comment pourquoi de des et un une du"),
    "de": _words("der die das ist sind was wie warum welche von und ein eine zu im"),
    "es": _words("el la los las es son qué cómo por de y un una del en"),
    "it": _words("il lo la gli le è sono che come perché di e un una del"),
    "pt": _words("o a os as é são que como por de e um uma do da"),
}


TRAILING = re.compile(r"[\s?!.\u3002\uff1f\uff01]+$")  # also the CJK full stop, ? and !
SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Spaces collapsed, end punctuation dropped: the model weighs a final "?" heavily
    (0.91 with, 1.0 without, measured), and it says nothing about the question."""
    return TRAILING.sub("", SPACES.sub(" ", text).strip())


def semantic_text(body: Mapping[str, Any]) -> str | None:
    """The last user turn's text, or None when the request is not semantically cacheable."""
    text = _last_user_text(body)
    return normalise(text) or None if text is not None else None


def _last_user_text(body: Mapping[str, Any]) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content.strip() or None
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None  # images, audio, files: meaning is not in the words alone
        texts.append(str(part.get("text") or ""))
    return " ".join(texts).strip() or None


def language(text: str) -> str:
    """The script, and for Latin script the language whose stopwords it uses most."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "none"
    non_latin = sum(1 for c in letters if ord(c) > 0x24F)
    if non_latin > len(letters) / 2:
        return f"script:{max({_block(c) for c in letters if ord(c) > 0x24F})}"
    words = [w.lower() for w in WORD.findall(text)]
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] else "latin"


def _block(char: str) -> int:
    return ord(char) // 0x80  # a coarse Unicode block: Cyrillic, Greek, CJK, Arabic...


def signature(text: str) -> dict[str, Any]:
    words = [w.lower() for w in WORD.findall(text)]
    negated = sum(w in NEGATIONS or w.endswith("n't") for w in words)
    return {
        "numbers": sorted(NUMBER.findall(text)),
        "negations": negated,
        "quoted": sorted(next(g for g in m.groups() if g) for m in QUOTED.finditer(text)),
        "language": language(text),
    }


def partition_key(body: Mapping[str, Any]) -> str | None:
    """A digest of everything a hit must share exactly; None when not cacheable."""
    text = semantic_text(body)
    if text is None:
        return None
    rest = {k: v for k, v in body.items() if k not in IGNORED and k != "messages"}
    pinned = {"rest": rest, "earlier": body["messages"][:-1], "guard": signature(text)}
    return hashlib.sha256(orjson.dumps(pinned, option=orjson.OPT_SORT_KEYS)).hexdigest()


ALL_STOPWORDS = frozenset().union(*STOPWORDS.values()) | {"to", "from", "into", "me", "my"}


def content_words(text: str) -> list[str]:
    return [w for w in (x.lower() for x in WORD.findall(text)) if w not in ALL_STOPWORDS]


def reordered(a: str, b: str) -> bool:
    """The same words in another order: "miles to kilometers" vs "kilometers to miles".

    The model embeds both near 1.0; their meaning is opposite. Paraphrases change words.
    """
    wa, wb = content_words(a), content_words(b)
    return wa != wb and sorted(wa) == sorted(wb)


class Guards:
    """The partitioner the cache service takes (``Partitioner`` protocol)."""

    def text(self, body: Mapping[str, Any]) -> str | None:
        return semantic_text(body)

    def partition(self, body: Mapping[str, Any]) -> str | None:
        return partition_key(body)

    def compatible(self, question: str, stored: str) -> bool:
        """A candidate hit's last check, pairwise: what no partition can tell apart."""
        return not reordered(question, stored)

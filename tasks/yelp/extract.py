"""Rule-based star extraction: free text from a model -> a star count 1..5, or unparseable.

The rules run in a fixed order and the answer is the earliest match in the text of the highest-priority rule
that matches. Why this order:

1. Hedges ("3-4 stars", "3 or 4 stars", "between 3 and 4", "3.5 stars", "3到4星") make the whole answer
   unparseable: the model did not commit to one class, and picking either end would score a guess as a decision.
2. Negated mentions ("not 5 stars", "isn't a 5", "不是五星") are cut out before anything else looks at the
   text, so "not 5 stars, more like 2" reads as 2, and "not 5 stars" alone reads as unparseable.
3. Explicit forms beat bare numbers: "N/5", "N out of 5", "N stars", "Rating: N", "rated N", star glyphs (★ counted,
   ☆ ignored), and the Chinese forms "4星", "四星", "4颗星", "评分：4", "4分". Number words count ("four stars").
   Out-of-scale values ("8/10", "0 stars", "6 stars") are unparseable rather than clamped.
4. A bare digit 1-5 standing alone ("4", "Output: 4.") is accepted only when no explicit form matched; a digit
   inside a larger number, a date or a percentage is not an answer.
5. A bare number word ("Four.") is accepted only at the very start of the answer.

Full-width digits (４) are read as ASCII digits first.
"""

from __future__ import annotations

import re
from typing import NamedTuple

UNPARSEABLE = None

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "zero": 0, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}
_ZH = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM = r"(\d+(?:\.\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten)"
_ZH_NUM = r"(\d+(?:\.\d+)?|[零一二两三四五六七八九十])"
_STAR = r"(?:-|\s)?(?:stars?|星星|stars?\b)"


class Extraction(NamedTuple):
    star: int | None  # 1..5, or None when unparseable
    rule: str


def _value(token: str) -> float | None:
    token = token.lower()
    if token in _WORDS:
        return _WORDS[token]
    if token in _ZH:
        return _ZH[token]
    try:
        return float(token)
    except ValueError:
        return None


def _star(token: str, scale: float = 5) -> int | None:
    v = _value(token)
    if v is None or scale != 5 or v != int(v) or not 1 <= v <= 5:
        return None
    return int(v)


_HEDGES = [
    re.compile(rf"\b{_NUM}\s*(?:-|–|~|to|or)\s*{_NUM}\s*(?:/\s*5|out of (?:5|five)|-?\s*stars?)", re.I),
    re.compile(rf"\bbetween\s+{_NUM}\s+and\s+{_NUM}\b", re.I),
    re.compile(r"\b\d\.\d+\s*(?:/\s*5|out of (?:5|five)|-?\s*stars?)", re.I),
    re.compile(rf"{_ZH_NUM}\s*(?:到|至|或|-|~)\s*{_ZH_NUM}\s*(?:颗)?[星分]"),
]

_NEGATIONS = [
    re.compile(rf"\b(?:not|isn't|is not|wasn't|never|no way)\s+(?:a\s+|an\s+|even\s+)?{_NUM}(?:\s*/\s*5|\s+out of (?:5|five)|{_STAR})?", re.I),
    re.compile(rf"(?:不是|不到|没有|不值)\s*{_ZH_NUM}\s*(?:颗)?[星分]?"),
]

# (rule name, pattern, group holding the value, scale group or fixed scale)
_EXPLICIT = [
    ("fraction", re.compile(rf"\b{_NUM}\s*/\s*(\d+)\b", re.I)),
    ("out_of", re.compile(rf"\b{_NUM}\s+out\s+of\s+(\d+|five|ten)\b", re.I)),
    ("n_stars", re.compile(rf"\b{_NUM}{_STAR}", re.I)),
    ("labelled", re.compile(rf"\b(?:rating|rated|score|stars?|output|answer)\s*(?:is|of|:|=|-)?\s*{_NUM}\b(?!\s*/|\s+out of|\.\d)", re.I)),
    ("zh_score", re.compile(rf"(?:评分|打分|评级|得分|星级)\s*(?:为|是|[:：])?\s*{_ZH_NUM}")),
    ("zh_stars", re.compile(rf"{_ZH_NUM}\s*(?:颗)?星")),
    ("zh_points", re.compile(rf"{_ZH_NUM}\s*分(?!之)")),
]

_GLYPHS = re.compile(r"★+")
_BARE_DIGIT = re.compile(r"(?<![\d.,/:\-])\b([1-5])\b(?![\d%/]|\.\d|,\d|:\d|-\d)")
_LEADING_WORD = re.compile(r"^\W*(one|two|three|four|five)\b", re.I)


def _to_ascii_digits(text: str) -> str:
    return text.translate({0xFF10 + i: ord("0") + i for i in range(10)})


def _explicit(text: str) -> tuple[int, str, int | None] | None:
    """Earliest explicit mention: (position, rule, star or None when out of scale)."""
    found = []
    for rule, pattern in _EXPLICIT:
        for m in pattern.finditer(text):
            value = m.group(1)
            if rule == "fraction":
                star = _star(value, float(m.group(2)))
            elif rule == "out_of":
                scale = m.group(2).lower()
                star = _star(value, 5 if scale in ("5", "five") else float(_value(scale) or 0))
            else:
                star = _star(value)
            found.append((m.start(), rule, star))
    m = _GLYPHS.search(text)
    if m:
        n = len(m.group(0))
        found.append((m.start(), "star_glyphs", n if 1 <= n <= 5 else None))
    return min(found, key=lambda f: f[0]) if found else None


def extract_star(response: str) -> Extraction:
    """Map a model's answer to a star (1..5) and the name of the rule that decided it."""
    text = _to_ascii_digits(response or "").strip()
    if not text:
        return Extraction(None, "empty")
    for pattern in _HEDGES:
        if pattern.search(text):
            return Extraction(None, "hedge")
    negated = text
    for pattern in _NEGATIONS:
        negated = pattern.sub(" ", negated)
    hit = _explicit(negated)
    if hit:
        _, rule, star = hit
        return Extraction(star, rule if star is not None else f"{rule}_out_of_scale")
    m = _BARE_DIGIT.search(negated)
    if m:
        return Extraction(int(m.group(1)), "bare_digit")
    m = _LEADING_WORD.match(negated)
    if m:
        return Extraction(_WORDS[m.group(1).lower()], "number_word")
    return Extraction(None, "negated" if negated != text else "no_rating")

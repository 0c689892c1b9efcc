"""Rule-based star extraction: free text from a model -> a star count 1..5, or unparseable.

The text is first normalised, then the rules run in a fixed order. tasks/yelp/README.md has the same list with
examples; tests/data/yelp_answer_corpus.jsonl (385 labelled answers in 17 styles) is the measurement.

0. Normalise: full-width digits and tildes to ASCII, dashes to "-", emoji variation selectors and keycaps dropped
   ("1️⃣" is "1"), whole-number decimals shortened ("4.0" is "4", "5.0/5" is "5/5"), the answer cut where the model
   starts a new example ("\\nReview:", "\\nInstruction:"), a line of 1-5 asterisks read as star glyphs ("***"),
   then Markdown emphasis removed ("**4**", "__2__", "`5`"), every star glyph (★ ⭐ 🌟 ✭ ✮ ✯ ✪) read as ★ and
   every hollow one (☆ ✩ ✰) as ☆, and a single glyph beside a number read as "stars" ("4 ⭐", "⭐ 4").
1. Hedges make the whole answer unparseable: the model did not commit to one class, and picking either end would
   score a guess as a decision. Ranges ("3-4", "3 or 4 stars", "either 4 or 5", "2 to 3 stars", "3/4 stars"),
   "between 2 and 3", two candidates ("maybe 3, maybe 4", "probably 4, possibly 5"), fractional stars ("3.5",
   "4.5/5", "2½"), and the Chinese forms ("3到4星", "三四星", "四星半"). After negations are cut (2.), a mention
   followed by a second guess that ends its clause ("4 stars would be fair, maybe 5.") is a hedge too.
2. Negated mentions ("not 5 stars", "isn't a 5", "wouldn't even give it 2 stars", "不是五星", "不到五星") are cut
   out, so "not 5 stars, more like 2" reads as 2 and "not 5 stars" alone as unparseable.
3. Explicit mentions: "N/5" ("N/10" and "N/100" are out of scale; other denominators are dates or ratios and are
   ignored), "N out of 5", "N stars", "Rating: N" (also JSON keys: {"rating": 4}, {"stars": 3}, "rating=3"),
   verdict phrases ("I'd rate it 2", "I'd give it a 4", "I'd say 5", "should be 5", "go with 2"), star glyph runs
   (★ counted, ☆ ignored), and the Chinese forms ("4星", "四星", "4颗星", "评分：4", "4分"). Number words count
   ("four stars"). When several mentions are found, the last one that follows a verdict marker ("final answer",
   "overall", "so", "therefore", "I'd", "总体", "最终", "所以" ...) wins, so a reasoning chain that quotes other
   ratings before its conclusion reads as its conclusion ("Overall 3." closing a clause is a mention); otherwise the
   earliest mention wins. Out-of-scale values ("8/10", "0 stars", "6 stars", "Rating: 8") are unparseable rather
   than clamped, unless an in-scale mention is also present.
4. A bare digit 1-5 standing alone ("4", "Output: 4.") is accepted only when no explicit mention matched, the
   answer holds exactly one such digit, and the digit opens or closes the answer or one of its lines; a digit inside
   a sentence ("The review has 3 paragraphs", "Room 5 was dirty"), a larger number, a time, a date or a percentage
   is not an answer, and two different bare digits are ambiguous.
5. A bare number word ("Four.", "two") is accepted only at the start of the answer and only when it stands alone
   (followed by punctuation, the end or "star"): "One moment, let me think" is not a rating.
"""

from __future__ import annotations

import re
from typing import NamedTuple

UNPARSEABLE = None

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "zero": 0, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}
_ZH = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM = r"(\d+(?:\.\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten)"
_STAR_NUM = r"(?:[1-5]|one|two|three|four|five)"
_ZH_NUM = r"(\d+(?:\.\d+)?|[零一二两三四五六七八九十])"
_ZH_STAR = "[一二两三四五]"
_STAR = r"(?:-|\s)?(?:stars?\b|星星)"
# After a range or a fractional value: the end of a clause, or a scale word. "3-4 pm" or "2 or 3 times" is not a
# hedge about the rating.
_CLAUSE_END = r"(?=\s*(?:$|[.!?,;:)}\]\n]|-?\s*stars?\b|out of|/\s*5|[星分颗]))"


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


# --- 0. normalisation ------------------------------------------------------------------------------------------

_FULL_WIDTH = {0xFF10 + i: ord("0") + i for i in range(10)} | {0xFF5E: ord("~"), 0x2013: ord("-"), 0x2014: ord("-"),
                                                                0xFF1A: ord("："), 0xFE0F: None, 0x20E3: None}
_GLYPH_FULL = re.compile("[★⭐🌟✭✮✯✪]")
_GLYPH_HOLLOW = re.compile("[☆✩✰]")
_NEXT_EXAMPLE = re.compile(r"\n\s*(?:Review|Instruction)\s*:", re.I)
_WHOLE_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.0+(?!\d|\.\d)")
_ASTERISK_STARS = re.compile(r"(?m)(^|[:：]\s*)\s*(\*{1,5})(?=[ \t]*$)")
_EMPHASIS = re.compile(r"\*\*|__|`+|^#+\s*|^>\s*", re.M)
_SINGLE_EMPHASIS = re.compile(r"(?<![\w*])[*_](\S(?:.*?\S)?)[*_](?![\w*])")
_NUM_GLYPH = re.compile(r"(?<!★)\b([0-9]+)\s*★(?!\s*★)")
_GLYPH_NUM = re.compile(r"(?<!★)(?<!★\s)★\s*([0-9]+)\b(?!\s*/)")


def normalise(text: str) -> str:
    text = (text or "").translate(_FULL_WIDTH)
    m = _NEXT_EXAMPLE.search(text)
    if m:
        text = text[: m.start()]
    text = _WHOLE_DECIMAL.sub(r"\1", text)
    text = _ASTERISK_STARS.sub(lambda m: m.group(1) + "★" * len(m.group(2)), text)
    text = _SINGLE_EMPHASIS.sub(r"\1", _EMPHASIS.sub("", text))
    text = _GLYPH_HOLLOW.sub("☆", _GLYPH_FULL.sub("★", text))
    text = _NUM_GLYPH.sub(r"\1 stars", text)
    return _GLYPH_NUM.sub(r"\1 stars", text).strip()


# --- 1. hedges -------------------------------------------------------------------------------------------------

_HEDGES = [
    re.compile(rf"(?<![\d:.])\b(?:a\s+)?{_STAR_NUM}\s*(?:-|~|to|or)\s*(?:maybe\s+|perhaps\s+|possibly\s+)?(?:a\s+)?"
               rf"{_STAR_NUM}\b(?![\d:])(?:\s*-?\s*stars?)?{_CLAUSE_END}", re.I),
    re.compile(rf"\bbetween\s+{_NUM}\s+and\s+{_NUM}\b", re.I),
    re.compile(rf"\b(?:maybe|probably|perhaps|possibly)\s+(?:a\s+)?{_STAR_NUM}\b[^.\n]{{0,30}}?"
               rf"\b(?:maybe|probably|perhaps|possibly)\s+(?:a\s+)?{_STAR_NUM}\b", re.I),
    re.compile(r"\b[1-5]\s*/\s*[1-4]\s*-?\s*stars?\b", re.I),
    re.compile(rf"(?<![\d.$€£¥])\b[0-5]\.\d+(?![\d.]){_CLAUSE_END}", re.I),
    re.compile(r"\d\s*½"),
    re.compile(rf"{_ZH_NUM}\s*(?:到|至|或|-|~)\s*{_ZH_NUM}\s*(?:颗)?[星分]"),
    re.compile(rf"{_ZH_STAR}{_ZH_STAR}\s*(?:颗)?星"),
    re.compile(r"[星分]半|半[星分]"),
]

# A committed mention followed by a second guess ("4 stars would be fair, maybe 5", "3, or even 4."): checked after
# negations are cut, so "not 5, maybe 2" still reads as 2. The second guess must end its clause: "5 stars for the
# food, maybe 2 for the service" names an aspect, not a second answer.
_SECOND_GUESS = re.compile(rf"\b{_STAR_NUM}\b(?:\s*-?\s*stars?)?[^.\n]{{0,40}}?(?:,|;|\bor\b)\s*(?:or\s+)?"
                           rf"(?:maybe|perhaps|possibly|even)\s+(?:a\s+)?{_STAR_NUM}\b(?:\s*-?\s*stars?)?{_CLAUSE_END}",
                           re.I)

# --- 2. negations ----------------------------------------------------------------------------------------------

_NEGATIONS = [
    re.compile(rf"\b(?:not|isn't|is not|wasn't|never|no way)\s+(?:a\s+|an\s+|even\s+)?{_NUM}(?:\s*/\s*5|\s+out of (?:5|five)|{_STAR})?", re.I),
    re.compile(rf"\b(?:wouldn't|would not|won't|can't|cannot|couldn't)\s+(?:even\s+)?give\s+(?:it|this|them)\s+"
               rf"(?:a\s+|an\s+)?{_NUM}(?:\s*/\s*5|\s+out of (?:5|five)|{_STAR})?", re.I),
    re.compile(rf"(?:不是|不到|没有|不值)\s*{_ZH_NUM}\s*(?:颗)?[星分]?"),
]

# --- 3. explicit mentions --------------------------------------------------------------------------------------

_QUOTE = r"[\"']?"
_EXPLICIT = [
    ("fraction", re.compile(rf"\b{_NUM}\s*/\s*(\d+)\b", re.I)),
    ("out_of", re.compile(rf"\b{_NUM}\s+out\s+of\s+(\d+|five|ten)\b", re.I)),
    ("n_stars", re.compile(rf"\b{_NUM}{_STAR}", re.I)),
    ("labelled", re.compile(rf"\b(?:star_rating|rating|rated|score|stars?|output|answer)\s*{_QUOTE}\s*"
                            rf"(?:is|of|:|=|-)?\s*{_QUOTE}\s*{_NUM}\b(?!\s*/|\s+out of|\.\d)", re.I)),
    # "Overall 3." / "Overall: 4 stars" closing an answer; "Overall 2 visits were fine" is not a rating.
    ("labelled", re.compile(rf"\boverall\s*[:,=-]?\s*{_NUM}(?:\s*-?\s*stars?)?{_CLAUSE_END}", re.I)),
    ("verdict", re.compile(rf"(?:\brate|\bgive|\bgiving|\bgo with|\bsay|\bwould be|\bshould be|\bdeserves|\bwarrants|"
                           rf"\bgets|→|->)\s+(?:(?:it|this|this review|the review|them)\s+)?(?:a\s+|an\s+)?"
                           rf"{_NUM}\b(?!\s*/|\s+out of|\.\d|%|-\d|\s*-?\s*stars?\b)", re.I)),
    ("zh_score", re.compile(rf"(?:评分|打分|评级|得分|星级)\s*{_QUOTE}\s*(?:为|是|[:：])?\s*{_QUOTE}\s*{_ZH_NUM}")),
    ("zh_stars", re.compile(rf"{_ZH_NUM}\s*(?:颗)?星")),
    ("zh_points", re.compile(rf"{_ZH_NUM}\s*分(?!之)")),
]
_RATING_SCALES = {5: 5, 10: 10, 100: 100}  # "N/12" is a date, "N/3" a ratio: not a rating on any scale
_GLYPHS = re.compile(r"★(?:\s*★)*")
_VERDICT_MARKER = re.compile(
    r"final|overall|therefore|thus|\bso\b|in total|in summary|my (?:rating|answer)|i'd|i would|i will|answer|"
    r"总体|综合|最终|所以|因此|总的来说|整体|我给|我会给|我认为", re.I)
_MARKER_WINDOW = 40


class _Hit(NamedTuple):
    start: int
    end: int
    rule: str
    star: int | None
    verdict: bool


def _explicit_hits(text: str) -> list[_Hit]:
    found = []
    for rule, pattern in _EXPLICIT:
        for m in pattern.finditer(text):
            value = m.group(1)
            if rule == "fraction":
                scale = int(m.group(2))
                if scale not in _RATING_SCALES:
                    continue
                star = _star(value, scale)
            elif rule == "out_of":
                scale = m.group(2).lower()
                star = _star(value, 5 if scale in ("5", "five") else float(_value(scale) or 0))
            else:
                star = _star(value)
            found.append((m.start(), m.end(), rule, star))
    for m in _GLYPHS.finditer(text):
        n = m.group(0).count("★")
        found.append((m.start(), m.end(), "star_glyphs", n if 1 <= n <= 5 else None))
    found.sort()
    hits, prev_end = [], 0
    for start, end, rule, star in found:
        before = text[max(prev_end, start - _MARKER_WINDOW) : start]
        after = text[end : end + 10]
        verdict = bool(_VERDICT_MARKER.search(before + text[start:end]) or re.match(r"\s*overall", after, re.I))
        hits.append(_Hit(start, end, rule, star, verdict))
        prev_end = max(prev_end, end)
    return hits


def _choose(hits: list[_Hit]) -> _Hit:
    in_scale = [h for h in hits if h.star is not None]
    if not in_scale:
        return hits[0]
    verdicts = [h for h in in_scale if h.verdict]
    return verdicts[-1] if verdicts else in_scale[0]


# --- 4./5. bare digit and bare number word ---------------------------------------------------------------------

_BARE_DIGIT = re.compile(r"(?<![\d.,/:\-$])\b([1-5])\b(?![\d%/]|\.\d|,\d|:\d|-\d)")
_NO_WORDS = re.compile(r"[\W_]*")


def _stands_alone(text: str, m: re.Match) -> bool:
    """The digit opens or closes the answer or a line of it ("4 - loved it", "The rating is 4.", "答案：5"): a digit
    inside a sentence ("The review has 3 paragraphs", "Room 5 was dirty") counts something else."""
    line_start = text.rfind("\n", 0, m.start()) + 1
    line_end = text.find("\n", m.end())
    line_end = len(text) if line_end < 0 else line_end
    return bool(_NO_WORDS.fullmatch(text[line_start : m.start()]) or _NO_WORDS.fullmatch(text[m.end() : line_end]))
_LEADING_WORD = re.compile(r"^\W*(one|two|three|four|five)\b(?=\s*(?:$|[.!,;:)\n]|-?\s*stars?\b))", re.I)


def extract_star(response: str) -> Extraction:
    """Map a model's answer to a star (1..5) and the name of the rule that decided it."""
    text = normalise(response)
    if not text:
        return Extraction(None, "empty")
    for pattern in _HEDGES:
        if pattern.search(text):
            return Extraction(None, "hedge")
    negated = text
    for pattern in _NEGATIONS:
        negated = pattern.sub(" ", negated)
    if _SECOND_GUESS.search(negated):
        return Extraction(None, "hedge")
    hits = _explicit_hits(negated)
    if hits:
        hit = _choose(hits)
        return Extraction(hit.star, hit.rule if hit.star is not None else f"{hit.rule}_out_of_scale")
    bare = list(_BARE_DIGIT.finditer(negated))
    digits = {m.group(1) for m in bare}
    if len(digits) > 1:
        return Extraction(None, "ambiguous")
    if digits and any(_stands_alone(negated, m) for m in bare):
        return Extraction(int(digits.pop()), "bare_digit")
    m = _LEADING_WORD.match(negated)
    if m:
        return Extraction(_WORDS[m.group(1).lower()], "number_word")
    return Extraction(None, "negated" if negated != text else "no_rating")

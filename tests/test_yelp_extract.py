"""The Yelp star extractor on realistic model answers (English and Chinese; terse, chatty, hedged, negated,
adversarial). Each row: the model's text, the star it must map to (None = unparseable)."""

import pytest

from tasks.yelp.extract import extract_star

CASES = [
    # terse
    ("4", 4),
    (" 5", 5),
    ("3.", 3),
    ("Output: 2", 2),
    ("1\n\nReview: next one", 1),
    ("Four.", 4),
    ("five", 5),
    ("４", 4),  # full-width digit
    # explicit forms
    ("4/5", 4),
    ("Rating: 3/5", 3),
    ("2 out of 5", 2),
    ("I'd say four out of five.", 4),
    ("5 stars", 5),
    ("A solid 4-star experience.", 4),
    ("one star", 1),
    ("Rating: 2", 2),
    ("rated 5", 5),
    ("Score = 1", 1),
    ("★★★★☆", 4),
    ("★★", 2),
    # chatty
    ("Based on the review, the customer seems satisfied overall, so I would rate it 4 stars.", 4),
    ("The reviewer complains about the cold food and rude staff. Rating: 1/5. Would not return.", 1),
    ("Sure! This review deserves 3 stars because the service was slow but the food was good.", 3),
    ("After reading carefully, my answer is 5.", 5),
    ("The review mentions 2 visits and 10 dishes; overall 4 stars.", 4),  # explicit beats bare digits
    # first clear answer wins
    ("5 stars for the food, 2 stars overall.", 5),
    ("4/5. (Earlier I thought 3/5.)", 4),
    # hedged
    ("3-4 stars", None),
    ("3 or 4 stars", None),
    ("somewhere between 3 and 4", None),
    ("3.5 stars", None),
    ("3.5/5", None),
    # negated
    ("not 5 stars, more like 2", 2),
    ("Definitely not 1 star. I'd give it a 4.", 4),
    ("This is not a 5.", None),
    # out of scale / not answers
    ("8/10", None),
    ("7 out of 10", None),
    ("0 stars", None),
    ("6 stars", None),
    ("The restaurant opened in 2015 and I went on 3/12.", None),
    ("100% recommend!", None),
    ("", None),
    ("I cannot determine the rating from this review.", None),
    ("Positive", None),
    # Chinese
    ("4星", 4),
    ("四星", 4),
    ("评分：4", 4),
    ("评分: 2", 2),
    ("我给这家店打三颗星。", 3),
    ("五星好评！", 5),
    ("3分", 3),
    ("不是五星，大概两星", 2),
    ("3到4星", None),
    ("这条评论的评分为1", 1),
]


@pytest.mark.parametrize("text, star", CASES)
def test_extract(text, star):
    assert extract_star(text).star == star, extract_star(text)


def test_table_is_large_enough():
    assert len(CASES) >= 40
    assert sum(s is None for _, s in CASES) >= 10 and sum(any("\u4e00" <= c <= "\u9fff" for c in t) for t, _ in CASES) >= 8


@pytest.mark.parametrize("text, rule", [
    ("4/5", "fraction"), ("2 out of 5", "out_of"), ("5 stars", "n_stars"), ("Rating: 2", "labelled"),
    ("★★★", "star_glyphs"), ("4星", "zh_stars"), ("评分：4", "zh_score"), ("3分", "zh_points"), ("4", "bare_digit"),
    ("Four.", "number_word"), ("3-4 stars", "hedge"), ("8/10", "fraction_out_of_scale"), ("", "empty"),
    ("no idea", "no_rating"), ("This is not a 5.", "negated"),
])
def test_rule_names(text, rule):
    assert extract_star(text).rule == rule

"""The one number-formatting function family every report uses."""

import math

import pytest

from reports import numbers


@pytest.mark.parametrize("v, text", [
    (0.5, "0.5000"), (0.03125, "0.0312"), (0.2607, "0.2607"), (13.4821, "13.48"), (121.7, "121.7"),
    (1523.6264, "1524"), (-1523.6264, "-1524"), (0.0, "0.0000"), (None, "n/a"), (float("nan"), "n/a"),
    (float("inf"), "n/a"), (60, "60"), (1.0, "1.000"),
])
def test_value(v, text):
    assert numbers.value(v) == text


def test_integers_stay_integers():
    assert numbers.value(60.0, integer=True) == "60" and numbers.count(525) == "525" and numbers.count(None) == "n/a"


@pytest.mark.parametrize("v, text", [(0.625, "62.5%"), (1.0, "100.0%"), (0.0, "0.0%"), (None, "n/a")])
def test_share(v, text):
    assert numbers.share(v) == text


@pytest.mark.parametrize("d, ci, text", [
    (0.0312, [0.01, 0.05], "+0.0312 [+0.0100, +0.0500]"),
    (-1523.6264, [-1664.3, -1378.6], "-1524 [-1664, -1379]"),
    (108.26, [107.77, 108.71], "+108.3 [+107.8, +108.7]"),
    (0.05, None, "+0.0500"),
    (-0.0001234, [-0.0003, 0.00005], "-0.0001 [-0.0003, +0.0001]"),
    (None, None, "n/a"),
])
def test_delta(d, ci, text):
    assert numbers.delta(d, ci) == text


def test_delta_bounds_share_the_decimals_of_the_largest():
    text = numbers.delta(0.2, [-12.5, 13.0])
    assert text == "+0.20 [-12.50, +13.00]"
    assert all(len(x.split(".")[1].rstrip("],")) == 2 for x in text.split())


@pytest.mark.parametrize("p, text, stars", [(0.0004, "<0.001", "***"), (0.004, "0.004", "**"), (0.049, "0.049", "*"),
                                            (0.05, "0.050", ""), (None, "n/a", ""), (math.nan, "n/a", "")])
def test_p(p, text, stars):
    assert numbers.p_value(p) == text and numbers.stars(p) == stars


def test_no_negative_zero():
    assert numbers.delta(0.275, [-1e-12, 0.5263]) == "+0.2750 [+0.0000, +0.5263]"
    assert numbers.value(-1e-9) == "0.0000"


@pytest.mark.parametrize("v, text", [(0.0877, "0.088"), (0.3285, "0.33"), (7.41, "7.4"), (1523.6, "1500"),
                                     (0.0, "0"), (None, "n/a"), (math.nan, "n/a")])
def test_mde_has_two_significant_digits(v, text):
    assert numbers.mde(v) == text

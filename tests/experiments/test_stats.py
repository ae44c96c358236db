"""The report's statistics against values computed by hand and closed forms."""

from __future__ import annotations

import math

import pytest

from jifen.experiments import stats


def test_two_proportion_z_by_hand() -> None:
    # 50/100 against 60/100: pooled p = 0.55, se = sqrt(0.55 · 0.45 · (1/100 + 1/100))
    # = 0.0703562, z = 0.1 / 0.0703562 = 1.42134, p = erfc(1.42134 / √2) = 0.15522.
    r = stats.two_proportion_z(50, 100, 60, 100)
    assert r.statistic == pytest.approx(1.42134, abs=1e-5)
    assert r.p_value == pytest.approx(0.15522, abs=1e-5)
    assert not r.significant()
    # Reversed groups: same p, opposite sign.
    back = stats.two_proportion_z(60, 100, 50, 100)
    assert back.statistic == pytest.approx(-1.42134, abs=1e-5)
    assert back.p_value == pytest.approx(r.p_value)
    # 40/200 against 70/200: pooled 0.275, se = 0.0446514, z = 3.35936, p = 0.00078.
    r = stats.two_proportion_z(40, 200, 70, 200)
    assert r.statistic == pytest.approx(3.35936, abs=1e-4)
    assert r.p_value == pytest.approx(0.000781, abs=2e-6)
    assert r.significant()


def test_two_proportion_z_edges() -> None:
    assert stats.two_proportion_z(0, 0, 1, 5).p_value is None
    same = stats.two_proportion_z(10, 10, 20, 20)  # both 100%: no variance, no difference
    assert same.p_value == 1.0
    assert not same.significant()


def test_normal_critical_value() -> None:
    assert stats.normal_two_sided(1.959963985) == pytest.approx(0.05, abs=1e-9)
    assert stats.normal_two_sided(0.0) == 1.0


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0, 2.0, 5.0, 30.0])
def test_student_t_closed_forms(t: float) -> None:
    # df = 1 (Cauchy): p = 1 − (2/π)·atan(|t|); df = 2: p = 1 − |t|/√(2 + t²).
    assert stats.student_t_two_sided(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t))
    assert stats.student_t_two_sided(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t))


def test_student_t_table_values() -> None:
    # Two-sided 5% critical values from the t table.
    assert stats.student_t_two_sided(12.7062, 1) == pytest.approx(0.05, abs=1e-5)
    assert stats.student_t_two_sided(2.2281, 10) == pytest.approx(0.05, abs=1e-4)
    assert stats.student_t_two_sided(2.0423, 30) == pytest.approx(0.05, abs=1e-4)
    # Two-sided 1% at df = 20.
    assert stats.student_t_two_sided(2.8453, 20) == pytest.approx(0.01, abs=1e-4)
    # Large df approaches the normal distribution.
    assert stats.student_t_two_sided(1.959964, 1e6) == pytest.approx(0.05, abs=1e-5)


def test_regularized_beta_identities() -> None:
    for x in (0.1, 0.37, 0.5, 0.9):
        assert stats.regularized_beta(x, 1, 1) == pytest.approx(x)
        assert stats.regularized_beta(x, 3, 1) == pytest.approx(x**3)
        a, b = 2.5, 7.0
        assert stats.regularized_beta(x, a, b) == pytest.approx(
            1 - stats.regularized_beta(1 - x, b, a)
        )
    assert stats.regularized_beta(0.0, 2, 3) == 0.0
    assert stats.regularized_beta(1.0, 2, 3) == 1.0


def test_welch_by_hand() -> None:
    # n 10, mean 5, var 4 against n 12, mean 7, var 9:
    # se² = 4/10 + 9/12 = 1.15, t = 2 / √1.15 = 1.86501,
    # df = 1.15² / (0.4²/9 + 0.75²/11) = 1.3225 / 0.0689141 = 19.1908.
    r = stats.welch_t(10, 5.0, 4.0, 12, 7.0, 9.0)
    assert r.statistic == pytest.approx(1.86501, abs=1e-5)
    assert r.df == pytest.approx(19.1908, abs=1e-3)
    assert r.p_value == pytest.approx(stats.student_t_two_sided(1.86501, 19.1908), abs=1e-6)
    assert 0.05 < r.p_value < 0.1  # between the 10% (1.729) and 5% (2.093) critical values
    # Equal means: t = 0, p = 1.
    assert stats.welch_t(5, 3.0, 1.0, 8, 3.0, 2.0).p_value == pytest.approx(1.0)


def test_welch_edges() -> None:
    assert stats.welch_t(1, 1.0, 0.0, 10, 2.0, 1.0).p_value is None
    flat_same = stats.welch_t(5, 2.0, 0.0, 5, 2.0, 0.0)
    assert flat_same.p_value == 1.0
    flat_diff = stats.welch_t(5, 2.0, 0.0, 5, 3.0, 0.0)
    assert flat_diff.p_value == 0.0
    assert flat_diff.significant()


def test_sample_variance() -> None:
    xs = [1, 2, 2, 5, 7]
    mean = sum(xs) / len(xs)
    expected = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
    got = stats.sample_variance(len(xs), sum(xs), sum(x * x for x in xs))
    assert got == pytest.approx(expected)
    assert stats.sample_variance(1, 3, 9) == 0.0

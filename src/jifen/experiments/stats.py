"""The statistics of the experiment report, in the standard library only (no scipy).

* ``two_proportion_z``: pooled two-proportion z-test, two-sided p from the normal distribution.
* ``welch_t``: Welch's unequal-variance t-test from each group's n, mean and sample variance,
  two-sided p from Student's t with the Welch–Satterthwaite degrees of freedom.
* ``student_t_two_sided`` is exact up to floating point: it goes through the regularized
  incomplete beta function, evaluated by its continued fraction (Lentz's method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05
_EPS = 1e-15
_TINY = 1e-300


@dataclass(frozen=True, slots=True)
class TestResult:
    """One comparison of treatment against control. ``p_value`` is None when the test does not
    apply (an empty group, fewer than two members for a variance) and then nothing is
    significant."""

    test: str
    statistic: float | None
    p_value: float | None
    df: float | None = None
    note: str | None = None

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value is not None and self.p_value < alpha


def normal_two_sided(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Compare x1/n1 (control) with x2/n2 (treatment); z > 0 when treatment is higher."""
    if n1 <= 0 or n2 <= 0:
        return TestResult("two_proportion_z", None, None, note="a group is empty")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        # Both groups all-0 or all-1: identical proportions, no evidence of a difference.
        return TestResult("two_proportion_z", 0.0, 1.0)
    z = (p2 - p1) / se
    return TestResult("two_proportion_z", z, normal_two_sided(z))


def welch_t(n1: int, mean1: float, var1: float, n2: int, mean2: float, var2: float) -> TestResult:
    """Welch's t-test of mean2 (treatment) against mean1 (control); t > 0 when treatment is
    higher. ``var`` is the sample variance (denominator n − 1)."""
    if n1 < 2 or n2 < 2:
        return TestResult("welch_t", None, None, note="each group needs at least 2 members")
    a, b = var1 / n1, var2 / n2
    se2 = a + b
    if se2 <= 0.0:
        if mean1 == mean2:
            return TestResult("welch_t", 0.0, 1.0, note="no variance in either group")
        return TestResult(
            "welch_t", math.copysign(math.inf, mean2 - mean1), 0.0, note="no variance"
        )
    t = (mean2 - mean1) / math.sqrt(se2)
    df = se2 * se2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    return TestResult("welch_t", t, student_t_two_sided(t, df), df=df)


def student_t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom (df > 0, not integral
    necessarily): I_{df/(df+t²)}(df/2, 1/2)."""
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(t):
        return 0.0
    x = df / (df + t * t)
    return min(1.0, max(0.0, regularized_beta(x, df / 2.0, 0.5)))


def regularized_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry
    # I_x(a, b) = 1 − I_{1−x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(x, a, b) / a
    return 1.0 - front * _beta_cf(1.0 - x, b, a) / b


def _beta_cf(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    max_iter = 10_000 + int(10 * math.sqrt(max(a, b)))
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for x={x}, a={a}, b={b}")


def sample_variance(n: int, total: float, total_sq: float) -> float:
    """Sample variance (n − 1 denominator) from a count, a sum and a sum of squares; 0 for
    n < 2. Clamped at 0 against rounding."""
    if n < 2:
        return 0.0
    mean = total / n
    return max(0.0, (total_sq - n * mean * mean) / (n - 1))

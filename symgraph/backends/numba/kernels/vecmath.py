"""Scalar exp, log, log1p, expm1, tanh, sigmoid, softplus and cbrt that LLVM inlines and vectorizes in a caller's
loop.

The llvmlite wheels have no SVML, so np.exp and friends stay scalar libm calls inside a fused loop. These are
branch-free polynomial versions (range reduction, polynomial, exponent built with integer bit operations), one per
dtype: the _f32 versions keep every constant and intermediate float32 (8 lanes on AVX2), the _f64 ones float64.
Generated modules copy the ones they call (and their callees) and compile them with error_model="numpy" and
fastmath {"nsz", "contract", "reassoc", "arcp"}; without "nnan"/"ninf", NaN and infinities are handled here.

Accuracy (tests/test_numba_vecmath.py): results are within 2 ulp of the correctly rounded value (float32: np.* in
float64 rounded; float64: np.* in 80-bit long double rounded), so within 4 ulp of NumPy's own float64 results; NaN
gives NaN, the limits at infinities are exact, signed zeros are kept (tanh, expm1, log1p of -0 are -0), and exp
results that are denormal are computed (as np.exp does), not flushed to zero. sigmoid is 1 / (1 + exp(-x)) as
scipy.special.expit computes it, so it is 0 where exp(-x) overflows (x < -88.72 in float32, x < -709.78 in float64),
as expit and torch.sigmoid return there.

How the code is written, and why:
- Every choice is a select: ``branchless`` for conditions, ``larger``/``smaller`` for clamps (Python's max/min:
  ``larger(bound, x)`` is the bound when x is NaN, since it keeps its first argument unless the second is larger;
  ``larger(x, bound)`` keeps NaN). A ternary written inline can stay a branch. Each function must stay one basic
  block and small: LLVM inlines a call into the loop only below a cost of 375 for such a callee (softplus_f64, the
  largest, costs about 360), and a call that is not inlined is made per element, which keeps the loop from being
  vectorized.
- Kernel files hold these functions flattened (backends/numba/flatten.py: each with its helpers' statements written
  out in place, so that Numba compiles one function per kernel rather than a chain of them), with ``branchless``
  and ``reinterpret`` replaced by the LLVM instructions they stand for (kernels/intrinsics.py). Every helper is
  therefore straight-line: assignments, then one return.
- Fastmath's "reassoc" rewrites (x - n*ln2_hi) - n*ln2_lo into x - n*(ln2_hi + ln2_lo), undoing the two-constant
  (Cody-Waite) reduction, y * 2^a * 2^b into y * 2^(a+b), which overflows, and x - ((1 + x) - 1) into 0. Sums whose
  order matters are split by ``unless_nan``, a select that reassociation does not cross, or done on integer bits,
  which it does not touch (LLVM still folds through the select when one of its arms simplifies, as
  (1 + x) - 1 does: log1p rebuilds u - 1 from the bits of u).
"""

import numpy as np


def branchless(condition, if_true, if_false):
    """``if_true if condition else if_false``, compiled to a select once inlined (see the module docstring)."""
    return if_true if condition else if_false


def unless_nan(value, x):
    """``value``, or ``x`` when x is NaN: passes NaN through and keeps what follows from being reassociated into
    ``value``."""
    return branchless(x == x, value, x)


def larger(a, b):
    """Python's max(a, b) as a select: ``a`` unless ``b`` is larger."""
    return branchless(b > a, b, a)


def smaller(a, b):
    """Python's min(a, b) as a select: ``a`` unless ``b`` is smaller."""
    return branchless(b < a, b, a)


def reinterpret(value, dtype):
    """The bits of a NumPy scalar read as another type of the same width."""
    return value.view(dtype)


def pow2_f32(n):
    """2.0**n as float32 for an integer n in [-126, 127]: the exponent field built from n."""
    return reinterpret(np.int32((n + np.int32(127)) << np.int32(23)), np.float32)


def pow2_f64(n):
    """2.0**n as float64 for an integer n in [-1022, 1023]."""
    return reinterpret(np.int64((np.int64(n) + np.int64(1023)) << np.int64(52)), np.float64)


def ldexp_f32(y, n):
    """y * 2**n for a normal float32 y in [0.5, 2] and n in [-151, 128], rounded once (denormal and infinite results
    come out as a single multiplication gives them): half of n goes into y's exponent bits, then one multiply."""
    low = n >> np.int32(1)
    high = n - low
    shifted = reinterpret(np.int32(reinterpret(np.float32(y), np.int32) + (high << np.int32(23))), np.float32)
    return shifted * pow2_f32(low)


def ldexp_f64(y, n):
    """y * 2**n for a normal float64 y in [0.5, 2] and n in [-1077, 1025], rounded once."""
    low = n >> np.int32(1)
    high = np.int64(n - low)
    shifted = reinterpret(np.int64(reinterpret(np.float64(y), np.int64) + (high << np.int64(52))), np.float64)
    return shifted * pow2_f64(low)


def expm1_poly_f32(r):
    """(e**r - 1 - r) / r**2 for |r| <= ln2/2 (the Cephes expf polynomial)."""
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    return p * r + np.float32(5.0000001201e-1)


def expm1_poly_f64(r):
    """(e**r - 1 - r) / r**2 for |r| <= ln2/2: a weighted minimax fit (mpmath), relative error of expm1 2e-17."""
    p = np.float64(2.5062120656164344e-08)
    p = p * r + np.float64(2.76259518857254e-07)
    p = p * r + np.float64(2.7557376643822147e-06)
    p = p * r + np.float64(2.4801505433818847e-05)
    p = p * r + np.float64(1.9841269760547935e-04)
    p = p * r + np.float64(1.3888888931546607e-03)
    p = p * r + np.float64(8.333333333365712e-03)
    p = p * r + np.float64(4.1666666666575834e-02)
    p = p * r + np.float64(1.6666666666666638e-01)
    return p * r + np.float64(0.5000000000000006)


def reduce_ln2_f32(clamped, x):
    """(n, r) with clamped = n ln2 + r, |r| <= ln2/2, n integral (float32); r is NaN when x is NaN."""
    n = np.rint(clamped * np.float32(1.44269504))
    r = unless_nan(clamped - n * np.float32(0.693359375), x)
    return n, r - n * np.float32(-2.12194440e-4)


def reduce_ln2_f64(clamped, x):
    """(n, r) with clamped = n ln2 + r, |r| <= ln2/2, n integral (float64, fdlibm's split of ln2)."""
    n = np.rint(clamped * np.float64(1.4426950408889634))
    r = unless_nan(clamped - n * np.float64(6.93147180369123816490e-01), x)
    return n, r - n * np.float64(1.90821492927058770002e-10)


def exp_f32(x):
    """e**x in float32: 0 below -103.98, inf above 88.72, denormal results in between as np.exp."""
    clamped = smaller(larger(np.float32(-104.0), x), np.float32(89.0))
    n, r = reduce_ln2_f32(clamped, x)
    y = (expm1_poly_f32(r) * r + np.float32(1.0)) * r + np.float32(1.0)
    return unless_nan(ldexp_f32(y, np.int32(n)), x)  # NaN bits do not survive ldexp's integer add


def exp_f64(x):
    """e**x in float64: 0 below -745.13, inf above 709.78, denormal results in between as np.exp."""
    clamped = smaller(larger(np.float64(-746.0), x), np.float64(710.0))
    n, r = reduce_ln2_f64(clamped, x)
    y = (expm1_poly_f64(r) * r + np.float64(1.0)) * r + np.float64(1.0)
    return unless_nan(ldexp_f64(y, np.int32(n)), x)  # NaN bits do not survive ldexp's integer add


def log1p_reduced_f32(f, tail, x):
    """log(1 + f) + tail for f in [sqrt(1/2) - 1, sqrt(2) - 1] and a small tail: fdlibm's
    f - (f^2/2 - (s (f^2/2 + R(s^2)) + tail)) with s = f / (2 + f) and musl's logf coefficients; the small terms are
    summed before f is added (unless_nan keeps that order)."""
    s = f / (np.float32(2.0) + f)
    z = s * s
    w = z * z
    r = z * (np.float32(0.66666662693) + w * np.float32(0.28498786688))
    r = r + w * (np.float32(0.40000972152) + w * np.float32(0.24279078841))
    half_square = np.float32(0.5) * f * f
    return f - unless_nan(half_square - (s * (half_square + r) + tail), x)


def log1p_reduced_f64(f, tail, x):
    """log(1 + f) + tail for f in [sqrt(1/2) - 1, sqrt(2) - 1] and a small tail, as log1p_reduced_f32 with
    fdlibm's e_log.c polynomial."""
    s = f / (np.float64(2.0) + f)
    z = s * s
    w = z * z
    odd = w * (np.float64(3.999999999940941908e-01) + w * (np.float64(2.222219843214978396e-01)
                                                         + w * np.float64(1.531383769920937332e-01)))
    even = z * (np.float64(6.666666666666735130e-01) + w * (np.float64(2.857142874366239149e-01)
                                                          + w * (np.float64(1.818357216161805012e-01)
                                                                 + w * np.float64(1.479819860511658591e-01))))
    half_square = np.float64(0.5) * f * f
    return f - unless_nan(half_square - (s * (half_square + (odd + even)) + tail), x)


def log_specials_f32(value, x, pole):
    """``value`` for finite x > pole; -inf at the pole, NaN below it and for NaN, inf for inf. Applied to all but the
    exact k ln2_hi term of a logarithm, so that it also keeps that last addition apart (k ln2 = k ln2_hi + k ln2_lo)."""
    value = branchless(x > pole, value, branchless(x == pole, np.float32(-np.inf), np.float32(np.nan)))
    return branchless(x < np.float32(np.inf), value, x)


def log_specials_f64(value, x, pole):
    """log_specials_f32 in float64."""
    value = branchless(x > pole, value, branchless(x == pole, np.float64(-np.inf), np.float64(np.nan)))
    return branchless(x < np.float64(np.inf), value, x)


def log_f32(x):
    """Natural logarithm in float32 (denormal inputs scaled by 2**25 first)."""
    tiny = x < np.float32(1.17549435e-38)
    scaled = branchless(tiny, x * np.float32(33554432.0), x)
    bits = np.int32(reinterpret(np.float32(scaled), np.int32) + np.int32(0x3f800000 - 0x3f3504f3))
    k = np.int32((bits >> np.int32(23)) - branchless(tiny, np.int32(152), np.int32(127)))
    m = reinterpret(np.int32((bits & np.int32(0x7fffff)) + np.int32(0x3f3504f3)), np.float32)
    scale = np.float32(k)
    value = log1p_reduced_f32(m - np.float32(1.0), scale * np.float32(9.0580006145e-06), x)
    return scale * np.float32(6.9313812256e-01) + log_specials_f32(value, x, np.float32(0.0))


def log_f64(x):
    """Natural logarithm in float64 (denormal inputs scaled by 2**54 first)."""
    tiny = x < np.float64(2.2250738585072014e-308)
    scaled = branchless(tiny, x * np.float64(18014398509481984.0), x)
    bits = np.int64(reinterpret(np.float64(scaled), np.int64) + np.int64(0x3ff0000000000000 - 0x3fe6a09e00000000))
    k = np.int32((bits >> np.int64(52)) - branchless(tiny, np.int64(1077), np.int64(1023)))
    m = reinterpret(np.int64((bits & np.int64(0xfffffffffffff)) + np.int64(0x3fe6a09e00000000)), np.float64)
    scale = np.float64(k)
    value = log1p_reduced_f64(m - np.float64(1.0), scale * np.float64(1.90821492927058770002e-10), x)
    return scale * np.float64(6.93147180369123816490e-01) + log_specials_f64(value, x, np.float64(0.0))


def log1p_f32(x):
    """log(1 + x) in float32, accurate near 0: f = x itself where 1 + x is in [sqrt(1/2), sqrt(2)), elsewhere the
    significand of u = 1 + x with the rounding error of u added back (fdlibm's s_log1pf.c). log1p(x) has x's sign,
    which copysign gives -0 at -0."""
    u = np.float32(1.0) + x
    bits = np.int32(reinterpret(np.float32(u), np.int32) + np.int32(0x3f800000 - 0x3f3504f3))
    k = np.int32((bits >> np.int32(23)) - np.int32(127))
    m = reinterpret(np.int32((bits & np.int32(0x7fffff)) + np.int32(0x3f3504f3)), np.float32)
    # u - 1 (exact while u < 2**24, where the correction matters) rebuilt from the significand m = u / 2**k:
    # written as u - 1, reassociation folds the rounding error x - ((1 + x) - 1) to 0
    limited = smaller(k, np.int32(24))
    error = x - (m - pow2_f32(-limited)) * pow2_f32(limited)
    near_zero = k == np.int32(0)
    f = branchless(near_zero, x, m - np.float32(1.0))
    correction = branchless(near_zero | (k > np.int32(24)), np.float32(0.0), error / u)
    scale = np.float32(k)
    value = log1p_reduced_f32(f, correction + scale * np.float32(9.0580006145e-06), x)
    result = scale * np.float32(6.9313812256e-01) + log_specials_f32(value, x, np.float32(-1.0))
    return np.copysign(result, x)


def log1p_f64(x):
    """log(1 + x) in float64, as log1p_f32."""
    u = np.float64(1.0) + x
    bits = np.int64(reinterpret(np.float64(u), np.int64) + np.int64(0x3ff0000000000000 - 0x3fe6a09e00000000))
    k = np.int32((bits >> np.int64(52)) - np.int64(1023))
    m = reinterpret(np.int64((bits & np.int64(0xfffffffffffff)) + np.int64(0x3fe6a09e00000000)), np.float64)
    # u - 1 (exact while u < 2**53) rebuilt from the significand m = u / 2**k, as in log1p_f32
    limited = smaller(k, np.int32(53))
    error = x - (m - pow2_f64(-limited)) * pow2_f64(limited)
    near_zero = k == np.int32(0)
    f = branchless(near_zero, x, m - np.float64(1.0))
    correction = branchless(near_zero | (k > np.int32(53)), np.float64(0.0), error / u)
    scale = np.float64(k)
    value = log1p_reduced_f64(f, correction + scale * np.float64(1.90821492927058770002e-10), x)
    result = scale * np.float64(6.93147180369123816490e-01) + log_specials_f64(value, x, np.float64(-1.0))
    return np.copysign(result, x)


def expm1_f32(x):
    """e**x - 1 in float32, accurate near 0: 2**n expm1(r) + (2**n - 1) with x = n ln2 + r; -1 below -87 and inf
    above 88.72. Above n = 100 the factor 2**(n - 100) is applied last, so that 2**n stays a float32. expm1(x) has
    x's sign, which copysign gives -0 at -0."""
    clamped = smaller(larger(np.float32(-87.0), x), np.float32(89.0))
    n, r = reduce_ln2_f32(clamped, x)
    reduced = r + r * r * expm1_poly_f32(r)
    ni = np.int32(n)
    late = larger(ni - np.int32(100), np.int32(0))
    power = pow2_f32(ni - late)
    power_minus_one = unless_nan(power - pow2_f32(-late), x)
    return np.copysign((power * reduced + power_minus_one) * pow2_f32(late), x)


def expm1_f64(x):
    """e**x - 1 in float64, as expm1_f32: -1 below -708, inf above 709.78, 2**(n - 1000) applied last."""
    clamped = smaller(larger(np.float64(-708.0), x), np.float64(710.0))
    n, r = reduce_ln2_f64(clamped, x)
    reduced = r + r * r * expm1_poly_f64(r)
    ni = np.int32(n)
    late = larger(ni - np.int32(1000), np.int32(0))
    power = pow2_f64(ni - late)
    power_minus_one = unless_nan(power - pow2_f64(-late), x)
    return np.copysign((power * reduced + power_minus_one) * pow2_f64(late), x)


def tanh_f32(x):
    """tanh in float32: |x| + |x|^3 P(x^2) below |x| = 0.625 (Cephes tanhf; built from exp, tanh would lose relative
    accuracy near 0), 1 - 2 / (e^(2|x|) + 1) above, with x's sign (so tanh(-0) = -0); e^(2|x|) needs neither
    denormals nor overflow: 2|x| is capped at 20, where tanh is 1 in float32."""
    magnitude = np.abs(x)
    square = x * x
    p = np.float32(-5.70498872745e-3)
    p = p * square + np.float32(2.06390887954e-2)
    p = p * square + np.float32(-5.37397155531e-2)
    p = p * square + np.float32(1.33314422036e-1)
    p = p * square + np.float32(-3.33332819422e-1)
    near_zero = magnitude + magnitude * square * p
    n, r = reduce_ln2_f32(smaller(np.float32(20.0), magnitude + magnitude), x)
    growth = ((expm1_poly_f32(r) * r + np.float32(1.0)) * r + np.float32(1.0)) * pow2_f32(np.int32(n))
    far = np.float32(1.0) - np.float32(2.0) / (growth + np.float32(1.0))
    return np.copysign(branchless(magnitude < np.float32(0.625), near_zero, far), x)


def tanh_f64(x):
    """tanh in float64, as tanh_f32 with a weighted minimax odd polynomial (mpmath, error 1e-17) below 0.625 and
    2|x| capped at 40."""
    magnitude = np.abs(x)
    square = x * x
    p = np.float64(-1.607184345961519e-05)
    p = p * square + np.float64(7.714276265257645e-05)
    p = p * square + np.float64(-2.2856267548958484e-04)
    p = p * square + np.float64(5.863157057027483e-04)
    p = p * square + np.float64(-1.4549585947152284e-03)
    p = p * square + np.float64(3.591989111621285e-03)
    p = p * square + np.float64(-8.863220993784171e-03)
    p = p * square + np.float64(2.1869487575301612e-02)
    p = p * square + np.float64(-5.3968253931225715e-02)
    p = p * square + np.float64(1.3333333333261976e-01)
    p = p * square + np.float64(-3.3333333333332854e-01)
    near_zero = magnitude + magnitude * square * p
    n, r = reduce_ln2_f64(smaller(np.float64(40.0), magnitude + magnitude), x)
    growth = ((expm1_poly_f64(r) * r + np.float64(1.0)) * r + np.float64(1.0)) * pow2_f64(np.int32(n))
    far = np.float64(1.0) - np.float64(2.0) / (growth + np.float64(1.0))
    return np.copysign(branchless(magnitude < np.float64(0.625), near_zero, far), x)


def sigmoid_f32(x):
    """1 / (1 + e^-x) in float32, as scipy.special.expit computes it: 0 below -88.72, where e^-x overflows."""
    return np.float32(1.0) / (np.float32(1.0) + exp_f32(-x))


def sigmoid_f64(x):
    """1 / (1 + e^-x) in float64, as scipy.special.expit: 0 below -709.78."""
    return np.float64(1.0) / (np.float64(1.0) + exp_f64(-x))


def log1p_unit_f32(t):
    """log(1 + t) for t in [0, 1] (or NaN): t itself up to sqrt(2) - 1, else ln2 + log(1 + (t - 1) / 2), where
    (t - 1) / 2 is exact."""
    upper = t > np.float32(0.41421356)
    scale = branchless(upper, np.float32(1.0), np.float32(0.0))
    f = branchless(upper, (t - np.float32(1.0)) * np.float32(0.5), t)
    return scale * np.float32(6.9313812256e-01) + log1p_reduced_f32(f, scale * np.float32(9.0580006145e-06), t)


def log1p_unit_f64(t):
    """log(1 + t) for t in [0, 1] (or NaN), as log1p_unit_f32."""
    upper = t > np.float64(0.41421356237309503)
    scale = branchless(upper, np.float64(1.0), np.float64(0.0))
    f = branchless(upper, (t - np.float64(1.0)) * np.float64(0.5), t)
    return (scale * np.float64(6.93147180369123816490e-01)
            + log1p_reduced_f64(f, scale * np.float64(1.90821492927058770002e-10), t))


def softplus_f32(x):
    """log(1 + e^x) in float32 as np.logaddexp(x, 0) computes it: max(x, 0) + log1p(e^-|x|), never overflowing."""
    return larger(x, np.float32(0.0)) + log1p_unit_f32(exp_f32(-np.abs(x)))


def softplus_f64(x):
    """log(1 + e^x) in float64, as softplus_f32."""
    return larger(x, np.float64(0.0)) + log1p_unit_f64(exp_f64(-np.abs(x)))


def cbrt_f32(x):
    """Cube root in float32: |x| = m * 2**(3q) with m in [1, 8) (denormal inputs scaled by 2**24 first), a first
    guess for cbrt(m) from its bits divided by 3 (fdlibm's s_cbrtf.c), a Halley step (cubic convergence), then a
    Newton step written as a small correction, so that its rounding errors are relative to the correction; the root
    is that times 2**q. cbrt(-x) = -cbrt(x), and 0, inf and NaN are their own cube roots. (Numba's np.cbrt before
    0.66 is pow(x, 1/3): 10 ulp off, and +0 at -0.)"""
    a = np.abs(x)
    tiny = a < np.float32(1.17549435e-38)
    bits = reinterpret(np.float32(branchless(tiny, a * np.float32(16777216.0), a)), np.int32)
    biased = bits >> np.int32(23)
    q = (biased + np.int32(131)) // np.int32(3) - np.int32(86)  # floor((biased - 127) / 3), on a positive number
    m_bits = np.int32((bits & np.int32(0x7fffff)) | ((biased - np.int32(3) * q) << np.int32(23)))
    m = reinterpret(m_bits, np.float32)
    y = reinterpret(np.int32(m_bits // np.int32(3) + np.int32(709958130)), np.float32)
    y3 = y * y * y
    y = y * (y3 + m + m) / (y3 + y3 + m)
    y = y - (y * y * y - m) / (np.float32(3.0) * y * y)
    root = y * pow2_f32(q - branchless(tiny, np.int32(8), np.int32(0)))
    own = (a == np.float32(0.0)) | (a == np.float32(np.inf)) | (x != x)
    return branchless(own, x, np.copysign(root, x))


def cbrt_f64(x):
    """Cube root in float64, as cbrt_f32 (denormal inputs scaled by 2**54, the guess from the high 32 bits as in
    fdlibm's s_cbrt.c, two Halley steps)."""
    a = np.abs(x)
    tiny = a < np.float64(2.2250738585072014e-308)
    bits = reinterpret(np.float64(branchless(tiny, a * np.float64(18014398509481984.0), a)), np.int64)
    biased = np.int32(bits >> np.int64(52))
    q = (biased + np.int32(1026)) // np.int32(3) - np.int32(683)  # floor((biased - 1023) / 3)
    m_bits = np.int64((bits & np.int64(0xfffffffffffff)) | (np.int64(biased - np.int32(3) * q) << np.int64(52)))
    m = reinterpret(m_bits, np.float64)
    high = np.int32(m_bits >> np.int64(32))
    y = reinterpret(np.int64(np.int64(high // np.int32(3) + np.int32(715094163)) << np.int64(32)), np.float64)
    y3 = y * y * y
    y = y * (y3 + m + m) / (y3 + y3 + m)
    y3 = y * y * y
    y = y * (y3 + m + m) / (y3 + y3 + m)
    y = y - (y * y * y - m) / (np.float64(3.0) * y * y)
    root = y * pow2_f64(q - branchless(tiny, np.int32(18), np.int32(0)))
    own = (a == np.float64(0.0)) | (a == np.float64(np.inf)) | (x != x)
    return branchless(own, x, np.copysign(root, x))

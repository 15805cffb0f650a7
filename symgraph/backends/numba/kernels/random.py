"""Philox4x64-10 uniform numbers for generated modules, bit-identical to NumPy's ``Generator(Philox(...)).random``.

NumPy's Philox starts with an empty buffer, so it increments its 256-bit counter (carrying across the four words)
before encrypting each 4-word block. Doubles take the top 53 bits of each 64-bit word; floats take the top 24 bits
of each 32-bit half, the low half of a word before its high half. All arithmetic is in np.uint64: mixing it with
Numba's int64 would promote to float64.
"""

import numpy as np

# Called by the other kernels alone, never from Python (compiled without a CPython wrapper).
COMPILED_CALLERS_ONLY = ("mulhilo64", "philox4x64_10", "increment")


def mulhilo64(a, b):
    """The high and low 64-bit words of the 128-bit product a * b (from 32-bit halves: Numba has no uint128)."""
    half = np.uint64(0xFFFFFFFF)
    shift = np.uint64(32)
    a_lo, a_hi = a & half, a >> shift
    b_lo, b_hi = b & half, b >> shift
    hi_hi = a_hi * b_hi
    hi_lo = a_hi * b_lo
    lo_hi = a_lo * b_hi
    lo_lo = a_lo * b_lo
    carry = ((hi_lo & half) + (lo_hi & half) + (lo_lo >> shift)) >> shift
    return hi_hi + (hi_lo >> shift) + (lo_hi >> shift) + carry, a * b


def philox4x64_10(c0, c1, c2, c3, k0, k1):
    """The Philox4x64 block of counter (c0, c1, c2, c3) under key (k0, k1): ten rounds, the key bumped between."""
    m0 = np.uint64(0xD2E7470EE14C6C93)
    m1 = np.uint64(0xCA5A826395121157)
    w0 = np.uint64(0x9E3779B97F4A7C15)
    w1 = np.uint64(0xBB67AE8584CAA73B)
    for round_ in range(10):
        if round_ > 0:
            k0 += w0
            k1 += w1
        hi0, lo0 = mulhilo64(m0, c0)
        hi1, lo1 = mulhilo64(m1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def increment(c0, c1, c2, c3):
    """The 256-bit counter (c0 least significant) plus one, carrying across its words."""
    one, zero = np.uint64(1), np.uint64(0)
    c0 += one
    if c0 == zero:
        c1 += one
        if c1 == zero:
            c2 += one
            if c2 == zero:
                c3 += one
    return c0, c1, c2, c3


def uniform_float64(seed, calls, salt, out):
    """out (1-D float64) = Generator(Philox(key=seed, counter=[0, 0, calls, salt])).random(out.size): each word
    w gives (w >> 11) 2^-53."""
    n = out.size
    k0, k1 = np.uint64(seed), np.uint64(0)
    c0, c1, c2, c3 = np.uint64(0), np.uint64(0), np.uint64(calls), np.uint64(salt)
    shift = np.uint64(11)
    scale = 1.0 / 9007199254740992.0
    for start in range(0, n, 4):
        c0, c1, c2, c3 = increment(c0, c1, c2, c3)
        words = philox4x64_10(c0, c1, c2, c3, k0, k1)
        for lane in range(min(4, n - start)):
            out[start + lane] = np.float64(words[lane] >> shift) * scale


def uniform_float32(seed, calls, salt, out):
    """out (1-D float32) = the same stream's ``random(out.size, np.float32)``: each 32-bit half h (the low half of a
    word before its high half) gives (h >> 8) 2^-24."""
    n = out.size
    k0, k1 = np.uint64(seed), np.uint64(0)
    c0, c1, c2, c3 = np.uint64(0), np.uint64(0), np.uint64(calls), np.uint64(salt)
    half = np.uint64(0xFFFFFFFF)
    low_shift, high_shift = np.uint64(8), np.uint64(40)
    scale = np.float32(1.0 / 16777216.0)
    for start in range(0, n, 8):
        c0, c1, c2, c3 = increment(c0, c1, c2, c3)
        words = philox4x64_10(c0, c1, c2, c3, k0, k1)
        for lane in range(min(8, n - start)):
            word = words[lane >> 1]
            bits = word >> high_shift if lane & 1 else (word & half) >> low_shift
            out[start + lane] = np.float32(bits) * scale

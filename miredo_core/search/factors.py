"""Integer factorizations of loop dims: divisors, prime factors, multiplicative partitions."""

from __future__ import annotations

import math


def divisors(n: int) -> list[int]:
    """Every divisor of n, ascending."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def prime_factors(n: int) -> list[int]:
    """Prime factors of n with multiplicity, ascending."""
    factors, p = [], 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    if n > 1:
        factors.append(n)
    return factors


def factorizations(n: int, smallest: int = 2) -> list[tuple[int, ...]]:
    """Every multiset of factors >= 2 whose product is n, as non-decreasing tuples."""
    if n == 1:
        return [()]
    found = []
    for f in range(smallest, n + 1):
        if n % f == 0:
            found += [(f, *rest) for rest in factorizations(n // f, f)]
    return found

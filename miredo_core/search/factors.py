"""Integer factorizations of loop dims: divisors, prime factors, multiplicative partitions.

Every function works from the prime factorization, found by trial division up to sqrt(n). That
is bounded because loop dims are at most `workload.MAX_DIM_SIZE` (2**31 - 1, so at most 46,341
trial divisors); a larger argument is refused with a ValueError instead of running for hours.
Divisors and partitions are built from the prime factors, so a prime dim costs no more than
its trial division (enumerating every integer up to n would take n steps).
"""

from __future__ import annotations

import functools
import itertools

from miredo_core.workload import MAX_DIM_SIZE


def _check(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DIM_SIZE:
        raise ValueError(f"can only factor integers in [1, {MAX_DIM_SIZE}], got {n!r}")


@functools.lru_cache(maxsize=4096)
def _prime_factors(n: int) -> tuple[int, ...]:
    _check(n)
    factors, p = [], 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1 if p == 2 else 2
    if n > 1:
        factors.append(n)
    return tuple(factors)


@functools.lru_cache(maxsize=4096)
def _divisors(n: int) -> tuple[int, ...]:
    powers = [
        [prime**k for k in range(len(list(group)) + 1)]
        for prime, group in itertools.groupby(_prime_factors(n))
    ]
    found = [1]
    for options in powers:
        found = [d * power for d in found for power in options]
    return tuple(sorted(found))


def divisors(n: int) -> list[int]:
    """Every divisor of n, ascending."""
    return list(_divisors(n))


def prime_factors(n: int) -> list[int]:
    """Prime factors of n with multiplicity, ascending."""
    return list(_prime_factors(n))


def factorizations(n: int, smallest: int = 2) -> list[tuple[int, ...]]:
    """Every multiset of factors >= 2 whose product is n, as non-decreasing tuples."""
    if n == 1:
        return [()]
    found = []
    for f in _divisors(n):
        if f >= smallest:
            found += [(f, *rest) for rest in factorizations(n // f, f)]
    return found

"""Hardware canonicalization: one text -> Hardware -> text step, and a short stable key.

Two YAML texts that describe the same hardware (other comments, key order, number spelling)
have the same canonical text, the library's own dump (`config.dump_hardware`), and so the same
`hardware_key`. Callers canonicalize once when the hardware changes and key caches and jobs by
the key from there on, instead of parsing and dumping the text again at every step.
"""

from __future__ import annotations

import hashlib

from miredo_core.config import dump_hardware, parse_hardware
from miredo_core.hardware import Hardware

#: Hex digits of `hardware_key` (64 bits: no collision among any realistic number of designs).
KEY_LENGTH = 16


def canonical_hardware(text: str, source: str = "hardware") -> tuple[Hardware, str]:
    """The hardware of YAML `text` and its canonical text; raises ConfigError."""
    hardware = parse_hardware(text, source=source)
    return hardware, dump_hardware(hardware)


def hardware_key(hardware: Hardware | str) -> str:
    """A short stable hash of the hardware (or of canonical hardware text): equal hardware,
    name included, gives an equal key on every machine and run."""
    text = hardware if isinstance(hardware, str) else dump_hardware(hardware)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]

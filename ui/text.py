"""Text for the page: user text made inert, and numbers with SI prefixes and units.

User text (hardware names and descriptions, network and layer names, YAML keys quoted in error
messages, file names) is never interpreted: Streamlit renders Markdown in captions, headers,
alerts and metric labels, so such text either goes through `st.text` / `st.code`, or through
`escape_markdown` before it is placed in a Markdown string. An image link in a description then
reads as its characters and nothing is fetched.

Numbers: one formatter, `format_si`, so every figure reads the same everywhere ("1.60 µJ",
"6.44 Mcycles"). Energies are kept in pJ and latencies in cycles by the library; they are
converted only here, at the display edge.
"""

from __future__ import annotations

import math
import re

#: SI prefixes by power of 1000, from femto to exa.
_PREFIXES = {-5: "f", -4: "p", -3: "n", -2: "µ", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T",
             5: "P", 6: "E"}  # fmt: skip
#: Every ASCII punctuation character that Markdown, GitHub extensions or Streamlit's own
#: directives (`:red[...]`, `:material/icon:`, `$math$`) give a meaning to. CommonMark lets a
#: backslash escape any ASCII punctuation, so escaping them all is always safe.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:$&])")
MISSING = "—"
PICOJOULE_PER_JOULE = 1e12


def escape_markdown(text: object) -> str:
    """`text` as a Markdown string that renders as exactly its characters (no link, image,
    emphasis, HTML, math or Streamlit directive). Newlines become Markdown line breaks."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
    return escaped.replace("\n", "  \n")


def si_prefix_exponent(value: float) -> int:
    """The power of 1000 that puts |value| into [1, 1000) (clamped to the known prefixes)."""
    if value == 0 or not math.isfinite(value):
        return 0
    exponent = math.floor(math.log10(abs(value)) / 3)
    return max(min(exponent, max(_PREFIXES)), min(_PREFIXES))


def prefix(exponent: int) -> str:
    return _PREFIXES[exponent]


def format_si(value: float | None, unit: str, digits: int = 3) -> str:
    """`value` (in `unit`) with an SI prefix and `digits` significant digits: 1.6e-6, "J" ->
    "1.60 µJ"; 6.44e6, "cycles" -> "6.44 Mcycles". NaN or None reads as a dash."""
    if value is None or not math.isfinite(value):
        return MISSING
    exponent = si_prefix_exponent(value)
    mantissa = value / 1000.0**exponent
    decimals = max(digits - 1 - math.floor(math.log10(abs(mantissa))), 0) if mantissa else 0
    text = f"{mantissa:.{decimals}f}"
    if abs(float(text)) >= 1000 and exponent < max(_PREFIXES):  # 999.7 rounds up to 1000
        return format_si(math.copysign(1000.0 ** (exponent + 1), value), unit, digits)
    return f"{text} {_PREFIXES[exponent]}{unit}"


def format_cycles(cycles: float | None) -> str:
    return format_si(cycles, "cycles")


def format_energy(energy_pj: float | None) -> str:
    return format_si(_scaled(energy_pj, 1 / PICOJOULE_PER_JOULE), "J")


def format_edp(edp_pj_cycles: float | None) -> str:
    """EDP in J·cycles with a prefix (1.41e16 pJ·cycles -> "14.1 kJ·cycles")."""
    return format_si(_scaled(edp_pj_cycles, 1 / PICOJOULE_PER_JOULE), "J·cycles")


def format_seconds(seconds: float | None) -> str:
    return format_si(seconds, "s")


def format_ratio(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return MISSING
    return f"{ratio:.3g}×"


def format_percent(fraction: float | None, digits: int = 1) -> str:
    if fraction is None or not math.isfinite(fraction):
        return MISSING
    return f"{100 * fraction:.{digits}f} %"


def format_area(area_mm2: float | None) -> str:
    if area_mm2 is None or not math.isfinite(area_mm2):
        return MISSING
    return f"{area_mm2:.3g} mm²"


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor

"""Fuzz the parsers: random text and mutated valid files give a Net or a NetFormatError.

Nothing else may come out (no Lark exception, no IndexError, ...), and every
message starts `<text>:LINE:COL:` with the line and column inside the text,
or one past it (SPEC §3.5).
"""

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitnet import Net, NetFormatError
from jitnet.text.parse import parse

ROOT = Path(__file__).resolve().parent.parent
SEED_NAL = (ROOT / "examples" / "seed.nal").read_text()
SEED_NAM = (ROOT / "examples" / "seed.nam").read_text()
SEED_NEL = """\
% weights and settings
N 0e
00 04 0.5
01 04 -0x1.8p-3
00 05
act 04 relu
bias 05 1e-3
05 08 2
"""
LETTERED = "abcd\na0011\nb0011\nc0000\nd0000\n"
HEXED = "nnnn\ni:0000\nj:0123\n------\nn00|0011\nn01|0001\nn02|0000\nn03|0000\n"

# A 2-2-1 layered net as FANN 2.2's fann_save wrote it (tests/fann_driver.c).
SMALL_NET = (ROOT / "tests" / "fixtures" / "small.net").read_text()

VALID = {"nal": [SEED_NAL], "nam": [SEED_NAM, LETTERED, HEXED], "nel": [SEED_NEL, SEED_NEL + "out 08 05 08\n"],
         "fann": [SMALL_NET]}
ALPHABET = "0123456789abcdefABCDEFNnijx:|-.,+ \t\r\n%acteoblsuqpg_()=e"
MESSAGE = re.compile(r"<text>:(\d+):(\d+): expected [^\n]+, got [^\n]+")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

noise = st.text(alphabet=st.sampled_from(ALPHABET) | st.characters(), max_size=120)


def check(text: str, fmt) -> None:
    """Parse; a failure must be a located, one-line NetFormatError."""
    try:
        assert isinstance(parse(text=text, format=fmt), Net)
    except NetFormatError as error:
        match = MESSAGE.fullmatch(str(error))
        assert match, str(error)
        line, col = int(match[1]), int(match[2])
        lines = text.split("\n")
        assert 1 <= line <= len(lines) + 1, str(error)
        width = len(lines[line - 1]) if line <= len(lines) else 0
        assert 1 <= col <= width + 1, str(error)


@st.composite
def mutated(draw, fmt):
    """A valid file with a few characters deleted, inserted or replaced, or lines swapped."""
    text = draw(st.sampled_from(VALID[fmt]))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "swap"]))
        if kind == "swap":
            lines = text.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
            continue
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(ALPHABET) | st.characters())
        if kind == "delete":
            text = text[:at] + text[at + 1:]
        elif kind == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + char + text[at + 1:]
    return text


@SETTINGS
@given(text=noise, fmt=st.sampled_from(["nal", "nam", "nel", "fann", None]))
def test_random_text(text, fmt):
    check(text, fmt)


@SETTINGS
@given(text=mutated("nal"))
def test_mutated_nal(text):
    check(text, "nal")


@SETTINGS
@given(text=mutated("nam"))
def test_mutated_nam(text):
    check(text, "nam")
    check(text, None)


@SETTINGS
@given(text=mutated("nel"))
def test_mutated_nel(text):
    check(text, "nel")


@SETTINGS
@given(text=mutated("fann"))
def test_mutated_fann(text):
    check(text, "fann")
    check(text, None)

"""Tests for jitnet.parse: every rule of SPEC §3, every layout, every error form.

Bad inputs live in tests/fixtures/bad as `<name>.<ext>` beside `<name>.err.txt`
(the exact one-line message). The test runs from the tests folder and passes
the path relative to it (`fixtures/bad/<name>.<ext>`), so the FILE part of a
message is that stable relative path on every machine.
"""

import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from lark import Lark
from lark import logger as lark_logger

from jitnet import Net, NetFormatError
from jitnet.text.parse import FORMATS, GRAMMAR_FORMATS, _grammar_text, parse

jitnet_parse = sys.modules["jitnet.text.parse"]  # the module (jitnet.parse is the function)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BAD = TESTS / "fixtures" / "bad"
SEED_NAL = ROOT / "examples" / "seed.nal"
SEED_NAM = ROOT / "examples" / "seed.nam"

# The ncc notes' fwd pass of the 14-neuron net: (i, j) in canonical order.
SEED_EDGES = [(0, 4), (1, 4), (0, 5), (1, 5), (2, 5), (1, 6), (2, 6), (3, 6), (2, 7), (3, 7),
              (4, 8), (5, 8), (4, 9), (5, 9), (6, 9), (5, 10), (6, 10), (7, 10), (6, 11), (7, 11),
              (8, 12), (9, 12), (10, 12), (11, 12), (8, 13), (9, 13), (10, 13), (11, 13)]

LETTERED_4442 = """\
abcdefghijklmn
a00001111000000
b00001111000000
c00001111000000
d00001111000000
e00000000111100
f00000000111100
g00000000111100
h00000000111100
i00000000000011
j00000000000011
k00000000000011
l00000000000011
m00000000000000
n00000000000000
"""


def hexed_8882() -> str:
    """The ncc notes' hex-labelled 8-8-8-2 matrix, labels n00..n31 by layer."""
    labels = [f"n{layer}{k}" for layer, size in enumerate([8, 8, 8, 2]) for k in range(size)]
    rows = ["0" * 8 + "1" * 8 + "0" * 10] * 8 + ["0" * 16 + "1" * 8 + "00"] * 8
    rows += ["0" * 24 + "11"] * 8 + ["0" * 26] * 2
    head = ["n" * 26, "i:00000000111111112222222233", "j:01234567012345670123456701", "-" * 30]
    return "\n".join(head + [f"{label}|{row}" for label, row in zip(labels, rows)]) + "\n"


def dense_edges(sizes):
    """Edges of a layer-wise fully connected net, canonical order."""
    starts = np.cumsum([0] + sizes)
    pairs = [(i, j) for layer in range(len(sizes) - 1)
             for i in range(starts[layer], starts[layer + 1])
             for j in range(starts[layer + 1], starts[layer + 2])]
    return sorted(pairs, key=lambda e: (e[1], e[0]))


def error(text, format=None, **kwargs) -> str:
    with pytest.raises(NetFormatError) as caught:
        parse(text=text, format=format, **kwargs)
    return str(caught.value)


# --- the seed net and the layouts ---------------------------------------------------------

def test_seed_nal_matches_the_ncc_notes():
    net = parse(SEED_NAL)
    assert net.n_neurons == 14
    assert net.edges.tolist() == [list(e) for e in SEED_EDGES]
    assert net.activations.tolist() == [0] * 4 + [3] * 10
    assert net.inputs.tolist() == [0, 1, 2, 3]
    assert net.outputs.tolist() == [12, 13]
    assert net.weights is None and net.biases is None


def test_seed_nal_and_plain_nam_give_equal_nets():
    assert parse(SEED_NAL) == parse(SEED_NAM, activation="relu")


def test_nam_activation_defaults_to_identity_and_skips_inputs():
    assert parse(SEED_NAM).activations.tolist() == [0] * 14
    assert parse(SEED_NAM, activation=1).activations.tolist() == [0] * 4 + [1] * 10


@pytest.mark.parametrize("activation", [3, "03", "3", "relu", "RELU", np.int64(3)])
def test_activation_may_be_code_hex_or_name(activation):
    assert parse(SEED_NAM, activation=activation) == parse(SEED_NAL)


def test_bad_activation_argument_is_a_value_error():
    with pytest.raises(ValueError, match="unknown activation"):
        parse(SEED_NAM, activation="rleu")


def test_letter_labelled_layout():
    net = parse(text=LETTERED_4442)
    assert net.edges.tolist() == [list(e) for e in dense_edges([4, 4, 4, 2])]


def test_hex_labelled_layout():
    net = parse(text=hexed_8882())
    assert net.edges.tolist() == [list(e) for e in dense_edges([8, 8, 8, 2])]


def test_the_three_layouts_agree():
    rows = SEED_NAM.read_text().split()
    letters = "abcdefghijklmn"
    lettered = letters + "\n" + "".join(f"{c}{row}\n" for c, row in zip(letters, rows))
    hexed = "\n".join(["n" * 14, "i:" + "0" * 14, "j:0123456789abcd", "----"]
                      + [f"n{k:02x}|{row}" for k, row in enumerate(rows)])
    plain = parse(SEED_NAM)
    assert parse(text=lettered) == plain
    assert parse(text=hexed) == plain


def test_nam_labels_are_not_checked():
    text = "xyz\nq010\nq001\nQ000\n"
    assert parse(text=text).edges.tolist() == [[0, 1], [1, 2]]


# --- comments, blank lines, line ends, blanks, hex ------------------------------------------

def with_noise(text: str) -> str:
    """Comment and blank lines before, between and after every line; CRLF line ends; tabs."""
    lines = text.splitlines()
    noisy = ["% head", "", "  % indented comment", "\t"]
    for line in lines:
        noisy += [line.replace(" ", " \t "), "%", "", "% between"]
    return "\r\n".join(noisy) + "\r\n% tail"


@pytest.mark.parametrize("path", [SEED_NAL, SEED_NAM], ids=["nal", "nam"])
def test_comments_blank_lines_crlf_and_tabs_anywhere(path):
    fmt = path.suffix[1:]
    assert parse(text=with_noise(path.read_text()), format=fmt, activation="relu") == parse(
        path, activation="relu")


def test_nel_comments_blank_lines_crlf_and_tabs_anywhere():
    text = "N 0e\n" + "".join(f"{i:02x} {j:02x} 0.5\n" for i, j in SEED_EDGES) + "act 0c 01\nbias 0c 2\n"
    assert parse(text=with_noise(text), format="nel") == parse(text=text, format="nel")


def test_file_without_final_newline():
    assert parse(text=SEED_NAL.read_text().rstrip("\n"), format="nal") == parse(SEED_NAL)
    assert parse(text=SEED_NAM.read_text().rstrip("\n")) == parse(SEED_NAM)


def test_hex_is_case_insensitive_and_any_width():
    text = "n E\n0\n001\n2\n3\n" + "".join(
        f"{j:X} 0003 {','.join(f'{i:06x}' for i, jj in SEED_EDGES if jj == j)}\n" for j in range(4, 14))
    assert parse(text=text, format="nal") == parse(SEED_NAL)


def test_in_indices_separated_by_commas_and_or_blanks():
    text = "N 04\n00\n01\n02\n03 03 00 ,01\t02\n"
    assert parse(text=text, format="nal").edges.tolist() == [[0, 3], [1, 3], [2, 3]]


def test_nal_codes_may_be_names_and_inputs_may_name_identity():
    named = SEED_NAL.read_text().replace(" 03 ", " relu ").replace("00\n01\n", "00 00\n01 identity\n")
    assert parse(text=named, format="nal") == parse(SEED_NAL)


def test_nal_ignores_activation_argument():
    assert parse(SEED_NAL, activation="tanh") == parse(SEED_NAL)


def test_error_columns_count_comment_lines_and_crlf():
    text = "% c\r\n\r\nN 03\r\n00\r\n01\r\n02 03 00, 07\r\n"
    assert error(text, "nal") == "<text>:6:11: expected a neuron index 00..02, got '07'"


def test_error_inside_a_long_list_has_its_exact_column():
    sources = ",".join(f"{i:04x}" for i in range(500)) + ",9999"
    text = "N 01f5\n" + "".join(f"{j:04x}\n" for j in range(500)) + f"01f4 03 {sources}\n"
    column = len("01f4 03 ") + len(sources) - 3
    assert error(text, "nal") == f"<text>:502:{column}: expected a neuron index 000..1f4, got '9999'"


def test_error_inside_a_long_row_has_its_exact_column():
    rows = ["0" * 300] * 300
    rows[299] = "0" * 250 + "7" + "0" * 49
    assert error("\n".join(rows)) == "<text>:300:251: expected a digit 0 or 1, got '7'"


# --- NEL ---------------------------------------------------------------------------------------

SEED_NEL = """\
% the seed net's first neurons, weights given out of canonical order
N 0e
01 05 0.5
00 05 -0x1.8p-3
02 05 10
00 04 1e-3
01 04 -2
act 04 tanh
act 05 01
bias 05 -0x1.0p-1
bias 04 0x1.8p+3
"""


def test_nel_weights_are_in_canonical_order_and_bit_exact():
    net = parse(text=SEED_NEL, format="nel")
    assert net.edges.tolist() == [[0, 4], [1, 4], [0, 5], [1, 5], [2, 5]]
    assert net.weights.tolist() == [1e-3, -2.0, -0.1875, 0.5, 10.0]
    assert net.biases.tolist() == [0.0] * 4 + [12.0, -0.5] + [0.0] * 8
    assert net.activations[[4, 5]].tolist() == [2, 1]


def test_nel_without_weights_or_biases():
    net = parse(text="N 03\n00 02\n01 02\n", format="nel")
    assert net.weights is None and net.biases is None


def test_nel_biases_without_weights():
    net = parse(text="N 03\n00 02\n01 02\nbias 02 1.5\n", format="nel")
    assert net.weights is None and net.biases.tolist() == [0, 0, 1.5]


def test_nel_hex_floats_round_trip_bit_for_bit():
    values = [0.1, -1 / 3, 5e-324, 1.7976931348623157e308, -0.0]
    text = "N 06\n" + "".join(f"{k:02x} 05 {v.hex()}\n" for k, v in enumerate(values))
    weights = parse(text=text, format="nel").weights
    assert weights.view(np.uint64).tolist() == np.array(values).view(np.uint64).tolist()


def test_nel_activation_argument_fills_neurons_without_act_line():
    net = parse(text="N 04\n00 02\n01 03\nact 03 00\n", format="nel", activation="sigmoid")
    assert net.activations.tolist() == [0, 0, 1, 0]


def test_nel_isolated_neurons_are_inputs():
    net = parse(text="N 05\n00 01\n", format="nel")
    assert net.inputs.tolist() == [0, 2, 3, 4] and net.outputs.tolist() == [1]


def test_nel_settings_before_edges():
    net = parse(text="N 03\nbias 02 1\nact 02 relu\n00 02 1\n01 02 2\n", format="nel")
    assert net.activations.tolist() == [0, 0, 3] and net.biases.tolist() == [0, 0, 1]


def test_nel_many_edge_runs_are_joined_in_file_order():
    lines, named = ["N 0e"], set()
    for i, j in SEED_EDGES:
        lines.append(f"{i:02x} {j:02x}")
        lines.append("% a comment ends a run of edge lines" if j in named else f"act {j:02x} 03")
        named.add(j)
    assert parse(text="\n".join(lines), format="nel") == parse(SEED_NAL)


# --- format, extension, text, FILE -------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["nal", "NAL", "Nal"])
def test_format_is_case_insensitive(fmt):
    assert parse(text=SEED_NAL.read_text(), format=fmt) == parse(SEED_NAL)


def test_extension_decides_and_is_case_insensitive(tmp_path):
    path = tmp_path / "seed.NAL"
    path.write_text(SEED_NAL.read_text())
    assert parse(path) == parse(SEED_NAL)


def test_format_overrides_extension(tmp_path):
    path = tmp_path / "seed.nam"
    path.write_text(SEED_NAL.read_text())
    assert parse(path, format="nal") == parse(SEED_NAL)


def test_text_without_format_is_read_as_nam():
    assert parse(text=SEED_NAM.read_text()) == parse(SEED_NAM)
    assert parse(text=LETTERED_4442) == parse(text=LETTERED_4442, format="nam")


@pytest.mark.parametrize("text", ["N 0e\n00 04\n", "% c\n\n  n 3\n00\n01\n02 03 00\n", "N 05"])
def test_text_opening_with_count_line_asks_for_format(text):
    assert re.fullmatch(r"<text>:\d+:\d+: expected format='nal' or format='nel' .*, got '[Nn]'", error(text))


def test_other_extension_follows_the_text_rule(tmp_path):
    nam = tmp_path / "net.txt"
    nam.write_text(SEED_NAM.read_text())
    assert parse(nam) == parse(SEED_NAM)
    nal = tmp_path / "net"
    nal.write_text(SEED_NAL.read_text())
    with pytest.raises(NetFormatError, match=r"^.*net:2:1: expected format='nal' or format='nel'"):
        parse(nal)


def test_file_is_shown_as_given(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.nal").write_text("N 02\n00\n")
    monkeypatch.chdir(tmp_path)
    for given in ["sub/x.nal", Path("sub") / "x.nal", "./sub/../sub/x.nal"]:
        with pytest.raises(NetFormatError) as caught:
            parse(given)
        assert str(caught.value).startswith(f"{given}:3:1: ")
        assert caught.value.loc.file == str(given)


def test_text_is_shown_as_text():
    with pytest.raises(NetFormatError) as caught:
        parse(text="N 02\n00\n", format="nal")
    assert str(caught.value) == "<text>:3:1: expected the line of neuron 01, got end of file"
    assert (caught.value.loc.line, caught.value.loc.col) == (3, 1)
    assert isinstance(caught.value, ValueError)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        parse(tmp_path / "absent.nal")


@pytest.mark.parametrize("kwargs", [{}, {"source": SEED_NAL, "text": "01\n00\n"}])
def test_exactly_one_of_source_and_text(kwargs):
    with pytest.raises(TypeError):
        parse(**kwargs)


@pytest.mark.parametrize("kwargs", [{"text": b"01\n00\n"}, {"source": 3}])
def test_source_and_text_types(kwargs):
    with pytest.raises(TypeError):
        parse(**kwargs)


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError, match="format"):
        parse(SEED_NAL, format="csv")


# --- errors ------------------------------------------------------------------------------------

BAD_CASES = sorted(p for p in BAD.iterdir() if not p.name.endswith(".err.txt"))


def test_every_bad_fixture_has_its_message():
    messages = sorted(p.name[: -len(".err.txt")] for p in BAD.glob("*.err.txt"))
    assert messages == [p.name.rsplit(".", 1)[0] for p in BAD_CASES]


@pytest.mark.parametrize("path", BAD_CASES, ids=lambda p: p.name)
def test_bad_fixture_message(path, monkeypatch):
    monkeypatch.chdir(TESTS)
    given = path.relative_to(TESTS).as_posix()
    expected = path.with_name(path.name.rsplit(".", 1)[0] + ".err.txt").read_text(encoding="utf-8")
    with pytest.raises(NetFormatError) as caught:
        parse(given)
    assert str(caught.value) + "\n" == expected
    assert re.fullmatch(r"[^\n]+:\d+:\d+: expected [^\n]+, got [^\n]+", str(caught.value))
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize("fmt, text, where", [
    ("nal", "N 09\n00\n01\n02\n03\n04 03 00,01,08\n05 03 00\n06 03 00\n07 03 00\n08 03 04\n",
     "<text>:6:13:"),
    ("nam", "010\n001\n100\n", "<text>:3:1:"),
    ("nel", "N 09\n00 04\n08 04\n04 08\n", "<text>:3:1:"),
])
def test_cycle_is_located_at_an_edge_on_it(fmt, text, where):
    message = error(text, fmt)
    assert message.startswith(where)
    assert "cycle: n" in message


def test_cycle_message_names_the_neurons_in_order():
    text = SEED_NAL.read_text().replace("04 03 00,01", "04 03 00,01,08")
    assert "cycle: n04 -> n08 -> n04" in error(text, "nal")


@pytest.mark.parametrize("fmt, text", [("nal", "N 02\n00\n01 03 01\n"), ("nam", "00\n01\n"),
                                       ("nel", "N 02\n01 01\n")])
def test_self_loop_is_a_cycle(fmt, text):
    assert "cycle: n01 -> n01" in error(text, fmt)


def test_nal_missing_line_is_reported_where_the_next_index_appears():
    assert error("N 03\n00\n% c\n02\n", "nal") == "<text>:4:1: expected the line of neuron 01, got '02'"


def test_nal_first_error_in_file_order_wins():
    # a bad in-index (line 3) comes before a missing line (line 5), and after a bad code (line 2)
    text = "N 04\n00\n01 03 09\n02\n"
    assert error(text, "nal").startswith("<text>:3:7:")
    assert error("N 04\n00 03\n01 03 09\n", "nal").startswith("<text>:2:4:")
    assert error("N 04\n00\n01 03 00\n03 03 09\n", "nal").startswith("<text>:4:1:")


def test_nel_first_error_in_file_order_wins():
    assert error("N 03\nact 02 zz\n00 07\n", "nel").startswith("<text>:2:8:")
    assert error("N 03\n00 07\nact 02 zz\n", "nel").startswith("<text>:2:4:")


def test_nam_first_error_in_file_order_wins():
    assert error("000\n02\n200\n") == "<text>:2:2: expected a digit 0 or 1, got '2'"
    assert error("000\n00\n200\n") == "<text>:2:3: expected 3 digits (as many as the first row), got end of line"


def test_message_quotes_are_cut_and_one_line():
    message = error("N 02\n00\n01 03 00 " + "\u2028" * 30 + "\n", "nal")
    assert "\n" not in message and len(message.splitlines()) == 1
    assert message.endswith("got '" + "\\u2028" * 20 + "...'")


def test_grammars_load_from_the_package_folder_when_there_is_one(tmp_path, monkeypatch):
    (tmp_path / "grammar").mkdir()
    (tmp_path / "grammar" / "nal.lark").write_text("// packaged copy\n")
    monkeypatch.setattr(jitnet_parse.importlib.resources, "files", lambda package: tmp_path)
    assert _grammar_text("nal") == "// packaged copy\n"


def test_grammars_load_from_the_checkout_otherwise(tmp_path, monkeypatch):
    monkeypatch.setattr(jitnet_parse.importlib.resources, "files", lambda package: tmp_path)
    assert _grammar_text("nam") == (ROOT / "grammar" / "nam.lark").read_text(encoding="utf-8")


def test_grammars_have_no_lalr_conflicts(caplog):
    lark_logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="lark"):
            for fmt in GRAMMAR_FORMATS:
                Lark(_grammar_text(fmt), parser="lalr", lexer="contextual", debug=True)
    finally:
        lark_logger.setLevel(logging.WARNING)
    assert not [r for r in caplog.records if "conflict" in r.getMessage().lower()]


def test_every_format_has_a_grammar():
    assert GRAMMAR_FORMATS == ("nal", "nam", "nel", "fann") and FORMATS == GRAMMAR_FORMATS + ("onnx",)
    for fmt in GRAMMAR_FORMATS:
        assert _grammar_text(fmt) == (ROOT / "grammar" / f"{fmt}.lark").read_text(encoding="utf-8")


def test_net_extension_is_fann_and_fann_text_is_sniffed(tmp_path):
    fann = BAD / "fann_fixed_header.net"
    with pytest.raises(NetFormatError, match=r":1:1: expected 'FANN_FLO_2.0' or 'FANN_FLO_2.1'"):
        parse(text=fann.read_text())                       # text opening FANN_ is FANN
    other = tmp_path / "robot.txt"
    other.write_text(fann.read_text())
    with pytest.raises(NetFormatError, match=r"robot.txt:1:1: expected 'FANN_FLO_2.0'"):
        parse(other)                                       # another extension follows the text rule
    with pytest.raises(NetFormatError, match=r"<text>:1:1: expected 'FANN_FLO_2.0'"):
        parse(text="FANN_FLO_2.2\n", format="fann")


# --- NEL out line (SPEC §3.3) ------------------------------------------------------------------

def test_nel_out_line_gives_the_outputs_in_order():
    net = parse(text="N 05\n00 02\n01 02\nout 04 02 04 00\n02 03\n02 04\n", format="nel")
    assert net.outputs.tolist() == [4, 2, 4, 0]
    assert net.default_outputs.tolist() == [3, 4] and net.explicit_outputs
    assert net == Net(5, [(0, 2), (1, 2), (2, 3), (2, 4)], outputs=[4, 2, 4, 0])
    assert parse(text="N 03\n00 02\n01 02\n", format="nel").explicit_outputs is False


@pytest.mark.parametrize("text, message", [
    ("N 03\n00 02\nout 02\n% c\nout 01\n", "<text>:5:1: expected at most one out line (line 3 is one), got 'out'"),
    ("N 03\n00 02\nout\n", "<text>:3:4: expected a hex neuron index, got end of line"),
    ("N 03\n00 02\nout 01 03\n", "<text>:3:8: expected a neuron index 00..02, got '03'"),
    ("N 03\n00 02\nout 01 zz\n", "<text>:3:8: expected a hex neuron index or end of line, got 'zz'"),
])
def test_nel_out_line_errors(text, message):
    assert error(text, "nel") == message


def test_parse_returns_a_net():
    assert isinstance(parse(SEED_NAL), Net)

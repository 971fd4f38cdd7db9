"""The constrained field types: what the API answers 422 for is what a consumer refuses."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from shared.fields import Line, Period, Prose

prose, line, period = TypeAdapter(Prose(50)), TypeAdapter(Line(50)), TypeAdapter(Period)
CONTROL = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]


@pytest.mark.parametrize("ch", CONTROL)
def test_a_control_character_is_refused_in_a_line_and_in_prose_unless_newline_or_tab(ch):
    with pytest.raises(ValidationError, match=f"U\\+{ord(ch):04X}"):
        line.validate_python(f"a{ch}b")
    if ch in "\n\t":
        assert prose.validate_python(f"a{ch}b") == f"a{ch}b"
    else:
        with pytest.raises(ValidationError, match="control character"):
            prose.validate_python(f"a{ch}b")


def test_a_lone_surrogate_is_refused():
    with pytest.raises(ValidationError, match="unicode"):  # pydantic refuses it before our check
        prose.validate_python("a\ud800")


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=50))
def test_any_other_text_is_kept_as_written(text):
    assert prose.validate_python(text) == line.validate_python(text) == text


@pytest.mark.parametrize("value, ok", [("2000-01", True), ("2099-12", True), ("2026-10", True), ("1999-12", False),
                                       ("2100-01", False), ("0000-01", False), ("2026-13", False), ("2026-1", False),
                                       ("٢٠٢٦-10", False), ("2026-10\n", False)])
def test_a_period_is_a_month_the_platform_can_represent(value, ok):
    if ok:
        assert period.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            period.validate_python(value)

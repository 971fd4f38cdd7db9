"""What `hps` prints: a table for people, the API's JSON for programs, and the next page's command."""

import json

from services.cli.output import Output, flags, show, show_page

PAGE = {"items": [{"id": "a"}, {"id": "b"}], "next_cursor": "b"}


def rows(items):
    for item in items:
        print(f"row {item['id']}")


def test_json_is_the_apis_answer_as_one_document(capsys):
    show(PAGE, Output.json, rows)
    out = capsys.readouterr().out
    assert json.loads(out) == PAGE and out.count("\n") == 1


def test_a_table_is_laid_out_by_the_command(capsys):
    show(PAGE["items"], Output.table, rows)
    assert capsys.readouterr().out == "row a\nrow b\n"


def test_a_table_with_more_pages_ends_with_the_command_for_the_next_on_stderr(capsys):
    show_page(PAGE, Output.table, rows, "hps audit", {"action": "POST /v1/finance", "limit": 2, "cursor": "a"})
    shown = capsys.readouterr()
    assert shown.out == "row a\nrow b\n"
    assert shown.err == "more: hps audit --action 'POST /v1/finance' --limit 2 --cursor b\n"


def test_the_last_page_and_json_have_no_hint(capsys):
    show_page({**PAGE, "next_cursor": None}, Output.table, rows, "hps audit", {})
    show_page(PAGE, Output.json, rows, "hps audit", {})
    assert capsys.readouterr().err == ""


def test_flags_are_quoted_for_a_shell_and_leave_out_what_is_not_given():
    assert flags({"since": "2026-11-01T00:00:00Z", "tenant": None, "all_pages": "x y"}) == \
        "--since 2026-11-01T00:00:00Z --all-pages 'x y'"

from pathlib import Path

from shared import event_docs


def test_docs_events_md_is_the_generated_one():
    written = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    assert written == event_docs.render(), "run `hps docs events > docs/events.md`"

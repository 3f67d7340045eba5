"""docs/lifecycle.md is generated from the transition tables; it must not drift from them."""

from pathlib import Path

from controller.core.lifecycle import render_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "lifecycle.md"


def test_lifecycle_doc_matches_the_tables() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "regenerate with: python -m controller.core.lifecycle > docs/lifecycle.md"
    )

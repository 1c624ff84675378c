"""Every number notebook 01 quotes from docs/RESULTS.md (its conclusion, and the head experiment's introduction)
appears there: a quote that drifts from the measured results fails here. Numbers computed on the page are checked
by the sentences' own tests (tests/test_report.py) and the browser test."""
import re

from .conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "01_ids_vs_flip.py"


def quoted_cells(source: str) -> list[str]:
    """The text of every markdown block that cites docs/RESULTS.md, with its {...} expressions removed."""
    blocks = re.findall(r'mo\.md\(rf?"""(.*?)"""\)', source, flags=re.S)
    return [re.sub(r"\{[^{}]*\}", "", b) for b in blocks if "RESULTS.md" in b]


def numbers(text: str) -> list[str]:
    """Decimal numbers as written (signs and the typographic minus normalised to '-')."""
    return [n.replace("−", "-").lstrip("+") for n in re.findall(r"[−+-]?\d+\.\d+", text)]


def test_quotes_of_results_md_are_in_results_md():
    results = (ROOT / "docs" / "RESULTS.md").read_text().replace("−", "-")
    cells = quoted_cells(NOTEBOOK.read_text())
    assert len(cells) >= 2                                     # section 5's introduction and section 6
    missing = [n for cell in cells for n in numbers(cell) if n not in results and n.lstrip("-") not in results]
    assert not missing, f"numbers quoted in notebook 01 but not in docs/RESULTS.md: {missing}"


def test_the_quote_check_can_fail():
    fake = 'mo.md(r"""From docs/RESULTS.md: 12.345% and [−98.7, +65.4]""")'
    assert numbers(quoted_cells(fake)[0]) == ["12.345", "-98.7", "65.4"]
    results = (ROOT / "docs" / "RESULTS.md").read_text()
    assert "12.345" not in results and "98.7" not in results

"""scripts/spectra_experiment.py --study meteor (issue 26): one command, resumable, the question's rows and pairs."""
import json

from tests.conftest import load_script

_script = lambda: load_script("spectra_experiment")


def test_meteor_study_reports_the_question_and_resumes(tmp_path, capsys):
    s = _script()
    argv = ["--study", "meteor", "--quick", "--seeds", "0-1", "--results", str(tmp_path / "store"),
            "--out", str(tmp_path / "m.md")]
    assert s.main(argv) == 0
    doc = (tmp_path / "m.md").read_text()
    for row in ("re-observation (new receiver noise) − FFT band mask", "re-observation + FFT band mask",
                "*random-init floor*", "*supervised (probe-train labels)*", "direction (%)", "peak SNR R²"):
        assert row in doc, row
    nums = json.loads((tmp_path / "m.json").read_text())
    assert nums["seeds"] == [0, 1] and nums["pairs"]["reobserve - fft mlp_acc"]["n"] == 2
    assert set(nums["gap_closed"]) >= {"none", "reobserve", "fft", "ids+reobserve", "flip"}
    first = capsys.readouterr().out
    # nothing trained is reused on a first run; the trivial control is one record per data set, so a later
    # comparison of the same run may reuse the one an earlier one fitted
    assert not [ln for ln in first.splitlines() if "(reused)" in ln and "trivial" not in ln]
    assert s.main(argv) == 0                                                 # the rerun trains nothing
    again = capsys.readouterr().out
    assert again.count("(reused)") == first.count("] meteor ") and (tmp_path / "m.md").read_text() == doc

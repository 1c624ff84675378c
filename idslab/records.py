"""Reading run records: which condition (column) a record belongs to and a metric's value in report units.
Shared by idslab.plots (the Figure 3 figure) and idslab.report (tables), so neither imports the other's helpers.
"""
from __future__ import annotations

METRICS = {"mlp_acc": "MLP (%)", "knn_acc": "k-NN (%)"}       # the paper's two probes, with their column titles
_PERCENT = {"mlp_acc", "knn_acc", "linear10_acc", "physics.direction_acc"}   # fractions shown in %


def condition_of(rec: dict) -> str:
    """The column a record belongs to: its views string, or a control name (none, floor, trivial, supervised)."""
    if rec.get("control"):
        return rec["control"]
    if rec["config"].get("epochs") == 0:
        return "floor"
    return condition_name(rec["config"]["views"], rec["config"].get("sites"))


# IDS on every conv and linear weight (idslab.perturb.ALL_SITES, the paper's Discussion) is a column of its own,
# "ids_all" / "ids_all_depth", not the paper's single-site "ids": the tables must not average the two.
_EVERY_LAYER = ("all", "all_depth")


def condition_name(views: str, sites: dict | None) -> str:
    """A trained run's column from its views string and sites ({layer: s_l}): the views string, with "_all" or
    "_all_depth" appended when the weight noise is on every layer."""
    every = [k for k in (sites or {}) if k in _EVERY_LAYER]
    if every and "ids" in views.split("+"):
        return f"{views}_{every[0]}"
    return views


def metric_value(rec: dict, metric: str, percent: bool = True):
    """A metric of a record (dotted paths into metrics, e.g. 'physics.velocity_r2'; 'final_loss' from the record),
    in the report's units (accuracies in %; fractions with percent=False), or None. The trivial and supervised
    controls have one accuracy of their own classifier ('acc'); it stands for both mlp_acc and knn_acc."""
    if metric == "final_loss":
        v = rec.get("final_loss")
    else:
        v = rec.get("metrics") or {}
        for part in metric.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is None and metric in METRICS and rec.get("control") in ("trivial", "supervised"):
            v = (rec.get("metrics") or {}).get("acc")
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v:
        return None
    return 100.0 * v if percent and metric in _PERCENT else float(v)

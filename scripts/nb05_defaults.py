"""Notebook 05's *Pre-train and compare* at its CPU defaults, over paired seeds: which method should it train first
(idslab.notebook.FIRST_05), and is it above the random-init floor there? (issue 26)

The same call the notebook's button makes (idslab.experiments.compare, the notebook's base config and
supervised_epochs, BUDGETS["05"]["cpu"] unless overridden), on the same data, with the controls; every record is
stored as it finishes (--results), so a rerun resumes. Prints the table and each condition against the floor
(report.resolved: paired 95% t-interval over seeds) and against identical views.

    OMP_NUM_THREADS=1 python scripts/nb05_defaults.py --seeds 0,1,2
    OMP_NUM_THREADS=1 python scripts/nb05_defaults.py --conditions simclr,reobserve,reobserve/masked --epochs 5
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    from idslab.notebook import BUDGETS, FIRST_05
    cpu = BUDGETS["05"]["cpu"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conditions", default=None,
                   help="comma-separated views strings, each optionally /objective, e.g. reobserve/masked "
                        "(default: FIRST_05 and the notebook's other conditions)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (paired across conditions)")
    p.add_argument("--epochs", type=int, default=cpu["epochs"], help="pre-training epochs per run")
    p.add_argument("--supervised-epochs", type=int, default=cpu["supervised_epochs"],
                   help="epochs of the supervised control")
    p.add_argument("--results", default="results/nb05_defaults", help="results store (resumable)")
    a = p.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in a.seeds.split(","))
    except ValueError:
        p.error(f"--seeds {a.seeds!r}: give comma-separated integers, e.g. --seeds 0,1,2")
    if a.epochs < 1 or a.supervised_epochs < 1:
        p.error("--epochs and --supervised-epochs must be at least 1")
    def condition(c: str):
        views, _, objective = c.strip().partition("/")
        return {"views": views, "objective": objective, "label": c.strip()} if objective else views
    conditions = ([condition(c) for c in a.conditions.split(",") if c.strip()] if a.conditions else
                  [FIRST_05, "reverse+shift", "fft", "ids"])

    import torch
    from idslab import experiments as E
    from idslab import report as R
    from idslab.datasets import Sizes, load
    from idslab.train import TrainConfig
    torch.set_num_threads(1)
    data = load("spectra", 512, seed=0, sizes=Sizes(*cpu["sizes"]))
    base = TrainConfig(dataset="spectra", encoder="cnn1d512", views="ids", sites={"fc1": 0.02}, epochs=a.epochs,
                       device="cpu", n_pretrain=len(data.pretrain), batch_size=cpu["batch_size"],
                       n_probe_train=len(data.probe_train), n_probe_test=len(data.probe_test), knn_k=20)
    t0 = time.time()
    comp = E.compare(base, conditions, seeds=seeds, data=data, results_dir=a.results,
                     supervised_epochs=a.supervised_epochs, keep_models=False,
                     progress=lambda d, n, r: print(f"{d}/{n} {r.get('label') if r else ''} "
                                                    f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True))
    print(E.comparison_markdown(comp.table()))
    for lab in [*comp.labels, "none"]:
        out = {k: R.resolved(comp, lab, m, against) for k, m, against in
               (("mlp_vs_floor", "mlp_acc", "floor"), ("knn_vs_floor", "knn_acc", "floor"),
                ("mlp_vs_none", "mlp_acc", "none")) if lab != against}
        print(lab, json.dumps({k: v and {"diff": round(100 * v["diff"], 1),
                                         "ci": v["ci"] and [round(100 * float(x), 1) for x in v["ci"]],
                                         "sign": v["sign"]} for k, v in out.items()}))
    print(R.best_sentence(comp))
    print(R.physics_sentences(comp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Reproduce the paper: Tables 1, 2 and Figure 3")


@app.cell
def _():
    import marimo as mo

    return (mo,)


@app.cell
def _():
    import os
    import tempfile
    from pathlib import Path

    import torch

    import idslab
    from idslab import experiments as E
    from idslab import report as R
    from idslab.plots.sweep import sweep_figure

    return E, Path, R, idslab, os, sweep_figure, tempfile, torch


@app.cell
def _(Path, idslab, mo, os, tempfile, torch):
    # QUICK (IDSLAB_QUICK=1): the launch cell runs a tiny grid so CI runs this notebook in seconds.
    # AUTO: outside a marimo kernel (plain script, exported .ipynb under nbval) the run button is never pressed, so
    # the launch cell runs once by itself; in `marimo edit/run` it waits for the button.
    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    AUTO = not mo.running_in_notebook()
    if QUICK:
        torch.set_num_threads(1)
    ROOT = Path(idslab.__file__).resolve().parent.parent
    DOCS = ROOT / "docs" / "results"
    RESULTS = Path(tempfile.mkdtemp(prefix="idslab_nb_")) if QUICK else ROOT / "results"
    DATA_DIR = str(ROOT / "data")
    CIFAR_DIR = os.environ.get("IDSLAB_CIFAR_DIR") or None
    return AUTO, CIFAR_DIR, DATA_DIR, DOCS, QUICK, RESULTS


@app.cell
def _(mo):
    mo.md(r"""
    # Reproducing the paper: Table 1, Table 2, Figure 3

    Each result is one grid of runs (encoder × views × $s_l$ × seed) under one protocol (`docs/PROTOCOL.md`).
    `idslab reproduce table1|table2|fig3 [--quick]` runs a grid, one JSON record per run in `results/`, resuming where
    it stopped, and writes the report (mean ± sd over seeds, best per row **bold**, the paper's numbers beside ours).
    Below: the committed reports, the paper's own tables, and a button that launches the quick grid from here.
    """)
    return


@app.cell
def _(mo):
    grid_name = mo.ui.dropdown(options=["table1", "table2", "fig3"], value="fig3", label="result")
    quick = mo.ui.checkbox(value=True, label="quick (CPU-sized) version")
    mo.hstack([grid_name, quick], justify="start", gap=2)
    return grid_name, quick


@app.cell
def _(DOCS, E, R, RESULTS, grid_name, mo, quick):
    _grid = E.get_grid(grid_name.value, quick=quick.value)
    _stem = grid_name.value + ("_quick" if quick.value else "")
    _records = E.load_records(E.grid_dir(RESULTS, _grid), _grid)
    if _records:
        _body = R.report_markdown(_records, grid_name.value, _grid.title)
        _src = f"from {len(_records)}/{len(_grid.configs())} records in `{E.grid_dir(RESULTS, _grid)}`"
    elif (DOCS / f"{_stem}.md").exists():
        _body = (DOCS / f"{_stem}.md").read_text()
        _src = f"committed report `docs/results/{_stem}.md`"
    else:
        _body = "_No records or committed report for this grid yet: launch it below or with the command line._"
        _src = "nothing yet"
    mo.vstack([mo.md(f"### {_grid.title}  \n<small>{_src}; grid: {len(_grid.configs())} runs, command "
                     f"`idslab reproduce {grid_name.value}{' --quick' if quick.value else ''}`</small>"),
               mo.md(_body)])
    return


@app.cell
def _(R, grid_name, mo):
    if grid_name.value == "fig3":
        _paper = mo.md(R.PAPER_FIG3["note"])
    else:
        _paper = mo.md(R.paper_markdown(grid_name.value))
    mo.accordion({"The paper's published numbers": _paper})
    return


@app.cell
def _(mo):
    run_button = mo.ui.run_button(label="Launch the quick grid (resumable)", kind="success")
    run_button
    return (run_button,)


@app.cell
def _(AUTO, CIFAR_DIR, DATA_DIR, E, QUICK, R, RESULTS, grid_name, mo, run_button, sweep_figure):
    mo.stop(not (run_button.value or AUTO), mo.md("_Press the button to run the quick grid._"))
    if QUICK:  # CI: a 2-run grid on tiny data
        _grid = E.Grid("fig3", "tiny s_l sweep (notebook CI)", "meteor", ("cnn16",), ("ids",), (0,),
                       sls=(0.02, 0.2), overrides=dict(n_pretrain=256, n_probe_train=128, n_probe_test=128,
                                                       epochs=1, batch_size=64), quick=True)
        _name = "fig3"
    else:
        _grid, _name = E.get_grid(grid_name.value, quick=True), grid_name.value
    with mo.status.progress_bar(total=len(_grid.configs()), title=_grid.title) as _bar:
        def _progress(done, total, rec):
            if rec is not None:
                _bar.update()
        launched = E.run_grid(_grid, RESULTS, progress=_progress, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR)
    _out = [mo.md(R.report_markdown(launched, _name, _grid.title))]
    if _name == "fig3":
        _out.append(sweep_figure(launched))
    mo.vstack(_out)
    return (launched,)


@app.cell
def _(launched, mo):
    mo.md(f"Finished {len(launched)} runs; records stay in the results folder, so a rerun resumes.")
    return


if __name__ == "__main__":
    app.run()

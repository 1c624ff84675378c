import marimo

__generated_with = "0.25.2"
app = marimo.App(
    width="medium",
    app_title="Reproduce the paper: Tables 1, 2 and Figure 3",
)


@app.cell(hide_code=True)
def _():
    # Set-up: imports, modes, folders.
    import os
    import tempfile
    from pathlib import Path

    import marimo as mo
    import torch

    import idslab
    from idslab import experiments as E
    from idslab import report as R
    from idslab.plots import training as P
    from idslab.plots.sweep import sweep_figure

    # QUICK (IDSLAB_QUICK=1): the launch cell runs a tiny grid so CI runs this notebook in seconds.
    # AUTO: outside a marimo kernel (plain script, exported .ipynb under nbval) the run button is never pressed, so
    # the launch cell runs once by itself; in `marimo edit/run` it waits for the button.
    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    AUTO = not mo.running_in_notebook()
    if QUICK or not torch.cuda.is_available():
        torch.set_num_threads(1)  # small tensors on a shared 2-core CPU: one thread is faster (notebook 01)
    ROOT = Path(idslab.__file__).resolve().parent.parent
    DOCS = ROOT / "docs" / "results"
    RESULTS = Path(tempfile.mkdtemp(prefix="idslab_nb_")) if QUICK else ROOT / "results"
    DATA_DIR = os.environ.get("IDSLAB_DATA") or str(ROOT / "data")
    _shared = ROOT.parent / "shared" / "datasets" / "cifar10-train-jpg"
    CIFAR_DIR = os.environ.get("IDSLAB_CIFAR_DIR") or (str(_shared) if _shared.is_dir() else None)
    return (
        AUTO,
        CIFAR_DIR,
        DATA_DIR,
        DOCS,
        E,
        P,
        QUICK,
        R,
        RESULTS,
        mo,
        sweep_figure,
    )


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # Reproducing the paper: Table 1, Table 2, Figure 3

    Each result is one grid of runs (encoder × views × $s_l$ × seed) under one protocol (`docs/PROTOCOL.md`).
    `idslab reproduce table1|table2|fig3 [--quick]` runs a grid, one JSON record per run in `results/`, resuming where
    it stopped, and writes the report (mean ± sd over seeds, best per row **bold**, the paper's numbers beside ours).
    Below: the committed reports, the paper's own tables, and a button that launches the quick grid from here.
    """)
    return


@app.cell(hide_code=True)
def _(mo):
    grid_name = mo.ui.dropdown(options=["table1", "table2", "fig3"], value="fig3", label="result")
    quick = mo.ui.checkbox(value=True, label="quick (CPU-sized) version")
    mo.hstack([grid_name, quick], justify="start", gap=2)
    return grid_name, quick


@app.cell(hide_code=True)
def _(DOCS, E, P, R, RESULTS, grid_name, mo, quick):
    _grid = E.get_grid(grid_name.value, quick=quick.value)
    _stem = grid_name.value + ("_quick" if quick.value else "")
    _records = E.load_records(E.grid_dir(RESULTS, _grid), _grid)
    fig3_plot = None
    if _records:
        _body = R.report_markdown(_records, grid_name.value, _grid.title)   # starts with the grid's heading
        _src = f"from {len(_records)}/{len(_grid.configs())} records in `{E.grid_dir(RESULTS, _grid)}`"
        if grid_name.value == "fig3":
            fig3_plot = P.sl_sweep(_records, title=_grid.title)
    elif (DOCS / f"{_stem}.md").exists():
        _body = (DOCS / f"{_stem}.md").read_text()
        _src = f"committed report `docs/results/{_stem}.md`"
        if grid_name.value == "fig3" and (DOCS / f"{_stem}.csv").exists():
            fig3_plot = P.sl_sweep_from_csv((DOCS / f"{_stem}.csv").read_text(), title=_grid.title)
    else:
        _body = f"## {_grid.title}\n\n_No records or committed report for this grid yet: launch it below._"
        _src = "nothing yet"
    report_src = (f"<small>Above: {_src}; grid: {len(_grid.configs())} runs, command "
                  f"`idslab reproduce {grid_name.value}{' --quick' if quick.value else ''}`</small>")
    mo.md(_body)
    return fig3_plot, report_src


@app.cell(hide_code=True)
def _(mo, report_src):
    mo.md(report_src)
    return


@app.cell(hide_code=True)
def _(fig3_plot, mo):
    mo.stop(fig3_plot is None)
    fig3_plot
    return


@app.cell(hide_code=True)
def _(R, grid_name, mo):
    if grid_name.value == "fig3":
        _paper = mo.md(R.PAPER_FIG3["note"])
    else:
        _paper = mo.md(R.paper_markdown(grid_name.value))
    mo.accordion({"The paper's published numbers": _paper})
    return


@app.cell(hide_code=True)
def _(E, grid_name, mo, quick):
    _n = len(E.get_grid(grid_name.value, quick=quick.value).configs())
    run_button = mo.ui.run_button(label=f"Launch the {'quick' if quick.value else 'full'} grid ({_n} runs, "
                                        "resumable)", kind="success")
    run_button
    return (run_button,)


@app.cell
def _(
    AUTO,
    CIFAR_DIR,
    DATA_DIR,
    E,
    QUICK,
    R,
    RESULTS,
    grid_name,
    mo,
    quick,
    run_button,
):
    # The button: one package call, idslab.experiments.run_grid, for the grid the controls above name.
    mo.stop(not (run_button.value or AUTO), mo.md("_Press the button to run the grid._"))
    if QUICK:  # CI: a 2-run grid on tiny data
        _grid = E.Grid("fig3", "tiny s_l sweep (notebook CI)", "meteor", ("cnn16",), ("ids",), (0,),
                       sls=(0.02, 0.2), overrides=dict(n_pretrain=256, n_probe_train=128, n_probe_test=128,
                                                       epochs=1, batch_size=64), quick=True)
        _name = "fig3"
    else:
        _grid, _name = E.get_grid(grid_name.value, quick=quick.value), grid_name.value
    with mo.status.progress_bar(total=len(_grid.configs()), title=_grid.title) as _bar:
        def _progress(done, total, rec):
            if rec is not None:
                _bar.update()
        launched = E.run_grid(_grid, RESULTS, progress=_progress, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR)
    launched_name = _name
    mo.md(R.report_markdown(launched, _name, _grid.title))
    return launched, launched_name


@app.cell(hide_code=True)
def _(launched, launched_name, mo, sweep_figure):
    mo.stop(launched_name != "fig3")
    sweep_figure(launched)
    return


@app.cell(hide_code=True)
def _(launched, mo):
    mo.md(f"""
    Finished {len(launched)} runs; records stay in the results folder, so a rerun resumes.
    """)
    return


if __name__ == "__main__":
    app.run()

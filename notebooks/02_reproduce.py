import marimo

__generated_with = "0.25.2"
app = marimo.App(
    width="medium",
    app_title="Reproduce the paper: Tables 1, 2 and Figure 3",
)


@app.cell(hide_code=True)
def _():
    # Set-up: imports, modes, folders.
    import atexit
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import marimo as mo
    import torch

    import idslab
    from idslab import experiments as E
    from idslab import live as L
    from idslab import report as R
    from idslab.plots import training as P
    from idslab.plots.sweep import sweep_figure

    # QUICK (IDSLAB_QUICK=1): a 2-run grid on tiny data in a temporary results folder, so CI runs this notebook in
    # seconds. AUTO: outside a marimo kernel (plain script, exported .ipynb under nbval) the run button is never
    # pressed, so the launch cell runs once by itself; in `marimo edit/run` it waits for the button.
    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    AUTO = not mo.running_in_notebook()
    if QUICK or not torch.cuda.is_available():
        torch.set_num_threads(1)  # small tensors on a shared 2-core CPU: one thread is faster (notebook 01)
    ROOT = Path(idslab.__file__).resolve().parent.parent
    DOCS = ROOT / "docs" / "results"
    RESULTS = Path(tempfile.mkdtemp(prefix="idslab_nb02_")) if QUICK else ROOT / "results"
    if QUICK:
        atexit.register(shutil.rmtree, RESULTS, True)
    from idslab.notebook import data_dir as _data_dir
    DATA_DIR = _data_dir(root=ROOT)   # $IDSLAB_DATA (a bad one: a ValueError naming it and the fix), else data/
    _shared = ROOT.parent / "shared" / "datasets" / "cifar10-train-jpg"
    CIFAR_DIR = os.environ.get("IDSLAB_CIFAR_DIR") or (str(_shared) if _shared.is_dir() else None)
    VIEW = None if AUTO else "marimo"
    return (
        AUTO,
        CIFAR_DIR,
        DATA_DIR,
        DOCS,
        E,
        L,
        P,
        QUICK,
        R,
        RESULTS,
        VIEW,
        mo,
    )


@app.cell(hide_code=True)
def _(mo):
    _cmd = "`idslab reproduce table1|table2|fig3 [--quick]`"
    mo.md(rf"""
    # Reproducing the paper: Table 1, Table 2, Figure 3

    Each result is one grid of runs (encoder × views × $s_l$ × seed, with the controls: no augmentation, the random
    init, a trivial baseline and the supervised encoder) under one protocol (`docs/PROTOCOL.md`). {_cmd} runs a
    grid, one JSON record per run in `results/`, resuming where it stopped, and writes the report (mean ± sd over
    seeds, best per row **bold**, the paper's numbers beside ours). Below: the records in `results/` or, until
    there are some, the committed report; the paper's own numbers; and a button that runs the grid from here.
    """)
    return


@app.cell(hide_code=True)
def _(mo):
    grid_name = mo.ui.dropdown(options=["table1", "table2", "fig3"], value="fig3", label="result")
    quick = mo.ui.checkbox(value=True, label="quick (CPU-sized) version")
    mo.hstack([grid_name, quick], justify="start", gap=2)
    return grid_name, quick


@app.cell(hide_code=True)
def _(E, QUICK, grid_name, quick):
    # The grid the controls name, and the one the button runs: the same, except in quick mode (CI), where the button
    # runs a 2-run grid on tiny data and the report shows it once it has records (the chosen grid's report before)
    chosen_grid = E.get_grid(grid_name.value, quick=quick.value)
    launch_grid = chosen_grid
    if QUICK:
        launch_grid = E.Grid("fig3", "tiny s_l sweep (notebook CI)", "meteor", ("cnn16",), ("ids",), (0,),
                             sls=(0.02, 0.2), overrides=dict(n_pretrain=256, n_probe_train=128, n_probe_test=128,
                                                             epochs=1, batch_size=64), quick=True)
    n_runs = launch_grid.describe()["runs"]   # trained cells and trivial/supervised controls: the one count shown
    return chosen_grid, launch_grid, n_runs


@app.cell(hide_code=True)
def _(mo):
    get_store, set_store = mo.state(0)            # bumped after every launch: the report re-reads the records
    get_confirmed, set_confirmed = mo.state(None)
    return get_confirmed, get_store, set_confirmed, set_store


@app.cell(hide_code=True)
def _(
    DOCS,
    E,
    P,
    R,
    RESULTS,
    chosen_grid,
    get_store,
    grid_name,
    launch_grid,
    mo,
    quick,
):
    get_store()
    _stem = grid_name.value + ("_quick" if quick.value else "")
    _launched = E.load_records(E.grid_dir(RESULTS, launch_grid), launch_grid) if launch_grid is not chosen_grid \
        else []
    _grid = launch_grid if _launched else chosen_grid
    _n_runs = _grid.describe()["runs"]
    _records = _launched or E.load_records(E.grid_dir(RESULTS, _grid), _grid)
    fig3_plot = None
    if _records:
        _body = R.report_markdown(_records, _grid.name, _grid.title)   # starts with the grid's heading
        _src = f"{len(_records)} of the grid's {_n_runs} runs, from the records in `{E.grid_dir(RESULTS, _grid)}`"
        if _grid.name == "fig3":
            fig3_plot = P.sl_sweep(_records, title=_grid.title)
    elif (DOCS / f"{_stem}.md").exists():
        _body = (DOCS / f"{_stem}.md").read_text()
        _src = f"the committed report `docs/results/{_stem}.md` (the grid has {_n_runs} runs)"
        if _grid.name == "fig3" and (DOCS / f"{_stem}.csv").exists():
            fig3_plot = P.sl_sweep_from_csv((DOCS / f"{_stem}.csv").read_text(), title=_grid.title)
    else:
        _body = f"## {_grid.title}\n\n_No records or committed report for this grid yet: launch it below._"
        _src = f"nothing yet (the grid has {_n_runs} runs)"
    _header, report_tables = R.report_sections(_body)
    mo.vstack([mo.md(_header), mo.md(f"<small id='report-source'>Below: {_src}; command `idslab reproduce "
                                      f"{_grid.name}{' --quick' if _grid.quick else ''}`.</small>")])
    return fig3_plot, report_tables


@app.cell(hide_code=True)
def _(mo, report_tables):
    # the report's tables, each in its own tab, so that none is taller than the cell shows
    if len(report_tables) > 1:
        _view = mo.ui.tabs({k: mo.md(v) for k, v in report_tables.items()})
    else:
        _view = mo.md(next(iter(report_tables.values()), ""))
    _view
    return


@app.cell(hide_code=True)
def _(fig3_plot):
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
def _(mo, n_runs, quick):
    run_button = mo.ui.run_button(label=f"Launch the {'quick' if quick.value else 'full'} grid ({n_runs} runs, "
                                        "resumable)", kind="success")
    run_button
    return (run_button,)


@app.cell(hide_code=True)
def _(CIFAR_DIR, DATA_DIR, L, RESULTS, get_store, launch_grid, mo, quick):
    # The section's one hint line: the estimate from a measured step of each encoder (random tiles of its shape,
    # so opening the notebook never generates a grid's data)
    get_store()
    with mo.status.spinner(title="Timing a training step of each encoder on this device"):
        _est = L.estimate_grid(launch_grid, RESULTS, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR)
    L.hint(_est, f"Launch the {'quick' if quick.value else 'full'} grid", mo)
    return


@app.cell(hide_code=True)
def _(
    AUTO,
    CIFAR_DIR,
    DATA_DIR,
    E,
    L,
    RESULTS,
    VIEW,
    get_confirmed,
    launch_grid,
    mo,
    run_button,
    set_confirmed,
    set_store,
):
    # The button: one package call, idslab.live.press(idslab.experiments.run_grid, ...): live progress and curves;
    # every finished run is a record in results/, so marimo's stop keeps it and the next press resumes.
    _out = None
    if run_button.value or AUTO:
        _out = L.press(E.run_grid, title=launch_grid.title, view=VIEW, confirmed=AUTO,
                       get_confirmed=get_confirmed, set_confirmed=set_confirmed, results_dir=RESULTS,
                       grid=launch_grid, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR)
        set_store(lambda v: v + 1)
    _msg = None if _out is None else _out.message + (" The report above reads the records now."
                                                     if _out.value is not None else "")
    mo.md(f"<span id='grid-status'>{_msg}</span>") if _msg else None
    return


if __name__ == "__main__":
    app.run()

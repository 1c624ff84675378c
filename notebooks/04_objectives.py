import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Objectives: where does weight noise matter?")


@app.cell(hide_code=True)
def _():
    # Set-up: imports, then one package call (idslab.notebook.setup: modes, device, folders, sizes; as 01 and 05).
    # The results store is shared with notebook 01: every finished run is written as it finishes, so a stop keeps
    # it and the next press reuses it.
    import marimo as mo

    from idslab import experiments as E
    from idslab import live as L
    from idslab import report as R
    from idslab.datasets import Sizes, load
    from idslab.notebook import setup
    from idslab.plots import training as P
    from idslab.train import TrainConfig

    NB = setup("04", mo)
    AUTO, BUDGET, CIFAR_DIR, DATA_DIR, DEVICE = NB.auto, NB.budget, NB.cifar_dir, NB.data_dir, NB.device
    QUICK, RESULTS_DIR, ROOT, STORE, VIEW = NB.quick, NB.results_dir, NB.root, NB.store, NB.view
    return (
        AUTO,
        BUDGET,
        CIFAR_DIR,
        DATA_DIR,
        DEVICE,
        E,
        L,
        P,
        QUICK,
        R,
        RESULTS_DIR,
        ROOT,
        STORE,
        Sizes,
        TrainConfig,
        VIEW,
        load,
        mo,
    )


@app.cell(hide_code=True)
def _(R, ROOT):
    # The objectives study's tables (scripts/objectives.py), when this is a checkout that has them: one package call
    _report = ROOT / R.OBJECTIVES_REPORT
    MEASURED = R.objectives_tables(_report.read_text()) if _report.exists() else {}
    return (MEASURED,)


@app.cell(hide_code=True)
def _(AUTO, DEVICE, QUICK, mo):
    _when = "only when you press the button, with a time estimate first and live progress"
    mo.md(
        rf"""
        # Objectives: where does weight noise matter?

        Implicit Data Synthesis (IDS) makes its positive pair by drawing fresh Gaussian noise on the weights of
        `fc1` at every forward pass (paper Eq. 1, $\lambda \sim \mathcal N(0, s_l^2)$), and the paper trains it
        with SimCLR's NT-Xent loss only. Notebook 01 shows that under NT-Xent identical views ($s_l = 0$) learn too:
        the loss's **negatives** (the other tiles of the batch) push representations apart by themselves. Objectives
        **without negatives** have nothing pushing apart, so they can **collapse**: every tile gets the same
        projection z. That is where a view generator should matter most.

        | objective | what keeps it from collapsing |
        |:---|:---|
        | NT-Xent (SimCLR, the paper's) | negatives: the other $2B - 2$ views of the batch |
        | BYOL | a predictor and a slowly moving (EMA) target network; no negatives |
        | SimSiam | a predictor and a stop-gradient on the target branch; no negatives |
        | VICReg | a variance term (each dimension of z keeps a spread) and a covariance term |
        | Barlow Twins | the cross-correlation of the two views' z pushed towards the identity |

        The **monitor** measures every run after each epoch (eval mode, $s_l = 0$): the training loss, a k-NN
        accuracy on a probe subset, the effective rank of h (about its dimension when healthy, **1 when collapsed**)
        and **z_std**, the spread of the normalised projections (about 1 healthy, **0 when collapsed**).

        <small>Mode: {"quick (IDSLAB_QUICK=1)" if QUICK else "full"}, device: {DEVICE}; training runs
        {"automatically (not in a marimo kernel)" if AUTO else _when}.</small>
        """
    )
    return


@app.cell(hide_code=True)
def _(BUDGET, P, QUICK, mo):
    # The choices; the views by notebook 01's names (the same names as the legends and tables below).
    dataset = mo.ui.dropdown({"meteor radar": "meteor", "CIFAR-10 vehicle / animal": "cifar"},
                             value="meteor radar", label="dataset")
    tile = mo.ui.dropdown({f"{n} × {n} (CNN-{n})": str(n) for n in (8, 16, 32)},
                          value="8 × 8 (CNN-8)" if QUICK else "16 × 16 (CNN-16)", label="tile")
    objective = mo.ui.dropdown({"NT-Xent (SimCLR, the paper's)": "ntxent", "BYOL": "byol", "SimSiam": "simsiam",
                                "VICReg": "vicreg", "Barlow Twins": "barlow"}, value="BYOL", label="objective")
    head = mo.ui.dropdown({"the paper's (plain MLP)": "paper head", "batch-normalised (SimCLR's own)": "BN head"},
                          value="the paper's (plain MLP)", label="projection head")
    HEAD_NAMES = {"paper head": "paper's head", "BN head": "batch-normalised head"}
    views = mo.ui.multiselect({P.condition_name(v): v for v in ("ids", "flip", "fft")},
                              value=[P.condition_name("ids")], label="views beside no augmentation (s_l = 0)")
    sl = mo.ui.slider(0.005, 0.5, step=0.005, value=0.02, label="s_l of IDS (std of λ at fc1)", show_value=True,
                      debounce=True)
    epochs = mo.ui.slider(1, 50, value=BUDGET["epochs"], label="epochs", show_value=True)
    seeds = mo.ui.slider(1, 5, value=BUDGET["seeds"], label="seeds", show_value=True)
    # three rows: four dropdowns in one ran past the right edge at 1400 px (the head's was cut)
    mo.vstack([mo.hstack([dataset, tile], justify="start", gap=2), mo.hstack([objective, head], justify="start", gap=2),
               mo.hstack([views, sl], justify="start", gap=2)])
    return HEAD_NAMES, dataset, epochs, head, objective, seeds, sl, tile, views


@app.cell(hide_code=True)
def _(BUDGET, CIFAR_DIR, DATA_DIR, Sizes, dataset, load, mo, tile):
    # A data set that cannot be loaded is a callout with the fix; the sections below then show nothing.
    data = None
    try:
        with mo.status.spinner(title=f"Loading {dataset.value} tiles of {tile.value}x{tile.value} "
                                     "(generated once, then cached)"):
            data = load(dataset.value, int(tile.value), seed=0, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR,
                        sizes=Sizes(BUDGET["n_pretrain"], BUDGET["n_probe_train"], BUDGET["n_probe_test"]))
    except (FileNotFoundError, ValueError, OSError) as _e:
        _error = str(_e)
    if data is None:
        _fix = ("Start the notebook with the folder of CIFAR-10 class sub-folders, e.g. "
                "`IDSLAB_CIFAR_DIR=/path/to/cifar10-train-jpg marimo edit notebooks/04_objectives.py`, or fetch "
                "CIFAR-10 once with `idslab data cifar --download`." if dataset.value == "cifar" else
                "Choose another tile size, or see `docs/DATA.md`.")
        _view = mo.callout(mo.md(f"<span id='data-error'>**Cannot load {dataset.value} at {tile.value}x"
                                 f"{tile.value}.**</span> {_error}\n\n{_fix}"), kind="danger")
    else:
        _view = mo.md(f"<span id='data-summary'>**Data:** {data.name}, {data.tile}x{data.tile} tiles, "
                      f"{len(data.pretrain.y)} pre-training (labels unused), {len(data.probe_train.y)} probe-train, "
                      f"{len(data.probe_test.y)} probe-test; classes 0 = `{data.classes[0]}`, 1 = "
                      f"`{data.classes[1]}`.</span>")
    _view
    return (data,)


@app.cell(hide_code=True)
def _(mo):
    # Results live in state: moving a control afterwards neither retrains nor clears them, and the cells that show
    # them never wait on the run cell (a stopped run leaves nothing half-drawn).
    get_run, set_run = mo.state(None)
    get_store, set_store = mo.state(0)             # bumped after every press: the estimate re-reads the store
    get_confirmed, set_confirmed = mo.state(None)  # the long run the reader was warned about once
    return get_confirmed, get_run, get_store, set_confirmed, set_run, set_store


@app.cell(hide_code=True)
def _(epochs, mo, seeds):
    train_button = mo.ui.run_button(label="Train and watch", kind="success")
    mo.vstack([
        mo.md("## 1. Train and watch the monitor\nTrains **no augmentation (identical views, s_l = 0)** and each "
              "chosen view with the chosen objective and head, on the same data and seeds, then the random-init "
              "floor; the curves draw as each epoch ends. A run that collapses shows it as z_std falling to 0 and "
              "the rank of h to 1. Stop it any time (marimo's ■): finished runs are kept, and pressing again "
              "resumes."),
        mo.hstack([epochs, seeds, train_button], justify="start", gap=2)])
    return (train_button,)


@app.cell(hide_code=True)
def _(BUDGET, DEVICE, TrainConfig, data, epochs, head, objective, seeds, sl, views):
    # What the button will run: idslab.experiments.compare's arguments (the estimate reads the same ones).
    run_args = None
    if data is not None:
        run_args = dict(
            base=TrainConfig(dataset=data.name, encoder=f"cnn{data.tile}", tile=data.tile, views="none",
                             sites={"fc1": float(sl.value)}, objective=objective.value,
                             proj_bn=head.value == "BN head", epochs=int(epochs.value), device=DEVICE,
                             batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)),
                             n_pretrain=len(data.pretrain.y), n_probe_train=len(data.probe_train.y),
                             n_probe_test=len(data.probe_test.y)),
            conditions=["none", *dict.fromkeys(views.value)], controls=("floor",),
            seeds=tuple(range(int(seeds.value))), data=data)
    return (run_args,)


@app.cell(hide_code=True)
def _(L, STORE, get_store, mo, run_args):
    # The section's one line before its button: what pressing costs on this device (a measured step).
    get_store()
    L.hint(L.estimate_compare(**run_args, results_dir=STORE), "Train and watch", mo) \
        if run_args is not None else None
    return


@app.cell(hide_code=True)
def _(
    AUTO,
    E,
    HEAD_NAMES,
    L,
    STORE,
    VIEW,
    data,
    get_confirmed,
    head,
    mo,
    objective,
    run_args,
    set_confirmed,
    set_run,
    set_store,
    sl,
    train_button,
):
    # The button: one package call, idslab.live.press(idslab.experiments.compare, ...): live progress and curves.
    _out = None
    if run_args is not None and (train_button.value or AUTO):
        _out = L.press(E.compare, title=f"{objective.selected_key}, {HEAD_NAMES[head.value]}", view=VIEW,
                       confirmed=AUTO, get_confirmed=get_confirmed, set_confirmed=set_confirmed, results_dir=STORE,
                       **run_args)
        if _out.value is not None:
            set_run({"comparison": _out.value, "objective": objective.selected_key, "objective_key": objective.value,
                     "head": HEAD_NAMES[head.value], "head_key": head.value, "sl": float(sl.value),
                     "key": (data.name, data.tile), "total_s": _out.wall_s})
        set_store(lambda v: v + 1)
    mo.md(f"<span id='train-status'>{_out.message}</span>") if _out is not None else None
    return


@app.cell(hide_code=True)
def _(R, get_run, mo):
    # What the run shows, in words computed from its records (idslab.report)
    _run = get_run()
    _view = None
    if _run is not None:
        _c = _run["comparison"]
        _name, _tile = _run["key"]
        _view = mo.md(
            f"<span id='run-results'>**Your run** ({_name}, {_tile}x{_tile}, CNN-{_tile}, {_run['objective']}, "
            f"{_run['head']}, IDS s_l = {_run['sl']:g}, {len(_c.seeds)} seed(s), {_c.base.epochs} epoch(s); "
            f"{_run['total_s']:.0f} s).</span> "
            f"{R.collapse_sentences(_c, _run['objective'], _run['head'])}\n\n"
            f"{R.comparison_sentences(_c)}")
    _view
    return


@app.cell(hide_code=True)
def _(P, get_run):
    _run = get_run()
    _view = None
    if _run is not None:
        _c = _run["comparison"]
        _view = P.epoch_curves({r["label"]: r["monitor"] for r in _c.records
                                if r.get("monitor") and r["config"]["seed"] == _c.seeds[0]},
                               title=f"Per epoch ({_run['objective']}, {_run['head']}, first seed): loss, "
                                     "k-NN, rank of h, z_std",
                               knn_references={k: v for k, v in P.reference_levels(_c.controls, "knn_acc").items()
                                               if k == "floor"})
    _view
    return


@app.cell(hide_code=True)
def _(E, P, get_run, mo):
    _run = get_run()
    _view = None
    if _run is not None:
        _rows = _run["comparison"].table()
        for _r in _rows:
            _r["label"] = P.condition_name(_r["label"])
        _view = mo.md("Probe-test accuracy of the frozen h (mean ± sd over seeds; *MLP − none*: the paired "
                      "difference to no augmentation, 95% interval over seeds, needs 2 or more):\n\n"
                      + E.comparison_markdown(_rows))
    _view
    return


@app.cell(hide_code=True)
def _(L, RESULTS_DIR, get_run, mo):
    # Save (after a run only): a browser download of the records as JSON, and the same file on the server.
    _run = get_run()
    save_run = mo.ui.run_button(label="Save on the server") if _run is not None else None
    run_file = (None, None) if _run is None else (
        _run["comparison"].to_dict,
        RESULTS_DIR / "objectives_{}_t{}_{}_{}_sl{:g}.json".format(
            *_run["key"], _run["objective_key"], _run["head_key"].replace(" ", "_"), _run["sl"]))
    L.save_row(save_run, *run_file, mo)
    return run_file, save_run


@app.cell(hide_code=True)
def _(L, mo, run_file, save_run):
    L.save_on_server(save_run, *run_file, mo)
    return


@app.cell(hide_code=True)
def _(E, HEAD_NAMES, MEASURED, R, data, dataset, head, mo, objective, tile):
    # The study's measured table for the chosen objective and head (docs/results/objectives.md, parsed by
    # idslab.report.objectives_tables), and sentences computed from it (idslab.report.objectives_sentences).
    _enc = f"cnn{data.tile if data is not None else tile.value}"
    _key = (dataset.value, _enc, objective.value, head.value)
    _note = ""
    if _key not in MEASURED and (dataset.value, "cnn16", objective.value, head.value) in MEASURED:
        _note = f" The study has no CNN-{_enc[3:]} table for this choice yet: CNN-16's is shown."
        _key = (dataset.value, "cnn16", objective.value, head.value)
    measured_rows = MEASURED.get(_key)
    _head = HEAD_NAMES[head.value]
    if measured_rows:
        _q = E.QUICK   # the study's protocol (scripts/objectives.py trains at idslab.experiments.QUICK)
        _body = (f"<span id='measured'>**{objective.selected_key}, {_head}** ({_key[0]}, CNN-{_key[1][3:]}; the "
                 f"quick protocol: {_q['n_pretrain']} / {_q['n_probe_train']} / {_q['n_probe_test']} tiles, "
                 f"{_q['epochs']} epochs, paired seeds, 2-core CPU).</span>"
                 f"{_note} {R.objectives_sentences(measured_rows, objective.selected_key, _head)}")
    else:
        _body = (f"<span id='measured'>The study has no table for {objective.selected_key} with the {_head} on "
                 f"{dataset.value} yet</span> ({R.OBJECTIVES_REPORT} {'has none' if MEASURED else 'is missing'}).")
    mo.md("## 2. Measured: the full objectives study\nThe same question with every views condition, 5 paired "
          f"seeds and the controls, from `{R.OBJECTIVES_REPORT}`; *MLP − none* is each condition minus no "
          "augmentation **with the same objective and head** (points, 95% interval over paired seeds; `**` where "
          "it excludes 0). It follows the objective and head chosen above.\n\n" + _body)
    return (measured_rows,)


@app.cell(hide_code=True)
def _(R, measured_rows, mo):
    _cmds = "\n".join(c.replace(" --datasets", " \\\n    --datasets") for c in R.OBJECTIVES_COMMANDS)
    mo.md((R.objectives_markdown(measured_rows) + "\n\n" if measured_rows else "")
          + f"Produced by (training, resumable; then the tables):\n```bash\n{_cmds}\n```")
    return


if __name__ == "__main__":
    app.run()

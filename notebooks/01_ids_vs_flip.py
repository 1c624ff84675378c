import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="IDS vs flip + rotation")


@app.cell(hide_code=True)
def _():
    # Set-up: imports, then one package call (idslab.notebook.setup: modes, device, folders, sizes; as 04 and 05).
    # QUICK (IDSLAB_QUICK=1): tiny sizes so CI runs the whole notebook in well under a minute. AUTO: outside a
    # marimo kernel (python notebooks/01_ids_vs_flip.py, or the exported .ipynb under nbval) buttons are never
    # pressed, so the heavy cells run once by themselves; in `marimo edit/run` they wait for the button.
    import math

    import marimo as mo
    import torch

    from idslab import diagnostics as D
    from idslab import experiments as E
    from idslab import live as L
    from idslab import report as R
    from idslab.datasets import Sizes, load, per_class, rotated_streak
    from idslab.notebook import setup
    from idslab.plots import training as P
    from idslab.train import TrainConfig
    from idslab.views import fft_band_mask, flip_rotate, simclr_augment

    NB = setup("01", mo)
    AUTO, BUDGET, CIFAR_DIR, DATA_DIR, DEVICE = NB.auto, NB.budget, NB.cifar_dir, NB.data_dir, NB.device
    QUICK, RESULTS_DIR, STORE, VIEW = NB.quick, NB.results_dir, NB.store, NB.view
    return (
        AUTO,
        BUDGET,
        CIFAR_DIR,
        D,
        DATA_DIR,
        DEVICE,
        E,
        L,
        P,
        QUICK,
        R,
        RESULTS_DIR,
        STORE,
        Sizes,
        TrainConfig,
        VIEW,
        fft_band_mask,
        flip_rotate,
        load,
        math,
        mo,
        per_class,
        rotated_streak,
        simclr_augment,
        torch,
    )


@app.cell(hide_code=True)
def _(AUTO, DEVICE, QUICK, mo, rotated_streak):
    _quarter = rotated_streak(73, 90)  # what a quarter turn tells the encoder about the fastest meteor
    _when = "only when you press their button, with a time estimate first and live progress"
    mo.md(
        rf"""
        # Implicit Data Synthesis versus flips and rotations

        <span id="intro">**Contrastive learning (SimCLR)** pulls two *views* of the same sample together and pushes
        views of other samples apart. The views usually come from **data augmentation**: flips, rotations, crops,
        colour jitter. On radar images (time →, altitude ↑, pixels in calibrated SNR dB) these break the physics:
        a head echo always **descends**, and a flip makes it ascend; the streak's **slope is the speed**, and a
        rotation changes it (a quarter turn makes a 73 km/s meteor an
        {"ascending" if not _quarter["descending"] else "descending"} one at {_quarter["speed_kms"]:.0f} km/s);
        colour jitter changes the echo's power, i.e. the meteor's size.</span>

        **Implicit Data Synthesis (IDS)** leaves the data alone and perturbs the *encoder*: at the first fully
        connected layer (`fc1`) every forward pass draws fresh Gaussian noise on the weights (paper Eq. 1),
        $h^{{(l)}} = \sigma\big((W^{{(l)}} + \lambda^{{(l)}})\, h^{{(l-1)}}\big)$,
        $\lambda^{{(l)}}_{{ij}} \sim \mathcal N(0, s_l^2)$. Two passes of the *same* input give the positive pair;
        $s_l$ sets how far apart they are. At $s_l = 0$ the two views are identical and the positive pair is
        already perfect: whether the encoder still learns anything is the first question this notebook answers
        (sections 3 and 4), and why is the second (section 5). At evaluation $s_l = 0$.

        <small>Mode: {"quick (IDSLAB_QUICK=1)" if QUICK else "full"}, device: {DEVICE}; heavy cells run
        {"automatically (not in a marimo kernel)" if AUTO else _when}.</small>
        """
    )
    return


@app.cell(hide_code=True)
def _(P, QUICK, mo):
    # The conditions by their display names: the same names appear in the legends and tables below.
    CONDITIONS = {P.condition_name(v): v for v in ("flip", "fft", "simclr", "ids", "ids+flip", "ids+fft", "none")}
    dataset = mo.ui.dropdown({"meteor radar": "meteor", "CIFAR-10 vehicle / animal": "cifar"},
                             value="meteor radar", label="dataset")
    tile = mo.ui.dropdown([str(n) for n in (8, 16, 32, 64, 128, 256)], value="8" if QUICK else "16",
                          label="tile N (pixels)")
    encoder_kind = mo.ui.dropdown({"CNN-N (matches the tile)": "cnn", "ResNet-18": "resnet18",
                                   "ResNet-50": "resnet50"}, value="CNN-N (matches the tile)", label="encoder")
    conditions = mo.ui.multiselect(CONDITIONS, value=[P.condition_name("flip"), P.condition_name("ids")],
                                   label="conditions to compare")
    sl = mo.ui.slider(0.0, 0.2, step=0.005, value=0.02, label="s_l (std of λ at fc1)", show_value=True,
                      debounce=True, full_width=True)
    mo.vstack([mo.hstack([dataset, tile, encoder_kind], justify="start", gap=2), conditions, sl])
    return conditions, dataset, encoder_kind, sl, tile


@app.cell(hide_code=True)
def _(BUDGET, CIFAR_DIR, DATA_DIR, Sizes, dataset, load, mo, tile):
    # A data set that cannot be loaded (CIFAR without its folder, a bad tile) is shown as a callout with the fix;
    # every later section then shows nothing (data is None) instead of failing.
    data, data_error = None, None
    try:
        with mo.status.spinner(title=f"Loading {dataset.value} tiles of {tile.value}x{tile.value} "
                                     "(generated once, then cached)"):
            data = load(dataset.value, int(tile.value), seed=0, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR,
                        sizes=Sizes(BUDGET["n_pretrain"], BUDGET["n_probe_train"], BUDGET["n_probe_test"]))
    except (FileNotFoundError, ValueError, OSError) as _e:
        data_error = str(_e)
    if data is None:
        _fix = ("Start the notebook with the folder of CIFAR-10 class sub-folders, e.g. "
                "`IDSLAB_CIFAR_DIR=/path/to/cifar10-train-jpg make notebook`, or fetch CIFAR-10 once with "
                "`idslab data cifar --download` (cached under `$IDSLAB_DATA`, else `data/`)."
                if dataset.value == "cifar" else "Choose another tile size, or see `docs/DATA.md`.")
        _view = mo.callout(mo.md(f"<span id='data-error'>**Cannot load {dataset.value} at "
                                 f"{tile.value}x{tile.value}.**</span> {data_error}\n\n{_fix}\n\n"
                                 "Sections 1 to 5 wait until a data set loads."), kind="danger")
    else:
        _view = mo.md(f"<span id='data-summary'>**Data:** {data.name}, {data.tile}x{data.tile} tiles, "
                      f"{data.channels} channel(s); {len(data.pretrain.y)} pre-training (labels unused), "
                      f"{len(data.probe_train.y)} probe-train, {len(data.probe_test.y)} probe-test tiles; classes "
                      f"0 = `{data.classes[0]}`, 1 = `{data.classes[1]}`; cache `{DATA_DIR or 'data'}`.</span>")
    _view
    return (data,)


@app.cell(hide_code=True)
def _(conditions, encoder_kind, sl, tile):
    # The views strings of the chosen conditions, and the encoder name for the chosen tile.
    encoder_name = f"cnn{tile.value}" if encoder_kind.value == "cnn" else encoder_kind.value
    chosen = list(dict.fromkeys(conditions.value)) or ["ids"]
    sl_value = float(sl.value)
    return chosen, encoder_name, sl_value


@app.cell(hide_code=True)
def _(mo):
    # Results live in state, so moving a slider afterwards neither retrains nor clears them; the cells that show
    # them read the state (they never wait on a run cell, so a stopped run leaves nothing half-drawn below it).
    get_results, set_results = mo.state(None)
    get_sweep, set_sweep = mo.state(None)
    get_heads, set_heads = mo.state(None)
    get_store, set_store = mo.state(0)            # bumped after every run: the estimates re-read the store
    get_confirmed, set_confirmed = mo.state(None)  # the long run the reader was warned about once
    return (
        get_confirmed,
        get_heads,
        get_results,
        get_store,
        get_sweep,
        set_confirmed,
        set_heads,
        set_results,
        set_store,
        set_sweep,
    )


@app.cell(hide_code=True)
def _(mo):
    redraw = mo.ui.button(value=0, on_click=lambda v: v + 1, label="new random views")
    mo.vstack([
        mo.md("## 1. Data-space views\nEach row transforms the top row. On radar tiles (time →, altitude ↑) a flip "
              "turns a descending head echo into an ascending one and a rotation changes its slope, i.e. its "
              "speed; the FFT band mask keeps the geometry but removes part of each pulse's altitude spectrum; "
              "the SimCLR suite (crops, jitter) rescales calibrated SNR."),
        redraw])
    return (redraw,)


@app.cell(hide_code=True)
def _(
    P,
    data,
    fft_band_mask,
    flip_rotate,
    per_class,
    redraw,
    simclr_augment,
    torch,
):
    # The same 6 probe-test tiles (3 per class) under each transform; radar on the fixed 0-40 dB scale of notebook 00
    _view = None
    if data is not None:
        _x = data.probe_test.x[per_class(data.probe_test.y, 3)].float()
        torch.manual_seed(int(redraw.value))
        _rows = {"original": _x, P.condition_name("flip"): flip_rotate(_x),
                 P.condition_name("fft"): fft_band_mask(_x), P.condition_name("simclr"): simclr_augment(_x)}
        _db = data.channels == 1
        _view = P.view_grid(_rows, colorbar_title="SNR (dB)" if _db else "", zmin=0 if _db else None,
                            zmax=40 if _db else None,
                            title=f"The same tiles under data-space views: 3 × {data.classes[0]}, then 3 × "
                                  f"{data.classes[1]}")
    _view
    return


@app.cell(hide_code=True)
def _(BUDGET, DEVICE, E, data, encoder_name, mo):
    # A briefly pre-trained IDS encoder for the weight-space diagnostics until the run button has trained one
    warm_model = None
    if data is not None:
        with mo.status.spinner(title="Warm-up: one epoch of IDS pre-training for the diagnostics"):
            warm_model = E.warm_encoder(data, encoder_name, sl=0.02, epochs=1, batch_size=BUDGET["batch_size"],
                                        device=DEVICE)
    return (warm_model,)


@app.cell(hide_code=True)
def _(
    BUDGET,
    D,
    chosen,
    data,
    encoder_name,
    get_results,
    per_class,
    sl_value,
    warm_model,
):
    # Weight-space views, recomputed on every s_l move (a fraction of a second): perturbed-representation clouds
    # and positive/negative similarity per view type.
    diag = None
    if warm_model is not None:
        _res = get_results()
        _trained = _res is not None and _res["key"] == (data.name, data.tile, encoder_name)
        _ids_runs = [c for c in (_res or {}).get("models", {}) if "ids" in c.split("+")] if _trained else []
        _model = _res["models"][_ids_runs[0]] if _ids_runs else warm_model
        _x, _y = data.probe_test.x[:128].float(), data.probe_test.y[:128]
        _pick = per_class(_y, 3)
        _clean, _cloud = D.perturbed_cloud(_model, _x[_pick], sl_value, BUDGET["draws"], seed=0)
        diag = dict(which=(f"the `{_ids_runs[0]}` encoder from section 3" if _ids_runs else
                           "a warm-up encoder (one epoch of IDS); press *Pre-train and compare* to use a trained one"),
                    clean=_clean, cloud=_cloud, labels=_y[_pick], numbers=D.cloud_stats(_clean, _cloud), n=len(_x),
                    sims={v: D.pair_similarities(_model, _x, v, sl_value, seed=0)
                          for v in dict.fromkeys(["ids", *chosen])})
    return (diag,)


@app.cell(hide_code=True)
def _(BUDGET, diag, mo, sl_value):
    _view = None
    if diag is not None:
        _cs = diag["numbers"]
        _view = mo.md(f"""## 2. Weight-space views (IDS) at s_l = {sl_value:.3f}
    Each × is a tile's clean representation h = f<sub>W</sub>(x) (32-d, shown by PCA); the dots around it are
    {BUDGET["draws"]} perturbed passes f<sub>W+λ</sub>(x). Model: {diag["which"]}.

    <span id="ids-stats">**s_l = {sl_value:.3f}**: the perturbed h̃ lie on average **{_cs["spread"]:.3f}** from
    the clean h ({100 * _cs["rel_spread"]:.1f}% of |h|, {_cs["spread_over_neighbour"]:.2f}× the distance to the
    nearest other tile; mean cos(h̃, h) = {_cs["cos"]:.3f}).</span>
    """)
    _view
    return


@app.cell(hide_code=True)
def _(P, data, diag):
    P.cloud_scatter(diag["clean"], diag["cloud"], diag["labels"], data.classes) if diag is not None else None
    return


@app.cell(hide_code=True)
def _(D, P, diag, mo, sl_value):
    _view = None
    if diag is not None:
        _stats = {v: D.similarity_stats(s) for v, s in diag["sims"].items()}
        _rows = "\n".join(f"| {P.condition_name(v)} | {s['pos_mean']:.3f} | {s['neg_mean']:.3f} | {s['gap']:+.3f} |"
                          for v, s in _stats.items())
        _view = mo.md(f"""Cosine similarity in projection space z (where NT-Xent scores them) of **positive pairs**
    (two views of one tile) and **negative pairs** (views of different tiles), {diag["n"]} probe-test tiles. The loss
    wants positives near 1 and well above the negatives; IDS moves with s_l, data views do not (s_l = {sl_value:.3f};
    at s_l = 0 the IDS positives are exactly 1).

    | views | mean cos, positives | mean cos, negatives | gap |
    |---|---|---|---|
    {_rows}
    """)
    _view
    return


@app.cell(hide_code=True)
def _(P, diag, sl_value):
    P.similarity_histograms(diag["sims"], title=f"Positive vs negative pairs at s_l = {sl_value:.3f}") \
        if diag is not None else None
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    epochs = mo.ui.slider(1, 50, value=BUDGET["epochs"], label="epochs", show_value=True)
    with_controls = mo.ui.checkbox(value=True, label="with the controls")
    seeds = mo.ui.slider(1, 5, value=BUDGET["seeds"], label="seeds", show_value=True)
    run_button = mo.ui.run_button(label="Pre-train and compare", kind="success")
    mo.vstack([
        mo.md("## 3. Does weight noise beat identical views?\nTrains every chosen condition on the same encoder, "
              "data and seed, then freezes each encoder (s_l = 0), drops the projection head and fits an MLP probe "
              "and a k-NN classifier on h (paper Sec. 4.1). IDS uses the s_l above. The controls say what the "
              "numbers mean: the untrained encoder (the floor), **the same training with two identical views (no "
              "augmentation, i.e. IDS at s_l = 0)**, a logistic regression on tile statistics (trivial) and the "
              "same encoder trained with labels (the ceiling). Stop it any time (marimo's ■): finished runs are "
              "kept, and pressing again resumes."),
        mo.hstack([epochs, seeds, with_controls, run_button], justify="start", gap=2)])
    return epochs, run_button, seeds, with_controls


@app.cell(hide_code=True)
def _(
    BUDGET,
    DEVICE,
    E,
    TrainConfig,
    chosen,
    data,
    encoder_name,
    epochs,
    seeds,
    sl_value,
    with_controls,
):
    # What the button will run: idslab.experiments.compare's arguments (the estimate reads the same ones).
    compare_args = None
    if data is not None:
        compare_args = dict(
            base=TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="ids",
                             sites={"fc1": sl_value}, epochs=int(epochs.value), device=DEVICE,
                             batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)),
                             n_pretrain=len(data.pretrain.y), n_probe_train=len(data.probe_train.y),
                             n_probe_test=len(data.probe_test.y)),
            conditions=chosen, data=data, seeds=tuple(range(int(seeds.value))),
            controls=E.CONTROLS if with_controls.value else ())
    return (compare_args,)


@app.cell(hide_code=True)
def _(L, STORE, compare_args, get_store, mo):
    # The section's one hint line: what pressing costs on this device (a measured step), before anything trains.
    get_store()
    _view = None
    if compare_args is not None:
        _view = L.hint(L.estimate_compare(**compare_args, results_dir=STORE), "Pre-train and compare", mo)
    _view
    return


@app.cell(hide_code=True)
def _(
    AUTO,
    E,
    L,
    STORE,
    VIEW,
    compare_args,
    data,
    encoder_name,
    get_confirmed,
    mo,
    run_button,
    set_confirmed,
    set_results,
    set_store,
    sl_value,
):
    # The button: one package call, idslab.live.press(idslab.experiments.compare, ...): live progress and curves;
    # every finished run is stored as it finishes, so marimo's stop keeps it and the next press reuses it.
    _out = None
    if compare_args is not None and (run_button.value or AUTO):
        _out = L.press(E.compare, title="Pre-train and compare", view=VIEW, confirmed=AUTO,
                       get_confirmed=get_confirmed, set_confirmed=set_confirmed, results_dir=STORE,
                       **compare_args)
        if _out.value is not None:
            _c = _out.value
            set_results({"key": (data.name, data.tile, encoder_name), "sl": sl_value, "comparison": _c,
                         "models": _c.models, "total_s": _out.wall_s, "classes": data.classes})
        set_store(lambda v: v + 1)
    mo.md(f"<span id='compare-status'>{_out.message}</span>") if _out is not None else None
    return


@app.cell(hide_code=True)
def _(R, get_results):
    # The results, laid out by one package call (idslab.report.comparison_view, as notebook 05's section 5): the
    # sentences, the table and every figure below are computed from the comparison's records. The class names are
    # the run's data set's (not the one chosen now: results outlive a change of data set).
    _res = get_results()
    shown = R.comparison_view(_res["comparison"], _res["classes"], _res["total_s"]) if _res is not None else None
    return (shown,)


@app.cell(hide_code=True)
def _(mo, shown):
    mo.md(shown.summary) if shown is not None else None
    return


@app.cell(hide_code=True)
def _(shown):
    shown.bars if shown is not None else None
    return


@app.cell(hide_code=True)
def _(shown):
    shown.curves if shown is not None else None
    return


@app.cell(hide_code=True)
def _(shown):
    shown.diagnostics if shown is not None else None
    return


@app.cell(hide_code=True)
def _(mo, shown):
    mo.vstack([mo.md(shown.physics_text), shown.physics]) if shown is not None and shown.physics is not None else \
        mo.md(shown.physics_text) if shown is not None else None
    return


@app.cell(hide_code=True)
def _(mo, shown):
    emb_method = mo.ui.dropdown(["PCA", "UMAP"], value="PCA", label="2-D embedding (UMAP: slower, about 15 s "
                                "the first time)") if shown is not None else None
    emb_method
    return (emb_method,)


@app.cell(hide_code=True)
def _(emb_method, mo, shown):
    _view = None
    if shown is not None and emb_method is not None:
        with mo.status.spinner(title=f"{emb_method.value} of the frozen representations"):
            _view = shown.embedding(emb_method.value)
    _view
    return


@app.cell(hide_code=True)
def _(L, RESULTS_DIR, mo, shown):
    # Save (after a run only): a browser download of the records as JSON, and the same file on the server.
    save_results = mo.ui.run_button(label="Save on the server") if shown is not None else None
    results_file = (None, None) if shown is None else (shown.comparison.to_dict, RESULTS_DIR / shown.file_name)
    L.save_row(save_results, *results_file, mo)
    return results_file, save_results


@app.cell(hide_code=True)
def _(L, mo, results_file, save_results):
    L.save_on_server(save_results, *results_file, mo)
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    sweep_sls = mo.ui.multiselect([f"{s:g}" for s in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)],
                                  value=[f"{s:g}" for s in BUDGET["sweep_sls"]], label="s_l values")
    sweep_seeds = mo.ui.slider(1, 5, value=BUDGET["sweep_seeds"], label="seeds", show_value=True)
    sweep_button = mo.ui.run_button(label="Run the s_l sweep")
    mo.vstack([
        mo.md("## 4. The s_l sweep: does any amount of weight noise help?\nIDS pre-training at each s_l and seed "
              f"(paper Fig. 3: CNN-16 from 0.01 to 0.20), {BUDGET['sweep_epochs']} epoch(s) each, then both "
              "probes; mean ± sd over seeds. **s_l = 0** (identical views: no augmentation) and the random-init "
              "floor are always included."),
        mo.hstack([sweep_sls, sweep_seeds, sweep_button], justify="start", gap=2)])
    return sweep_button, sweep_seeds, sweep_sls


@app.cell(hide_code=True)
def _(BUDGET, DEVICE, TrainConfig, data, encoder_name, sweep_seeds, sweep_sls):
    sweep_args = None
    if data is not None:
        sweep_args = dict(
            base=TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="ids",
                             sites={"fc1": 0.02}, epochs=BUDGET["sweep_epochs"], device=DEVICE,
                             n_pretrain=len(data.pretrain.y), n_probe_train=len(data.probe_train.y),
                             n_probe_test=len(data.probe_test.y),
                             batch_size=min(BUDGET["batch_size"], len(data.pretrain.y))),
            sls=sorted(float(s) for s in sweep_sls.value) or [0.02], seeds=list(range(int(sweep_seeds.value))),
            data=data)
    return (sweep_args,)


@app.cell(hide_code=True)
def _(L, STORE, get_store, mo, sweep_args):
    get_store()
    L.hint(L.estimate_sweep(**sweep_args, results_dir=STORE), "Run the s_l sweep", mo) \
        if sweep_args is not None else None
    return


@app.cell(hide_code=True)
def _(
    AUTO,
    E,
    L,
    STORE,
    VIEW,
    data,
    encoder_name,
    get_confirmed,
    mo,
    set_confirmed,
    set_store,
    set_sweep,
    sweep_args,
    sweep_button,
):
    # The button: one package call, idslab.live.press(idslab.experiments.sweep_sl, ...) (s_l = 0 and the floor
    # included; on a GPU compatible runs train together, idslab.multi).
    _out = None
    if sweep_args is not None and (sweep_button.value or AUTO):
        _out = L.press(E.sweep_sl, title="s_l sweep", view=VIEW, confirmed=AUTO, get_confirmed=get_confirmed,
                       set_confirmed=set_confirmed, results_dir=STORE, stack="auto", **sweep_args)
        if _out.value is not None:
            set_sweep({"records": _out.value, "total_s": _out.wall_s, "key": (data.name, data.tile, encoder_name)})
        set_store(lambda v: v + 1)
    mo.md(f"<span id='sweep-status'>{_out.message}</span>") if _out is not None else None
    return


@app.cell(hide_code=True)
def _(P, R, get_results, get_sweep, mo):
    _sw = get_sweep()
    _view = None
    if _sw is not None:
        _name, _tile, _enc = _sw["key"]
        _res = get_results()
        # the trivial and supervised levels of the last comparison on the same data and encoder, when there is one
        _refs = {k: v for k, v in P.reference_levels(_res["comparison"].controls).items()
                 if k in ("trivial", "supervised")} if _res is not None and _res["key"] == _sw["key"] else {}
        _view = mo.vstack([
            mo.md(f"<span id='sweep-results'>**Sweep**: {len(_sw['records'])} runs ({_name}, {_tile}x{_tile}, "
                  f"{_enc}) in {_sw['total_s']:.0f} s.</span> {R.sweep_sentences(_sw['records'])}"),
            P.sl_sweep(_sw["records"], references=_refs,
                       title=f"Probe accuracy and final loss versus s_l ({_enc}, {_name} {_tile}x{_tile})")])
    _view
    return


@app.cell(hide_code=True)
def _(P, get_sweep):
    _sw = get_sweep()
    _view = None
    if _sw is not None:
        _first = min(r["config"]["seed"] for r in _sw["records"])
        _view = P.epoch_curves({f"s_l = {r['config']['sites']['fc1']:g}": r["monitor"] for r in _sw["records"]
                                if r.get("monitor") and r["config"]["seed"] == _first},
                               title="Per epoch, first seed: how each s_l trains")
    _view
    return


@app.cell(hide_code=True)
def _(L, RESULTS_DIR, get_sweep, mo):
    _sw = get_sweep()
    save_sweep = mo.ui.run_button(label="Save on the server") if _sw is not None else None
    sweep_file = (None, None) if _sw is None else (
        lambda: {"records": _sw["records"], "wall_s": _sw["total_s"]},
        RESULTS_DIR / "sweep_{}_t{}_{}.json".format(*_sw["key"]))
    L.save_row(save_sweep, *sweep_file, mo)
    return save_sweep, sweep_file


@app.cell(hide_code=True)
def _(L, mo, save_sweep, sweep_file):
    L.save_on_server(save_sweep, *sweep_file, mo)
    return


@app.cell(hide_code=True)
def _(get_results, math, mo):
    _res = get_results()
    _none = None
    if _res is not None:
        _runs = [r for r in _res["comparison"].runs("none") if r.get("loss_history")]
        if _runs:
            _b, _h = _runs[0]["config"]["batch_size"], _runs[0]["loss_history"]
            _none = (f"In your comparison above, training with identical views brought the loss to {_h[-1]:.3f} "
                     f"after {len(_h)} epoch(s), below ln(2B − 1) = {math.log(2 * _b - 1):.3f}, its value when "
                     f"every tile has the same z (B = {_b}): with the positive term fixed, all of that drop came "
                     "from pushing the negatives apart.")
    _bn = "`python scripts/beyond_paper.py --encoders cnn16 --parts bn --seeds 0-9`"
    mo.md(rf"""
    ## 5. Why identical views learn: the negatives
    NT-Xent (SimCLR's loss) for a view $z_i$ with its positive $z_j$ and the other $2B - 2$ views of the batch:
    $\ell_i = -\log \dfrac{{e^{{\cos(z_i, z_j)/\tau}}}}{{\sum_{{k \ne i}} e^{{\cos(z_i, z_k)/\tau}}}}$.
    With identical views ($s_l = 0$) the numerator is already at its maximum, $\cos = 1$; the loss can still fall,
    and only by making the *other* tiles' $z$ less similar: **instance discrimination**, which alone teaches the
    encoder what tells tiles apart. {_none or "Press *Pre-train and compare* above to see how far the loss of the "
    "no-augmentation control falls."}

    What if the negatives cannot do that job? With a **batch-normalised projection head** (SimCLR's own head,
    `TrainConfig.proj_bn=True`, instead of the paper's plain one) identical views collapse on meteor: 80.0 ± 3.6%
    (MLP probe) against 89.0% with the paper's head, their h concentrated (uniformity −0.30 against −1.12); weight
    noise brings them back to 89.2 ± 1.7% ({_bn}, 10 seeds, docs/RESULTS.md). The button below trains both heads
    with identical views and with weight noise and draws, epoch by epoch, the training loss, k-NN accuracy on a
    probe subset, the effective rank of h and the spread of z (z_std: 0 would mean every tile has the same z);
    a few sentences above the curves say what this run shows (k-NN, uniformity of h, any collapse). The objective
    dropdown swaps NT-Xent for a loss **without negatives** (BYOL, SimSiam: nothing pushes different tiles apart) or
    with explicit variance terms (VICReg, Barlow Twins). **Notebook 04** (`marimo edit notebooks/04_objectives.py`)
    asks where weight noise matters across these objectives: any objective, views and head, trained live beside
    the full study's measured table.
    """)
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    head_sl = mo.ui.slider(0.005, 0.2, step=0.005, value=0.02, label="s_l of the noisy runs", show_value=True)
    objective = mo.ui.dropdown({"NT-Xent (SimCLR, the paper's)": "ntxent", "BYOL": "byol", "SimSiam": "simsiam",
                                "VICReg": "vicreg", "Barlow Twins": "barlow"},
                               value="NT-Xent (SimCLR, the paper's)", label="objective")
    head_epochs = mo.ui.slider(1, 50, value=BUDGET["head_epochs"], label="epochs", show_value=True)
    heads_button = mo.ui.run_button(label="Train both heads", kind="success")
    # two rows: in one, the button was squeezed until its label spilled out of it (1400 px, Chromium)
    mo.vstack([objective, mo.hstack([head_sl, head_epochs, heads_button], justify="start", gap=2)])
    return head_epochs, head_sl, heads_button, objective


@app.cell(hide_code=True)
def _(
    BUDGET,
    DEVICE,
    TrainConfig,
    data,
    encoder_name,
    head_epochs,
    head_sl,
    objective,
):
    # Paper's head vs batch-normalised head, each with identical views (s_l = 0) and with weight noise, and the floor
    heads_args = None
    if data is not None:
        _s = float(head_sl.value)
        heads_args = dict(
            base=TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="none",
                             epochs=int(head_epochs.value), device=DEVICE, objective=objective.value,
                             batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)),
                             n_pretrain=len(data.pretrain.y), n_probe_train=len(data.probe_train.y),
                             n_probe_test=len(data.probe_test.y)),
            conditions=[{"views": "none", "label": "paper head, s_l = 0"},
                        {"views": "ids", "sl": _s, "label": f"paper head, s_l = {_s:g}"},
                        {"views": "none", "proj_bn": True, "label": "BN head, s_l = 0"},
                        {"views": "ids", "sl": _s, "proj_bn": True, "label": f"BN head, s_l = {_s:g}"}],
            data=data, controls=("floor",))
    return (heads_args,)


@app.cell(hide_code=True)
def _(L, STORE, get_store, heads_args, mo):
    get_store()
    L.hint(L.estimate_compare(**heads_args, results_dir=STORE), "Train both heads", mo) \
        if heads_args is not None else None
    return


@app.cell(hide_code=True)
def _(
    AUTO,
    E,
    L,
    P,
    STORE,
    VIEW,
    data,
    get_confirmed,
    heads_args,
    heads_button,
    mo,
    objective,
    set_confirmed,
    set_heads,
    set_store,
):
    # The button: one package call, idslab.live.press(idslab.experiments.compare, ...) on the four head x s_l runs.
    _out = None
    if heads_args is not None and (heads_button.value or AUTO):
        _out = L.press(E.compare, title="Both heads, identical views and weight noise", view=VIEW,
                       confirmed=AUTO, get_confirmed=get_confirmed, set_confirmed=set_confirmed, results_dir=STORE,
                       curves_colours=P.head_colour, **heads_args)
        if _out.value is not None:
            set_heads({"comparison": _out.value, "objective": objective.selected_key,
                       "objective_key": objective.value, "total_s": _out.wall_s, "key": (data.name, data.tile)})
        set_store(lambda v: v + 1)
    mo.md(f"<span id='heads-status'>{_out.message}</span>") if _out is not None else None
    return


@app.cell(hide_code=True)
def _(R, get_heads, mo):
    _hd = get_heads()
    mo.md(f"<span id='heads-results'>{R.heads_sentences(_hd['comparison'], _hd['objective'])}</span>") \
        if _hd is not None else None
    return


@app.cell(hide_code=True)
def _(P, get_heads):
    _hd = get_heads()
    _view = None
    if _hd is not None:
        _c = _hd["comparison"]
        _view = P.epoch_curves({r["label"]: r["monitor"] for r in _c.records if r.get("monitor")},
                               colours=P.head_colour,
                               title=f"Per epoch, {_hd['objective']}: training loss, k-NN, rank of h, spread of z",
                               knn_references={k: v for k, v in P.reference_levels(_c.controls, "knn_acc").items()
                                               if k == "floor"})
    _view
    return


@app.cell(hide_code=True)
def _(L, RESULTS_DIR, get_heads, mo):
    _hd = get_heads()
    save_heads = mo.ui.run_button(label="Save on the server") if _hd is not None else None
    heads_file = (None, None) if _hd is None else (
        _hd["comparison"].to_dict, RESULTS_DIR / "heads_{}_t{}_{}.json".format(*_hd["key"], _hd["objective_key"]))
    L.save_row(save_heads, *heads_file, mo)
    return heads_file, save_heads


@app.cell(hide_code=True)
def _(L, heads_file, mo, save_heads):
    L.save_on_server(save_heads, *heads_file, mo)
    return


@app.cell(hide_code=True)
def _(mo):
    # Measured with the full protocols: quoted from docs/RESULTS.md with their numbers and commands (a test checks
    # that every number here appears there).
    _cmd = "idslab compare --dataset meteor --encoder cnn16 --conditions flip,fft,ids --seeds 0,1,2,3,4"
    mo.md(rf"""
    ## 6. What the weight perturbation does and does not buy
    <span id="measured">Measured with the full protocol (docs/RESULTS.md: meteor-5, CNN-16, 4000 / 2000 / 600
    tiles, 20 epochs, 5 paired seeds, 2-core CPU), not with this notebook's small defaults:</span>

    - **Nothing measurable over identical views.** IDS at s_l = 0.02 scores 90.6% (MLP probe); the same training
      with two identical views scores 90.5%: +0.1 points, 95% interval [−1.9, +2.1] (`{_cmd}`). What the encoder
      learns comes from NT-Xent's negatives, not from λ. On CNN-32 the paper's IDS is 2.5 points *below* no
      augmentation ([−3.3, −1.7], `idslab reproduce table1`).
    - **It does no harm where flips do.** Flip + rotation loses 10.3 points against no augmentation
      ([−15.0, −5.6]) and its direction probe (62.8%) sits at the random init's 64.0%; IDS never touches the input
      and keeps direction as well as no augmentation (70.0% vs 67.5%; same command).
    - **Too much noise stops learning.** The accuracy falls from 91.0% at s_l = 0 to 83.6% at 0.1 and 71.7% at
      0.2, below the untrained encoder's 76.5%, while the effective rank of h collapses (9.1 → 2.1)
      (`idslab reproduce fig3`).
    - **Speed is lost by every method.** No self-supervised encoder keeps the meteor's speed linearly readable from
      h (velocity R² 0.03-0.11); the same CNN trained with the speed reaches 0.77
      (`python scripts/physics_ceiling.py --tile 16 --seeds 0,1,2`).
    - **It rescues training only where training itself fails.** With a batch-normalised projection head, identical
      views collapse on meteor (80.0 ± 3.6%); weight noise brings them back (89.2 ± 1.7%, +9.2 [+6.7, +11.7]), but
      only to where the paper's head gets without any noise (`python scripts/beyond_paper.py --encoders cnn16
      --parts bn --seeds 0-9`, quick protocol, 10 seeds).
    """)
    return


@app.cell(hide_code=True)
def _(mo):
    _code = """from idslab.datasets import Sizes, load
    from idslab.train import TrainConfig, pretrain
    from idslab.widgets import sl_explorer

    data = load("meteor", 16, sizes=Sizes(2000, 1000, 600))
    model = pretrain(TrainConfig(encoder="cnn16", epochs=2, n_pretrain=2000), data).model
    sl_explorer(model, data.probe_test.x[:128], data.probe_test.y[:128], class_names=data.classes)"""
    mo.md(f"""
    ## In Jupyter
    The same s_l exploration, as ipywidgets on the same idslab functions:

    ```python
    {_code}
    ```
    """)
    return


if __name__ == "__main__":
    app.run()

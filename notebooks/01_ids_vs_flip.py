import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="IDS vs flip + rotation")


@app.cell(hide_code=True)
def _():
    # Set-up: imports; modes, sizes and folders.
    import os
    import time
    from pathlib import Path

    import marimo as mo
    import torch

    import idslab
    from idslab import diagnostics as D
    from idslab import experiments as E
    from idslab.datasets import Sizes, load, per_class, rotated_streak
    from idslab.plots import training as P
    from idslab.train import TrainConfig, write_json
    from idslab.views import fft_band_mask, flip_rotate, simclr_augment

    # QUICK (IDSLAB_QUICK=1): tiny sizes so CI runs the whole notebook in well under a minute.
    # AUTO: outside a marimo kernel (python notebooks/01_ids_vs_flip.py, or the exported .ipynb under nbval) buttons
    # are never pressed, so the heavy cells run once by themselves; in `marimo edit/run` they wait for the button.
    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    AUTO = not mo.running_in_notebook()
    GPU = torch.cuda.is_available()
    if not GPU:
        # One intra-op thread: on a 2-core CPU that also runs the marimo server and the browser, torch's thread
        # hand-offs dominate these small tensors (measured: probes 0.7 s instead of 17-30 s, training 8x faster).
        torch.set_num_threads(1)
    if QUICK:
        BUDGET = dict(n_pretrain=256, n_probe_train=128, n_probe_test=128, epochs=1, batch_size=64, seeds=1,
                      sweep_epochs=1, sweep_sls=(0.0, 0.05), sweep_seeds=2, draws=32)
    elif GPU:
        BUDGET = dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=30, batch_size=256, seeds=3,
                      sweep_epochs=20, sweep_sls=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2), sweep_seeds=3, draws=256)
    else:  # 2-core CPU
        BUDGET = dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=8, batch_size=256, seeds=1,
                      sweep_epochs=3, sweep_sls=(0.0, 0.01, 0.05, 0.2), sweep_seeds=2, draws=128)
    ROOT = Path(idslab.__file__).resolve().parent.parent
    _checkout = (ROOT / "pyproject.toml").exists()
    # $IDSLAB_DATA wins; else the checkout's data/ (whatever folder marimo was started from); else ./data
    DATA_DIR = os.environ.get("IDSLAB_DATA") or (str(ROOT / "data") if _checkout else None)
    _shared = ROOT.parent / "shared" / "datasets" / "cifar10-train-jpg"
    CIFAR_DIR = os.environ.get("IDSLAB_CIFAR_DIR") or (str(_shared) if _shared.is_dir() else None)
    RESULTS_DIR = ROOT / "results" / "notebooks" if _checkout else Path("results") / "notebooks"
    DEVICE = "cuda" if GPU else "cpu"
    if not AUTO and not QUICK:
        P.warm_umap()  # compile UMAP in the background while the reader reads
    return (
        AUTO,
        BUDGET,
        CIFAR_DIR,
        D,
        DATA_DIR,
        DEVICE,
        E,
        P,
        QUICK,
        RESULTS_DIR,
        Sizes,
        TrainConfig,
        fft_band_mask,
        flip_rotate,
        load,
        mo,
        per_class,
        rotated_streak,
        simclr_augment,
        time,
        torch,
        write_json,
    )


@app.cell(hide_code=True)
def _(AUTO, DEVICE, QUICK, mo, rotated_streak):
    _quarter = rotated_streak(73, 90)  # what a quarter turn tells the encoder about the fastest meteor
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
        $s_l$ sets how far apart they are ($s_l = 0$: identical, nothing to learn). At evaluation $s_l = 0$.

        <small>Mode: {"quick (IDSLAB_QUICK=1)" if QUICK else "full"}, device: {DEVICE}; heavy cells run
        {"automatically (not in a marimo kernel)" if AUTO else "only when you press their button"}.</small>
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
    # every later cell waits (data is None) instead of failing silently.
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
                                 "Sections 1 to 4 wait until a data set loads."), kind="danger")
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
    mo,
    per_class,
    redraw,
    simclr_augment,
    torch,
):
    mo.stop(data is None)
    # The same 6 probe-test tiles (3 per class) under each transform; radar on the fixed 0-40 dB scale of notebook 00
    _x = data.probe_test.x[per_class(data.probe_test.y, 3)].float()
    torch.manual_seed(int(redraw.value))
    _rows = {"original": _x, P.condition_name("flip"): flip_rotate(_x), P.condition_name("fft"): fft_band_mask(_x),
             P.condition_name("simclr"): simclr_augment(_x)}
    _db = data.channels == 1
    P.view_grid(_rows, colorbar_title="SNR (dB)" if _db else "", zmin=0 if _db else None, zmax=40 if _db else None,
                title=f"The same tiles under data-space views: 3 × {data.classes[0]}, then 3 × {data.classes[1]}")
    return


@app.cell(hide_code=True)
def _(BUDGET, DEVICE, E, data, encoder_name, mo):
    mo.stop(data is None)
    # A briefly pre-trained IDS encoder for the weight-space diagnostics until the run button has trained one
    with mo.status.spinner(title="Warm-up: one epoch of IDS pre-training for the diagnostics"):
        warm_model = E.warm_encoder(data, encoder_name, sl=0.02, epochs=1, batch_size=BUDGET["batch_size"],
                                    device=DEVICE)
    return (warm_model,)


@app.cell(hide_code=True)
def _(mo):
    get_results, set_results = mo.state(None)
    get_sweep, set_sweep = mo.state(None)
    return get_results, get_sweep, set_results, set_sweep


@app.cell(hide_code=True)
def _(
    BUDGET,
    D,
    chosen,
    data,
    encoder_name,
    get_results,
    mo,
    per_class,
    sl_value,
    warm_model,
):
    mo.stop(data is None)
    # Weight-space views, recomputed on every s_l move (a fraction of a second): perturbed-representation clouds
    # and positive/negative similarity per view type.
    _res = get_results()
    _trained = _res is not None and _res["key"] == (data.name, data.tile, encoder_name)
    _ids_runs = [c for c in (_res or {}).get("models", {}) if "ids" in c.split("+")] if _trained else []
    diag_model = _res["models"][_ids_runs[0]] if _ids_runs else warm_model
    diag_which = (f"the `{_ids_runs[0]}` encoder from section 3" if _ids_runs
                  else "a warm-up encoder (one epoch of IDS); press *Pre-train and compare* to use a trained one")
    diag_x = data.probe_test.x[:128].float()
    diag_y = data.probe_test.y[:128]
    diag_pick = per_class(diag_y, 3)
    clean, cloud = D.perturbed_cloud(diag_model, diag_x[diag_pick], sl_value, BUDGET["draws"], seed=0)
    cloud_numbers = D.cloud_stats(clean, cloud)
    sims = {v: D.pair_similarities(diag_model, diag_x, v, sl_value, seed=0)
            for v in dict.fromkeys(["ids", *chosen])}
    return (
        clean,
        cloud,
        cloud_numbers,
        diag_pick,
        diag_which,
        diag_x,
        diag_y,
        sims,
    )


@app.cell(hide_code=True)
def _(BUDGET, cloud_numbers, diag_which, mo, sl_value):
    _cs = cloud_numbers
    mo.md(f"""## 2. Weight-space views (IDS) at s_l = {sl_value:.3f}
    Each × is a tile's clean representation h = f<sub>W</sub>(x) (32-d, shown by PCA); the dots around it are
    {BUDGET["draws"]} perturbed passes f<sub>W+λ</sub>(x). Model: {diag_which}.

    <span id="ids-stats">**s_l = {sl_value:.3f}**: the perturbed h̃ lie on average **{_cs["spread"]:.3f}** from
    the clean h ({100 * _cs["rel_spread"]:.1f}% of |h|, {_cs["spread_over_neighbour"]:.2f}× the distance to the
    nearest other tile; mean cos(h̃, h) = {_cs["cos"]:.3f}).</span>
    """)
    return


@app.cell(hide_code=True)
def _(P, clean, cloud, data, diag_pick, diag_y, mo):
    mo.stop(data is None)
    P.cloud_scatter(clean, cloud, diag_y[diag_pick], data.classes)
    return


@app.cell(hide_code=True)
def _(D, P, diag_x, mo, sims, sl_value):
    _rows = "\n".join(f"| {P.condition_name(v)} | {s['pos_mean']:.3f} | {s['neg_mean']:.3f} | {s['gap']:+.3f} |"
                      for v, s in ((v, D.similarity_stats(s)) for v, s in sims.items()))
    mo.md(f"""Cosine similarity in projection space z (where NT-Xent scores them) of **positive pairs** (two
    views of one tile) and **negative pairs** (views of different tiles), {len(diag_x)} probe-test tiles. The loss wants
    positives near 1 and well above the negatives; IDS moves with s_l, data views do not (s_l = {sl_value:.3f}).

    | views | mean cos, positives | mean cos, negatives | gap |
    |---|---|---|---|
    {_rows}
    """)
    return


@app.cell(hide_code=True)
def _(P, sims, sl_value):
    P.similarity_histograms(sims, title=f"Positive vs negative pairs at s_l = {sl_value:.3f}")
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    epochs = mo.ui.slider(1, 50, value=BUDGET["epochs"], label="epochs", show_value=True)
    with_controls = mo.ui.checkbox(value=True, label="with the controls")
    seeds = mo.ui.slider(1, 5, value=BUDGET["seeds"], label="seeds", show_value=True)
    run_button = mo.ui.run_button(label="Pre-train and compare", kind="success")
    mo.vstack([
        mo.md("## 3. Pre-train and compare\nTrains every chosen condition on the same encoder, data and seed, then "
              "freezes each encoder (s_l = 0), drops the projection head and fits an MLP probe and a k-NN "
              "classifier on h (paper Sec. 4.1). IDS uses the s_l above. The controls say what the numbers mean: "
              "the untrained encoder (the floor), the same training without any augmentation, a logistic "
              "regression on tile statistics (trivial) and the same encoder trained with labels (the ceiling). "
              f"Default: {BUDGET['epochs']} epoch(s) on {BUDGET['n_pretrain']} tiles."),
        mo.hstack([epochs, seeds, with_controls, run_button], justify="start", gap=2)])
    return epochs, run_button, seeds, with_controls


@app.cell
def _(
    AUTO,
    BUDGET,
    DEVICE,
    E,
    TrainConfig,
    chosen,
    data,
    encoder_name,
    epochs,
    mo,
    run_button,
    seeds,
    set_results,
    sl_value,
    time,
    with_controls,
):
    # The button: one package call, idslab.experiments.compare (the conditions, then the controls, on the same
    # data and seeds). Results go into state, so moving a slider afterwards neither retrains nor clears them.
    mo.stop(data is None or not (run_button.value or AUTO))
    _base = TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="ids",
                        sites={"fc1": sl_value}, epochs=int(epochs.value), device=DEVICE,
                        batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)), n_pretrain=len(data.pretrain.y))
    _t0 = time.perf_counter()
    with mo.status.spinner(title="Pre-train and compare") as _spin:
        def _tick(done, total, rec):
            _what = f": {rec.get('label')} done" if rec else ""
            _spin.update(subtitle=f"run {done} of {total}{_what}")

        comparison = E.compare(_base, chosen, seeds=range(int(seeds.value)), data=data, progress=_tick,
                               controls=E.CONTROLS if with_controls.value else ())
    trained = {"key": (data.name, data.tile, encoder_name), "sl": sl_value, "comparison": comparison,
               "total_s": time.perf_counter() - _t0}
    set_results(trained)
    return (trained,)


@app.cell(hide_code=True)
def _(get_results, trained):
    # The last results (from state); `trained` orders this cell after the run cell in scripts and Jupyter.
    results = trained if trained is not None else get_results()
    return (results,)


@app.cell(hide_code=True)
def _(E, P, mo, results):
    mo.stop(results is None, mo.callout(mo.md("Press **Pre-train and compare** to train the chosen conditions "
                                              "and their controls."), kind="info"))
    _c = results["comparison"]
    _rows = _c.table()
    for _r in _rows:
        _r["label"] = P.condition_name(_r["label"])
    _name, _tile, _enc = results["key"]
    mo.md(f"""<span id="run-results">**Results** ({_name}, {_tile}x{_tile}, {_enc}, IDS s_l = {results["sl"]:.3f},
    {len(_c.seeds)} seed(s); {results["total_s"]:.0f} s in all).</span> Probe-test accuracy (mean ± sd over seeds);
    *gap closed*: the fraction of the way from the random-init floor to the supervised ceiling; *MLP − none*: the
    paired difference to the same training without augmentation (95% interval over seeds, needs 2 or more).

    {E.comparison_markdown(_rows)}
    """)
    return


@app.cell(hide_code=True)
def _(P, mo, results):
    mo.stop(results is None)
    _c = results["comparison"]
    P.accuracy_bars({k: v for k, v in P.by_label(_c.records, roles=("condition",)).items()},
                    references=P.reference_levels(_c.controls))
    return


@app.cell(hide_code=True)
def _(P, mo, results):
    mo.stop(results is None)
    _c = results["comparison"]
    _groups = P.by_label(_c.records)
    # the first seed's loss curve per trained label (the floor trains for 0 epochs: no curve)
    _losses = {}
    for _r in _c.records:
        if _r.get("loss_history") and _r.get("label") not in _losses:
            _losses[_r["label"]] = _r["loss_history"]
    _fig = P.training_panel(_losses, _groups)
    if not any("diagnostics" in g["metrics"] for g in _groups.values()):
        _fig = mo.vstack([_fig, mo.md("_No representation diagnostics in these records (`metrics.diagnostics`)._")])
    _fig
    return


@app.cell(hide_code=True)
def _(P, mo, results):
    mo.stop(results is None)
    _groups = P.by_label(results["comparison"].records)
    if any("physics" in g["metrics"] for g in _groups.values()):
        _view = mo.vstack([
            mo.md("**Physics probes** (meteor): a ridge regression of the echo's signed velocity from the frozen h "
                  "(R² on positive tiles), and whether a linear classifier on h tells a real, descending echo from "
                  "the same tile flipped in altitude (an ascending meteor). A flip-invariant encoder cannot: "
                  "that is the paper's argument against flips, as a number."),
            P.physics_bars(_groups)])
    else:
        _view = mo.callout(mo.md("No physics probes for this data set (`metrics.physics` needs the meteor tiles' "
                                 "per-tile targets)."), kind="neutral")
    _view
    return


@app.cell(hide_code=True)
def _(P, QUICK, data, mo, results):
    mo.stop(results is None)
    _emb = results["comparison"].embeddings
    _labels = [k for k in _emb if k != "floor"]
    mo.stop(not _labels)
    with mo.status.spinner(title="2-D embedding of the frozen representations"):
        _fig = P.umap_side_by_side({k: _emb[k][0] for k in _labels}, _emb[_labels[0]][1], data.classes, seed=0,
                                   method="pca" if QUICK else "umap")
    _fig
    return


@app.cell(hide_code=True)
def _(mo):
    save_results = mo.ui.run_button(label="Save the results as JSON")
    save_results
    return (save_results,)


@app.cell(hide_code=True)
def _(RESULTS_DIR, mo, results, save_results, write_json):
    # an if, not mo.stop: outside a marimo kernel (script, Jupyter) the button is never pressed and nothing is saved
    if not save_results.value:
        _view = None
    elif results is None:
        _view = mo.md("_Nothing to save yet._")
    else:
        _name, _tile, _enc = results["key"]
        _path = RESULTS_DIR / f"compare_{_name}_t{_tile}_{_enc}_sl{results['sl']:g}.json"
        write_json(_path, results["comparison"].to_dict())
        _view = mo.md(f"<span id='saved-results'>Saved `{_path}` ({len(results['comparison'].records)} records; "
                      "written atomically).</span>")
    _view
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    sweep_sls = mo.ui.multiselect([f"{s:g}" for s in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)],
                                  value=[f"{s:g}" for s in BUDGET["sweep_sls"] if s > 0], label="s_l values")
    sweep_seeds = mo.ui.slider(1, 5, value=BUDGET["sweep_seeds"], label="seeds", show_value=True)
    sweep_button = mo.ui.run_button(label="Run the s_l sweep")
    mo.vstack([
        mo.md("## 4. Live s_l sweep\nIDS pre-training at each s_l and seed (paper Fig. 3: CNN-16 from 0.01 to "
              f"0.20), {BUDGET['sweep_epochs']} epoch(s) each, then both probes; mean ± sd over seeds. s_l = 0 "
              "(identical views: no augmentation) and the random-init floor are always included."),
        mo.hstack([sweep_sls, sweep_seeds, sweep_button], justify="start", gap=2)])
    return sweep_button, sweep_seeds, sweep_sls


@app.cell
def _(
    AUTO,
    BUDGET,
    DEVICE,
    E,
    TrainConfig,
    data,
    encoder_name,
    mo,
    set_sweep,
    sweep_button,
    sweep_seeds,
    sweep_sls,
    time,
):
    # The button: one package call, idslab.experiments.sweep_sl (s_l = 0 and the floor included).
    mo.stop(data is None or not (sweep_button.value or AUTO))
    _sls = sorted(float(s) for s in sweep_sls.value) or [0.02]
    _base = TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="ids", sites={"fc1": 0.02},
                        epochs=BUDGET["sweep_epochs"], device=DEVICE, n_pretrain=len(data.pretrain.y),
                        batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)))
    _t0 = time.perf_counter()
    with mo.status.spinner(title="s_l sweep") as _spin:
        def _tick(done, total, rec):
            _what = (f": s_l = {rec['config']['sites']['fc1']:g}, seed {rec['config']['seed']}, MLP "
                     f"{100 * rec['metrics']['mlp_acc']:.1f}%") if rec else ""
            _spin.update(subtitle=f"run {done} of {total}{_what}")

        # stack="auto": on a GPU compatible runs train together (idslab.multi), on a CPU one after another
        _records = E.sweep_sl(_base, _sls, list(range(int(sweep_seeds.value))), data=data, progress=_tick,
                              stack="auto")
    swept = {"records": _records, "total_s": time.perf_counter() - _t0, "key": (data.name, data.tile, encoder_name)}
    set_sweep(swept)
    return (swept,)


@app.cell(hide_code=True)
def _(P, get_results, get_sweep, mo, swept):
    _sw = swept if swept is not None else get_sweep()
    mo.stop(_sw is None, mo.callout(mo.md("Press **Run the s_l sweep**."), kind="info"))
    _name, _tile, _enc = _sw["key"]
    _res = get_results()
    # the trivial and supervised levels of the last comparison on the same data and encoder, when there is one
    _refs = {k: v for k, v in P.reference_levels(_res["comparison"].controls).items() if k in ("trivial", "supervised")
             } if _res is not None and _res["key"] == _sw["key"] else {}
    mo.vstack([
        mo.md(f"<span id='sweep-results'>**Sweep**: {len(_sw['records'])} runs ({_name}, {_tile}x{_tile}, "
              f"{_enc}) in {_sw['total_s']:.0f} s.</span> At s_l = 0 the two views coincide and the loss has "
              "nothing to learn from but the negatives; where the final loss stays near its start and the "
              "accuracy sits at the floor, the encoder learned nothing."),
        P.sl_sweep(_sw["records"], references=_refs,
                   title=f"Probe accuracy and final loss versus s_l ({_enc}, {_name} {_tile}x{_tile})")])
    return


@app.cell(hide_code=True)
def _(mo):
    save_sweep = mo.ui.run_button(label="Save the sweep as JSON")
    save_sweep
    return (save_sweep,)


@app.cell(hide_code=True)
def _(RESULTS_DIR, get_sweep, mo, save_sweep, write_json):
    _sw = get_sweep()
    if not save_sweep.value:
        _view = None
    elif _sw is None:
        _view = mo.md("_Nothing to save yet._")
    else:
        _name, _tile, _enc = _sw["key"]
        _path = RESULTS_DIR / f"sweep_{_name}_t{_tile}_{_enc}.json"
        write_json(_path, {"records": _sw["records"], "wall_s": _sw["total_s"]})
        _view = mo.md(f"<span id='saved-sweep'>Saved `{_path}` ({len(_sw['records'])} records; written "
                      "atomically).</span>")
    _view
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## 5. What the weight perturbation does and does not buy
    <span id="measured">Measured with the full protocol (docs/RESULTS.md; meteor-5, CNN-16, 4000 / 2000 / 600 tiles,
    20 epochs, 5 paired seeds, 2-core CPU, 2026-11-27), not with this notebook's small defaults:</span>

    - **Nothing measurable over no augmentation.** IDS at s_l = 0.02 scores 90.6% (MLP probe); the same training
      with two identical views (s_l = 0) scores 90.5%: +0.1 points, 95% interval [−1.9, +2.1]. What the encoder
      learns comes from NT-Xent's negatives, not from λ. Ten variants (one λ per sample, σ relative to RMS(W),
      every conv and linear layer, several s_l) on meteor and CIFAR-10 did not change that (RESULTS.md, "Beyond
      the paper"); on CNN-32 the paper's IDS is even 2.5 points *below* no augmentation ([−3.3, −1.7]).
    - **It does no harm where flips do.** Flip + rotation loses 10.3 points against no augmentation and its
      direction probe (real descending echo vs the same tile flipped) sits at the random-init level; IDS never
      touches the input and keeps direction as well as no augmentation (70.0% vs 67.5%).
    - **Too much noise stops learning.** From s_l ≈ 0.03 at fc1 the accuracy falls (91.0% at s_l = 0, 88.8% at
      0.03, 83.6% at 0.1, 71.7% at 0.2, below the untrained encoder's 76.5%) while the final loss rises and the
      effective rank of h collapses (9.1 → 2.1): press *Run the s_l sweep* above to see it.
    - **Speed is lost by every method.** No self-supervised encoder here keeps the meteor's speed linearly
      readable from h (velocity R² 0.03-0.11), although the same CNN trained with the speed reaches 0.77.
    - **It rescues training only where training itself fails.** With a batch-normalised projection head (SimCLR's,
      `proj_bn=True`), no augmentation collapses on meteor (80.0%); each of the three weight-noise views tried
      brings it back (89.2-90.4%), but only to where the paper's head gets without noise (89.0%; quick protocol,
      10 seeds).
    """)
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md("""
    ## In Jupyter
    The same s_l exploration, as ipywidgets on the same idslab functions:

    ```python
    from idslab.datasets import Sizes, load
    from idslab.train import TrainConfig, pretrain
    from idslab.widgets import sl_explorer

    data = load("meteor", 16, sizes=Sizes(2000, 1000, 600))
    model = pretrain(TrainConfig(encoder="cnn16", epochs=2, n_pretrain=2000), data).model
    sl_explorer(model, data.probe_test.x[:128], data.probe_test.y[:128], class_names=data.classes)
    ```
    """)
    return


if __name__ == "__main__":
    app.run()

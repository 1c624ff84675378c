import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="IDS vs flip + rotation")


@app.cell
def _():
    import marimo as mo

    return (mo,)


@app.cell
def _():
    import os
    import time
    from pathlib import Path

    import numpy as np
    import torch

    import idslab
    from idslab import diagnostics as D
    from idslab.datasets import Sizes, load
    from idslab.experiments import sweep_sl
    from idslab.plots import training as P
    from idslab.probes import embed, evaluate
    from idslab.train import TrainConfig, pretrain, probe_config
    from idslab.views import fft_band_mask, flip_rotate, simclr_augment

    return (D, P, Path, Sizes, TrainConfig, embed, evaluate, fft_band_mask, flip_rotate, idslab, load, np, os,
            pretrain, probe_config, simclr_augment, sweep_sl, time, torch)


@app.cell
def _(Path, idslab, mo, os, torch):
    # Modes. QUICK (IDSLAB_QUICK=1): tiny sizes so CI runs the whole notebook in well under a minute.
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
        BUDGET = dict(n_pretrain=256, n_probe_train=128, n_probe_test=128, epochs=1, batch_size=64,
                      sweep_epochs=1, sweep_sls=(0.0, 0.05), sweep_seeds=2, draws=32)
    elif GPU:
        BUDGET = dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=30, batch_size=256,
                      sweep_epochs=20, sweep_sls=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2), sweep_seeds=3, draws=256)
    else:  # 2-core CPU: about a minute per button
        BUDGET = dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=8, batch_size=256,
                      sweep_epochs=3, sweep_sls=(0.0, 0.01, 0.05, 0.2), sweep_seeds=2, draws=128)
    _root = Path(idslab.__file__).resolve().parent.parent
    DATA_DIR = str(_root / "data") if (_root / "pyproject.toml").exists() else "data"
    CIFAR_DIR = os.environ.get("IDSLAB_CIFAR_DIR") or None
    DEVICE = "cuda" if GPU else "cpu"
    return AUTO, BUDGET, CIFAR_DIR, DATA_DIR, DEVICE, GPU, QUICK


@app.cell
def _(AUTO, BUDGET, DEVICE, P, QUICK, mo):
    if not AUTO and not QUICK:
        P.warm_umap()  # compile UMAP in the background while the reader reads
    mo.md(
        rf"""
        # Implicit Data Synthesis versus flips and rotations

        **Contrastive learning (SimCLR)** pulls two *views* of the same sample together and pushes views of
        other samples apart. The views usually come from **data augmentation**: flips, rotations, crops, colour
        jitter. On radar data these break the physics:

        - a radar image has *time* to the right and *altitude* up; a meteor head echo is a streak that always
          **descends**. A flip makes it ascend, which no meteor does;
        - the streak's **slope is the meteor's speed**; a rotation changes the speed, 90° makes it infinite;
        - pixel values are **calibrated SNR in dB** (the meteor's size), so colour jitter changes the meteor.

        **Implicit Data Synthesis (IDS)** leaves the data alone and perturbs the *encoder* instead. At the first
        fully connected layer (`fc1`) every forward pass uses fresh Gaussian noise on the weights (paper Eq. 1):

        $$h^{{(l)}} = \sigma\big((W^{{(l)}} + \lambda^{{(l)}})\, h^{{(l-1)}}\big), \qquad
        \lambda^{{(l)}}_{{ij}} \sim \mathcal N(0, s_l^2)$$

        Two passes of the *same, unmodified* input through two perturbed encoders $f_{{W+\lambda_1}}$,
        $f_{{W+\lambda_2}}$ give the positive pair. $s_l$ sets how far apart the two views are: at $s_l = 0$ they
        coincide (nothing to learn), at large $s_l$ they become unrelated. At evaluation $s_l = 0$.

        Below: pick data, encoder and conditions; compare the **data-space views** with the **weight-space
        views**; then press **Pre-train and compare** to train flip + rotation and IDS side by side, and run a
        live **$s_l$ sweep**.
        <small>Mode: {"quick (IDSLAB_QUICK=1)" if QUICK else "full"}, device: {DEVICE}; heavy cells run
        {"automatically (not in a marimo kernel)" if AUTO else "only when you press their button"}.</small>
        """
    )
    return


@app.cell
def _(QUICK, mo):
    CONDITIONS = {
        "flip + rotation": "flip",
        "FFT band mask": "fft",
        "SimCLR suite": "simclr",
        "IDS": "ids",
        "IDS + flip": "ids+flip",
        "IDS + FFT": "ids+fft",
    }
    dataset = mo.ui.dropdown({"meteor radar": "meteor", "CIFAR-10 vehicle / animal": "cifar"},
                             value="meteor radar", label="dataset")
    tile = mo.ui.dropdown([str(n) for n in (8, 16, 32, 64, 128, 256)], value="8" if QUICK else "16",
                          label="tile N (pixels)")
    encoder_kind = mo.ui.dropdown({"CNN-N (matches the tile)": "cnn", "ResNet-18": "resnet18",
                                   "ResNet-50": "resnet50"}, value="CNN-N (matches the tile)", label="encoder")
    conditions = mo.ui.multiselect(CONDITIONS, value=["flip + rotation", "IDS"], label="conditions to compare")
    sl = mo.ui.slider(0.0, 0.2, step=0.005, value=0.02, label="s_l (std of λ at fc1)", show_value=True,
                      debounce=True, full_width=True)
    mo.vstack([mo.hstack([dataset, tile, encoder_kind], justify="start", gap=2), conditions, sl])
    return CONDITIONS, conditions, dataset, encoder_kind, sl, tile


@app.cell
def _(BUDGET, CIFAR_DIR, DATA_DIR, Sizes, dataset, load, mo, tile):
    with mo.status.spinner(title=f"Loading {dataset.value} tiles of {tile.value}x{tile.value} "
                                 "(generated once, then cached under data/)"):
        data = load(dataset.value, int(tile.value), seed=0, data_dir=DATA_DIR, cifar_dir=CIFAR_DIR,
                    sizes=Sizes(BUDGET["n_pretrain"], BUDGET["n_probe_train"], BUDGET["n_probe_test"]))
    mo.md(f"**Data:** {data.name}, {data.tile}x{data.tile} tiles, {data.channels} channel(s); "
          f"{len(data.pretrain.y)} pre-training (labels unused), {len(data.probe_train.y)} probe-train, "
          f"{len(data.probe_test.y)} probe-test tiles; classes 0 = `{data.classes[0]}`, 1 = `{data.classes[1]}`.")
    return (data,)


@app.cell
def _(conditions, encoder_kind, sl, tile):
    # The views strings of the chosen conditions, and the encoder name for the chosen tile.
    encoder_name = f"cnn{tile.value}" if encoder_kind.value == "cnn" else encoder_kind.value
    chosen = list(dict.fromkeys(conditions.value)) or ["ids"]
    sl_value = float(sl.value)
    return chosen, encoder_name, sl_value


@app.cell
def _(mo):
    redraw = mo.ui.button(value=0, on_click=lambda v: v + 1, label="new random views")
    return (redraw,)


@app.cell
def _(P, data, fft_band_mask, flip_rotate, mo, redraw, simclr_augment, torch):
    # Data-space views: the same 6 probe-test tiles (3 without, 3 with the positive label) under each transform.
    _y = data.probe_test.y
    _idx = torch.cat([torch.nonzero(_y == 0)[:3, 0], torch.nonzero(_y == 1)[:3, 0]])
    _x = data.probe_test.x[_idx].float()
    torch.manual_seed(int(redraw.value))
    _rows = {"original": _x, "flip + rotation": flip_rotate(_x), "FFT band mask": fft_band_mask(_x),
             "SimCLR suite": simclr_augment(_x)}
    _fig = P.view_grid(_rows, colorbar_title="SNR (dB)" if data.channels == 1 else "",
                       title=f"Data-space views of the same tiles: 3 × {data.classes[0]}, then 3 × {data.classes[1]}")
    mo.vstack([
        mo.md("## 1. Data-space views\nEach row transforms the top row. On radar tiles (time →, altitude ↑) a flip "
              "turns a descending head echo into an ascending one and a rotation changes its slope, i.e. its "
              "speed; the FFT band mask keeps the geometry but removes part of each pulse's altitude spectrum; "
              "the SimCLR suite (crops, jitter) rescales calibrated SNR."),
        redraw, _fig])
    return


@app.cell
def _(BUDGET, DEVICE, TrainConfig, data, encoder_name, mo, pretrain):
    # A briefly pre-trained IDS encoder for the weight-space diagnostics until the run button has trained one:
    # an untrained encoder maps every tile to nearly the same h, which says little about the perturbation.
    _cfg = TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="ids", sites={"fc1": 0.02},
                       epochs=1, batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)), device=DEVICE,
                       n_pretrain=len(data.pretrain.y))
    with mo.status.spinner(title="Warm-up: one epoch of IDS pre-training for the diagnostics"):
        warm_model = pretrain(_cfg, data).model.cpu()
    return (warm_model,)


@app.cell
def _(mo):
    get_results, set_results = mo.state(None)
    get_sweep, set_sweep = mo.state(None)
    return get_results, get_sweep, set_results, set_sweep


@app.cell
def _(BUDGET, D, P, chosen, data, encoder_name, get_results, mo, sl_value, warm_model):
    # Weight-space views, recomputed on every s_l move (a fraction of a second): perturbed-representation clouds
    # and positive/negative similarity per view type.
    _res = get_results()
    _trained = _res is not None and _res["key"] == (data.name, data.tile, encoder_name)
    _ids_runs = [c for c in (_res or {}).get("models", {}) if "ids" in c] if _trained else []
    diag_model = _res["models"][_ids_runs[0]] if _ids_runs else warm_model
    _which = (f"the `{_ids_runs[0]}` encoder from the run below" if _ids_runs
              else "a warm-up encoder (one epoch of IDS); press *Pre-train and compare* to use a trained one")
    _x = data.probe_test.x[:128].float()
    _y = data.probe_test.y[:128]
    _pick = [int(i) for i in (list((_y == 0).nonzero()[:3, 0]) + list((_y == 1).nonzero()[:3, 0]))]
    clean, cloud = D.perturbed_cloud(diag_model, _x[_pick], sl_value, BUDGET["draws"], seed=0)
    _cs = D.cloud_stats(clean, cloud)
    _views = list(dict.fromkeys(["ids", *chosen]))
    _sims = {v: D.pair_similarities(diag_model, _x, v, sl_value, seed=0) for v in _views}
    _ss = {v: D.similarity_stats(s) for v, s in _sims.items()}
    _table = "\n".join(f"| `{v}` | {s['pos_mean']:.3f} | {s['neg_mean']:.3f} | {s['gap']:+.3f} |"
                       for v, s in _ss.items())
    mo.vstack([
        mo.md(f"""## 2. Weight-space views (IDS) at s_l = {sl_value:.3f}
Each × is a tile's clean representation h = f<sub>W</sub>(x) (32-d, shown by PCA); the dots around it are
{BUDGET["draws"]} perturbed passes f<sub>W+λ</sub>(x). Model: {_which}.

<span id="ids-stats">**s_l = {sl_value:.3f}**: the perturbed h̃ lie on average **{_cs["spread"]:.3f}** from
the clean h ({100 * _cs["rel_spread"]:.1f}% of |h|, {_cs["spread_over_neighbour"]:.2f}× the distance to the
nearest other tile; mean cos(h̃, h) = {_cs["cos"]:.3f}).</span>
"""),
        P.cloud_scatter(clean, cloud, _y[_pick], data.classes),
        mo.md(f"""Cosine similarity in projection space z (where NT-Xent scores them) of **positive pairs** (two
views of one tile) and **negative pairs** (views of different tiles), {len(_x)} probe-test tiles. The loss wants
positives near 1 and well above the negatives; IDS moves with s_l, data views do not.

| views | mean cos, positives | mean cos, negatives | gap |
|---|---|---|---|
{_table}
"""),
        P.similarity_histograms(_sims, title=f"Positive vs negative pairs at s_l = {sl_value:.3f}"),
    ])
    return


@app.cell
def _(BUDGET, mo):
    epochs = mo.ui.slider(1, 50, value=BUDGET["epochs"], label="epochs", show_value=True)
    run_button = mo.ui.run_button(label="Pre-train and compare", kind="success")
    mo.vstack([
        mo.md("## 3. Pre-train and compare\nTrains every chosen condition on the same encoder, data and seed "
              "(flip + rotation and IDS by default), then freezes each encoder (s_l = 0), drops the projection "
              "head and fits an MLP probe and a k-NN classifier on h (paper Sec. 4.1). IDS uses the s_l above. "
              f"Default here: {BUDGET['epochs']} epoch(s) on {BUDGET['n_pretrain']} tiles (about a minute on a 2-core "
              "CPU for two conditions; more on a GPU)."),
        mo.hstack([epochs, run_button], justify="start", gap=2)])
    return epochs, run_button


@app.cell
def _(AUTO, BUDGET, DEVICE, P, QUICK, TrainConfig, chosen, data, embed, encoder_name, epochs, evaluate, mo,
      pretrain, probe_config, run_button, set_results, sl_value, time):
    # Heavy: runs only on the button (or once, automatically, outside a marimo kernel). Results go into state, so
    # moving a slider afterwards re-runs this cell without retraining and without clearing the results.
    if run_button.value or AUTO:
        _cfgs = {v: TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views=v,
                                sites={"fc1": sl_value}, epochs=int(epochs.value), seed=0, device=DEVICE,
                                batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)),
                                n_pretrain=len(data.pretrain.y)) for v in chosen}
        _steps = sum(c.epochs * (len(data.pretrain.y) // c.batch_size) for c in _cfgs.values())
        _out = {"key": (data.name, data.tile, encoder_name), "sl": sl_value, "models": {}, "losses": {},
                "metrics": {}, "emb": {}, "seconds": {}}
        _t0 = time.perf_counter()
        with mo.status.progress_bar(total=_steps + len(_cfgs), title="Pre-training", show_eta=True,
                                    completion_title="Done") as _bar:
            for _v, _c in _cfgs.items():
                _t = time.perf_counter()
                _pre = pretrain(_c, data, progress=lambda d, t, l, v=_v: _bar.update(
                    subtitle=f"{v}: step {d}/{t}, NT-Xent {l:.3f}"))
                _bar.update(subtitle=f"{_v}: probes")
                _out["metrics"][_v] = evaluate(_pre.model.encoder, data, probe_config(_c))
                _out["emb"][_v] = embed(_pre.model.encoder, data.probe_test.x).cpu()
                _out["models"][_v] = _pre.model.cpu()
                _out["losses"][_v] = _pre.loss_history
                _out["seconds"][_v] = time.perf_counter() - _t
        with mo.status.spinner(title="2-D embedding of the frozen representations"):
            _out["umap"] = P.umap_side_by_side(_out["emb"], data.probe_test.y, data.classes, seed=0,
                                               method="pca" if QUICK else "umap")
        _out["loss_fig"] = P.loss_curves(_out["losses"])
        _out["total_s"] = time.perf_counter() - _t0
        set_results(_out)
        trained = _out
    else:
        trained = None
    return (trained,)


@app.cell
def _(get_results, mo, trained):
    # Shows the last results (from state); `trained` orders this cell after the run cell in scripts and Jupyter.
    _res = trained if trained is not None else get_results()
    if _res is None:
        _view = mo.callout(mo.md("Press **Pre-train and compare** to train the chosen conditions."), kind="info")
    else:
        _rows = "\n".join(
            f"| `{v}` | {100 * m['mlp_acc']:.1f}% [{100 * m['mlp_ci'][0]:.1f}, {100 * m['mlp_ci'][1]:.1f}] | "
            f"{100 * m['knn_acc']:.1f}% [{100 * m['knn_ci'][0]:.1f}, {100 * m['knn_ci'][1]:.1f}] | "
            f"{_res['losses'][v][-1]:.3f} | {_res['seconds'][v]:.1f} s |" for v, m in _res["metrics"].items())
        _name, _tile, _enc = _res["key"]
        _view = mo.vstack([
            mo.md(f"""<span id="run-results">**Results** ({_name}, {_tile}x{_tile}, {_enc}, IDS s_l =
{_res["sl"]:.3f}; {_res["total_s"]:.0f} s in all). Probe-test accuracy with 95% Wilson intervals:</span>

| views | MLP probe | k-NN | final loss | time |
|---|---|---|---|---|
{_rows}
"""),
            _res["loss_fig"], _res["umap"]])
    _view
    return


@app.cell
def _(BUDGET, mo):
    sweep_sls = mo.ui.multiselect([f"{s:g}" for s in (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)],
                                  value=[f"{s:g}" for s in BUDGET["sweep_sls"]], label="s_l values")
    sweep_seeds = mo.ui.slider(1, 5, value=BUDGET["sweep_seeds"], label="seeds", show_value=True)
    sweep_button = mo.ui.run_button(label="Run the s_l sweep")
    mo.vstack([
        mo.md("## 4. Live s_l sweep\nIDS pre-training at each s_l and seed (paper Fig. 3: CNN-16 from 0.01 to "
              f"0.20), {BUDGET['sweep_epochs']} epoch(s) each, then both probes; mean ± sd over seeds."),
        mo.hstack([sweep_sls, sweep_seeds, sweep_button], justify="start", gap=2)])
    return sweep_button, sweep_seeds, sweep_sls


@app.cell
def _(AUTO, BUDGET, DEVICE, TrainConfig, data, encoder_name, mo, set_sweep, sweep_button, sweep_seeds, sweep_sl,
      sweep_sls, time):
    if sweep_button.value or AUTO:
        _sls = sorted(float(s) for s in sweep_sls.value) or [0.02]
        _seeds = list(range(int(sweep_seeds.value)))
        _base = TrainConfig(dataset=data.name, encoder=encoder_name, tile=data.tile, views="ids", sites={"fc1": 0.02},
                            epochs=BUDGET["sweep_epochs"], device=DEVICE, n_pretrain=len(data.pretrain.y),
                            batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)))
        _t0 = time.perf_counter()
        with mo.status.progress_bar(total=len(_sls) * len(_seeds), title="s_l sweep", show_eta=True,
                                    completion_title="Sweep done") as _bar:
            def _tick(done, total, rec):
                if rec is not None:
                    _bar.update(subtitle=f"s_l = {rec['config']['sites']['fc1']:g}, seed {rec['config']['seed']}: "
                                         f"MLP {100 * rec['metrics']['mlp_acc']:.1f}%")

            # stack="auto": on a GPU compatible runs train together (idslab.multi), on a CPU one after another
            _records = sweep_sl(_base, _sls, _seeds, data=data, progress=_tick, stack="auto")
        swept = {"records": _records, "total_s": time.perf_counter() - _t0, "key": (data.name, data.tile,
                                                                                     encoder_name)}
        set_sweep(swept)
    else:
        swept = None
    return (swept,)


@app.cell
def _(P, get_sweep, mo, swept):
    _sw = swept if swept is not None else get_sweep()
    if _sw is None:
        _view = mo.callout(mo.md("Press **Run the s_l sweep**."), kind="info")
    else:
        _name, _tile, _enc = _sw["key"]
        _view = mo.vstack([
            mo.md(f"<span id='sweep-results'>**Sweep**: {len(_sw['records'])} runs ({_name}, {_tile}x{_tile}, "
                  f"{_enc}) in {_sw['total_s']:.0f} s.</span> At s_l = 0 the two views coincide and the loss has "
                  "nothing to learn from but the negatives."),
            P.sl_sweep(_sw["records"], title=f"Probe accuracy versus s_l ({_enc}, {_name} {_tile}x{_tile})")])
    _view
    return


@app.cell
def _(mo):
    mo.md(
        """
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
        """
    )
    return


if __name__ == "__main__":
    app.run()

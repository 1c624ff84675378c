import marimo

__generated_with = "0.25.2"
app = marimo.App(
    width="medium",
    app_title="Your own data: pre-train IDS on your arrays, export embeddings",
)


@app.cell(hide_code=True)
def _():
    import marimo as mo

    return (mo,)


@app.cell(hide_code=True)
def _():
    import os
    import tempfile
    from pathlib import Path

    import numpy as np
    import torch

    import idslab
    from idslab import live as L
    from idslab.datasets import Sizes, summary
    from idslab.datasets.arrays import load_file, write_meteor_example
    from idslab.embeddings import export, pretrain_and_embed
    from idslab.plots import training as P
    from idslab.train import TrainConfig

    return (
        L,
        P,
        Path,
        Sizes,
        TrainConfig,
        export,
        idslab,
        load_file,
        np,
        os,
        pretrain_and_embed,
        summary,
        tempfile,
        torch,
        write_meteor_example,
    )


@app.cell(hide_code=True)
def _(Path, idslab, mo, os, tempfile, torch):
    # QUICK (IDSLAB_QUICK=1): tiny sizes so CI runs this notebook in seconds. AUTO: outside a marimo kernel (plain
    # script, exported .ipynb under nbval) no button is ever pressed, so the button cells run once by themselves.
    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    AUTO = not mo.running_in_notebook()
    if QUICK or not torch.cuda.is_available():
        torch.set_num_threads(1)  # small tensors on a shared 2-core CPU: one thread is faster (notebook 01)
    ROOT = Path(idslab.__file__).resolve().parent.parent
    from idslab.notebook import data_dir as _data_dir
    DATA_DIR = Path(_data_dir(root=ROOT) or ROOT / "data")   # $IDSLAB_DATA (a bad one: named with the fix)
    OUT_DIR = Path(tempfile.mkdtemp(prefix="idslab_nb03_")) if QUICK else DATA_DIR / "exports"
    # small CPU defaults (a GPU run can raise them in the controls)
    BUDGET = (dict(scenes=4, n_pretrain=256, n_probe_train=128, n_probe_test=64, epochs=1, batch_size=64)
              if QUICK else dict(scenes=24, n_pretrain=2000, n_probe_train=1000, n_probe_test=400, epochs=5,
                                 batch_size=256))
    EXAMPLE = (OUT_DIR if QUICK else DATA_DIR) / "example_meteor_scenes.h5"
    KEPT = {}      # finished runs of the pre-train button (a stop keeps them; the next press reuses them)
    VIEW = None if AUTO else "marimo"
    return AUTO, BUDGET, DATA_DIR, EXAMPLE, KEPT, OUT_DIR, VIEW


@app.cell(hide_code=True)
def _(mo):
    _cli = "`idslab data PATH`, `idslab train --data PATH ...`, `idslab embed --model m.pt --data PATH --out h.npz`"
    mo.md(rf"""
    # Your own data

    Pre-train IDS on **your** images, spectra or radar scenes, compare it with a data-space baseline and the
    controls, and take the frozen 32-d representations *h* out as `.npz`. Accepted: `.npy` (images only), `.npz`
    (images `x`, optional labels `y`), HDF5 (`.h5`, any dataset paths, read lazily), or a folder of PNG / JPEG /
    TIFF images (one sub-folder per class when labelled). Shapes `(n, H, W)` or `(n, C, H, W)`; values pass
    through unchanged (dB stay dB) apart from the model's own per-channel standardisation. Labels are optional: per
    image `(n,)` with values 0..K−1, or a per-pixel mask `(n, H, W)` that labels each tile by the meteor data's
    rule (≥ 4 mask pixels: positive; none: negative; in between: left out). Without labels the notebook pre-trains
    and shows the embeddings; the probes need labels. The same from the command line: {_cli} (docs/DATA.md,
    "Your own data").
    """)
    return


@app.cell(hide_code=True)
def _(BUDGET, DATA_DIR, EXAMPLE, mo):
    make_button = mo.ui.run_button(label="Make an example file (simulated meteor scenes, HDF5)")
    n_scenes = mo.ui.slider(4, 200, value=BUDGET["scenes"], step=4, label="scenes (512 x 512 each)",
                            show_value=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    browser = mo.ui.file_browser(initial_path=DATA_DIR, selection_mode="all", multiple=False,
                                 restrict_navigation=False, label="pick a .npy / .npz / .h5 file or an image folder")
    typed = mo.ui.text(value="", full_width=True, label="or type a path")
    mo.vstack([mo.md("## 1. Pick your data\nNo file at hand? Make one: simulated JRO meteor head-echo scenes "
                     f"(calibrated SNR in dB) with their per-pixel label masks, saved as `{EXAMPLE.name}` "
                     "(datasets `x` and `mask`)."),
               mo.hstack([n_scenes, make_button], justify="start", gap=2), browser, typed])
    return browser, make_button, n_scenes, typed


@app.cell(hide_code=True)
def _(AUTO, EXAMPLE, make_button, mo, n_scenes, write_meteor_example):
    made = None
    if make_button.value or (AUTO and not EXAMPLE.exists()):
        with mo.status.spinner(title=f"Simulating {n_scenes.value} meteor scenes"):
            made = write_meteor_example(EXAMPLE, n_scenes=n_scenes.value, seed=0)
    mo.md(f"Example written: `{made}`") if made else None
    return (made,)


@app.cell(hide_code=True)
def _(EXAMPLE, browser, made, mo, typed):
    # the path: typed > picked > the example file (when it exists, e.g. after the button)
    if typed.value.strip():
        path = typed.value.strip()
    elif browser.value:
        path = str(browser.path(0))
    elif made is not None or EXAMPLE.exists():
        path = str(EXAMPLE)
    else:
        path = None
    _is_example = path == str(EXAMPLE)
    data_key = mo.ui.text(value="x" if _is_example else "", label="images (array / dataset name; empty: default)")
    label_key = mo.ui.text(value="mask" if _is_example else "", label="labels or mask (empty: 'y' if present)")
    tile = mo.ui.dropdown(options=["8", "16", "32", "64"], value="16", label="tile N (encoder cnnN)")
    edge = mo.ui.dropdown(options=["drop", "shift"], value="drop", label="edges")
    mo.vstack([mo.md(f"**Data:** `{path}`" if path else "_Pick a file above, or make the example._"),
               mo.hstack([data_key, label_key], justify="start", gap=2),
               mo.hstack([tile, edge], justify="start", gap=2)])
    return data_key, edge, label_key, path, tile


@app.cell(hide_code=True)
def _(
    BUDGET,
    Sizes,
    data_key,
    edge,
    label_key,
    load_file,
    mo,
    path,
    summary,
    tile,
):
    # The data (None until a usable path is given: later sections then show nothing, never a stopped box)
    data, _view = None, None
    if path is not None:
        try:
            data = load_file(path, int(tile.value), data_key=data_key.value.strip() or None,
                             label_key=label_key.value.strip() or None, edge=edge.value,
                             sizes=Sizes(BUDGET["n_pretrain"], BUDGET["n_probe_train"], BUDGET["n_probe_test"]))
        except (ValueError, FileNotFoundError) as _e:
            _view = mo.callout(mo.md(f"**This input cannot be used:** {_e}"), kind="danger")
    if data is not None:
        _s = summary(data)
        _m = _s["meta"]
        _rows = "\n".join(
            f"| {name} | {sp['n']} | {_m['splits'][name]['scenes']} | "
            f"{', '.join(f'{k} {v}' for k, v in (sp['class_counts'] or {}).items()) or 'no labels'} | "
            f"{sp['x_min'] if sp['n'] else '-'} .. {sp['x_max'] if sp['n'] else '-'} |"
            for name, sp in _s["splits"].items())
        _view = mo.md(f"""<span id="data-summary">**{_m['format']}**, {_m['file_dtype']}, shape (n, C, H, W) =
    {tuple(_m['file_shape'])}; labels: {_m['label_kind'] or 'none'}; tiles {data.tile}x{data.tile}, stride
    {_m['stride']}, edge {_m['edge']} ({_m['tiles_per_scene']} per image).</span>

    | split | tiles | images | classes | values |
    | --- | --- | --- | --- | --- |
    {_rows}
    """ + (f"\nMajority-class share of probe-test: **{100 * _m['majority_baseline']:.1f}%** (what an accuracy must "
           "beat)." if _m["majority_baseline"] is not None else ""))
    _view
    return (data,)


@app.cell(hide_code=True)
def _(P, data, np):
    # a few tiles per class (or of the unlabelled pre-training split)
    _view = None
    if data is not None:
        _y = data.pretrain.y.numpy()
        _rows = {}
        if (_y >= 0).any():
            _rows = {data.classes[k]: data.pretrain.x[np.nonzero(_y == k)[0][:6]] for k in range(len(data.classes))
                     if (_y == k).sum() >= 6}
        if not _rows:
            _rows = {"tiles": data.pretrain.x[:6]}
        _view = P.view_grid(_rows, colorbar_title="value",
                            title=f"A few {data.tile}x{data.tile} tiles of the pre-training split")
    _view
    return


@app.cell(hide_code=True)
def _(BUDGET, P, mo):
    baseline = mo.ui.dropdown(options={P.condition_name(v): v for v in ("flip", "flip90", "fft", "simclr", "none")},
                              value=P.condition_name("fft"), label="baseline (data-space views)")
    sl = mo.ui.slider(0.0, 0.2, value=0.02, step=0.005, label="IDS s_l (std of the weight noise at fc1)",
                      show_value=True)
    epochs = mo.ui.slider(1, 50, value=BUDGET["epochs"], label="epochs", show_value=True)
    train_button = mo.ui.run_button(label="Pre-train IDS and the baseline", kind="success")
    mo.vstack([mo.md("## 2. Pre-train\nIDS perturbs the weights of fc1 (Eq. 1) and never touches your data; the "
                     "baseline makes its positive pairs with data-space views. Same encoder, data and seed. With "
                     "labels, two controls come with them: the untrained encoder probed the same way (the floor) "
                     "and a logistic regression on tile statistics (trivial)."),
               mo.hstack([baseline, sl, epochs], justify="start", gap=2), train_button])
    return baseline, epochs, sl, train_button


@app.cell(hide_code=True)
def _(BUDGET, TrainConfig, baseline, data, epochs, sl):
    train_args = None
    if data is not None:
        _common = dict(encoder=f"cnn{data.tile}", tile=data.tile, epochs=int(epochs.value), seed=0, device="auto",
                       batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)), n_pretrain=len(data.pretrain.y),
                       knn_k=min(20, max(1, len(data.probe_train.y))), n_probe_train=max(2, len(data.probe_train.y)),
                       n_probe_test=max(2, len(data.probe_test.y)))
        train_args = dict(cfgs=[TrainConfig(views="ids", sites={"fc1": float(sl.value)}, **_common),
                                TrainConfig(views=baseline.value, **_common)], data=data)
    return (train_args,)


@app.cell(hide_code=True)
def _(KEPT, L, get_kept, mo, train_args):
    get_kept()
    L.hint(L.estimate_embed(**train_args, keep=KEPT), "Pre-train IDS and the baseline", mo) \
        if train_args is not None else None
    return


@app.cell(hide_code=True)
def _(mo):
    get_trained, set_trained = mo.state(None)
    get_kept, set_kept = mo.state(0)          # bumped after every press: the estimate re-reads what is kept
    get_confirmed, set_confirmed = mo.state(None)
    return (
        get_confirmed,
        get_kept,
        get_trained,
        set_confirmed,
        set_kept,
        set_trained,
    )


@app.cell(hide_code=True)
def _(
    AUTO,
    KEPT,
    L,
    VIEW,
    get_confirmed,
    mo,
    pretrain_and_embed,
    set_confirmed,
    set_kept,
    set_trained,
    train_args,
    train_button,
):
    # The button: one package call, idslab.live.press(idslab.embeddings.pretrain_and_embed, ...): live progress
    # and curves; finished runs are kept (KEPT), so marimo's stop keeps them and the next press reuses them.
    _out = None
    if train_args is not None and (train_button.value or AUTO):
        _out = L.press(pretrain_and_embed, title="Pre-train IDS and the baseline", view=VIEW, confirmed=AUTO,
                       get_confirmed=get_confirmed, set_confirmed=set_confirmed, keep=KEPT, **train_args)
        if _out.value is not None:
            set_trained({"trained": _out.value, "data": train_args["data"]})
        set_kept(lambda v: v + 1)
    mo.md(f"<span id='train-status'>{_out.message}</span>") if _out is not None else None
    return


@app.cell(hide_code=True)
def _(P, get_trained, mo):
    _tr = get_trained()
    _view = None
    if _tr is not None:
        _trained, _data = _tr["trained"], _tr["data"]
        _lab = len(_data.probe_test.y) > 0
        if _lab:
            def _acc(m, k):
                if m is None or m.get(k + "_acc") is None:
                    return "–"
                return f"{100 * m[k + '_acc']:.1f}% [{100 * m[k + '_ci'][0]:.1f}, {100 * m[k + '_ci'][1]:.1f}]"
            _rows = "\n".join(
                f"| {P.condition_name(v) if t.role == 'condition' else f'*{P.condition_name(v)}* (control)'} | "
                f"{_acc(t.metrics, 'mlp')} | {_acc(t.metrics, 'knn')} | "
                f"{f'{t.result.loss_history[-1]:.3f}' if t.result is not None and t.result.loss_history else '–'} | "
                f"{f'{t.result.wall_s:.1f} s' if t.result is not None else '–'} |" for v, t in _trained.items())
            _view = mo.md(f"""<span id="run-results">Probe-test accuracy on {len(_data.probe_test.y)} tiles (95%
    Wilson intervals), beside the controls: an accuracy means something only above the random-init floor and the
    trivial baseline (the trivial row is its own classifier, so it fills the MLP column only).</span>

    | views | MLP probe | k-NN | final loss | pre-training |
    | --- | --- | --- | --- | --- |
    {_rows}""")
        else:
            _view = mo.md('<span id="run-results">No labels: pre-training only. Final loss: '
                          + ", ".join(f"{P.condition_name(v)} {t.result.loss_history[-1]:.3f}"
                                      for v, t in _trained.items() if t.result is not None) + "</span>")
    _view
    return


@app.cell(hide_code=True)
def _(P, get_trained):
    _tr = get_trained()
    _view = None
    if _tr is not None:
        _curves = {v: t.result.monitor for v, t in _tr["trained"].items()
                   if t.result is not None and getattr(t.result, "monitor", None)}
        if _curves:
            _view = P.epoch_curves(_curves, title="Per epoch: training loss, k-NN on a probe subset, rank of h, "
                                                  "spread of z")
    _view
    return


@app.cell(hide_code=True)
def _(get_trained, mo):
    emb_method = mo.ui.dropdown(["PCA", "UMAP"], value="PCA", label="2-D embedding (UMAP: slower, about 15 s "
                                "the first time)") if get_trained() is not None else None
    emb_method
    return (emb_method,)


@app.cell(hide_code=True)
def _(P, emb_method, get_trained, mo):
    _tr = get_trained()
    _view = None
    if _tr is not None and emb_method is not None:
        _trained, _data = _tr["trained"], _tr["data"]
        _lab = len(_data.probe_test.y) > 0
        _with_h = {v: t for v, t in _trained.items() if t.h is not None}
        with mo.status.spinner(title=f"{emb_method.value} of the frozen representations"):
            _view = P.umap_side_by_side({v: t.h for v, t in _with_h.items()}, next(iter(_with_h.values())).y,
                                        _data.classes if _lab else (), method=emb_method.value.lower(),
                                        title=f"{emb_method.value} of h, " + (
                                            "probe-test tiles, coloured by label" if _lab
                                            else "pre-training tiles (no labels)"))
    _view
    return


@app.cell(hide_code=True)
def _(OUT_DIR, get_trained, mo):
    _tr = get_trained()
    save_button = mo.ui.run_button(label="Save the models and the embeddings of every tile") \
        if _tr is not None else None
    mo.vstack([mo.md(f"## 3. Take it out\nWrites `model_<views>.pt` (loads with `idslab.train.load_checkpoint`; "
                     f"records the data file's sha256 and the input standardisation) and `embeddings_<views>.npz` "
                     f"(`h` (n, 32), `y`, `index` = image, top row, left column) to `{OUT_DIR}` on the server, and "
                     "offers each file as a download." + ("" if _tr is not None else
                                                          " Pre-train above first.")), save_button])
    return (save_button,)


@app.cell(hide_code=True)
def _(AUTO, OUT_DIR, export, get_trained, mo, save_button):
    _tr = get_trained()
    _view = None
    if _tr is not None and ((save_button is not None and save_button.value) or AUTO):
        with mo.status.spinner(title="Embedding every tile of the file"):
            _saved = export(_tr["trained"], _tr["data"], OUT_DIR)
        _view = mo.vstack([
            mo.md('<span id="saved">Saved on the server:</span>\n\n' + "\n".join(
                f"- `{v}`: `{p['model']}`, `{p['embeddings']}`" for v, p in _saved.items())),
            mo.hstack([mo.download(data=(lambda f=f: f.read_bytes()), filename=f.name, label=f"Download {f.name}")
                       for p in _saved.values() for f in (p["embeddings"], p["model"])], justify="start", gap=1,
                      wrap=True)])
    _view
    return


if __name__ == "__main__":
    app.run()

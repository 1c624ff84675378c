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
    from idslab.datasets import Sizes, summary
    from idslab.datasets.arrays import load_file, write_meteor_example
    from idslab.embeddings import export, pretrain_and_embed
    from idslab.plots import training as P
    from idslab.train import TrainConfig

    return (
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
    if QUICK:
        torch.set_num_threads(1)
    ROOT = Path(idslab.__file__).resolve().parent.parent
    DATA_DIR = Path(os.environ.get("IDSLAB_DATA") or ROOT / "data")
    OUT_DIR = Path(tempfile.mkdtemp(prefix="idslab_nb03_")) if QUICK else DATA_DIR / "exports"
    # small CPU defaults (a GPU run can raise them in the controls)
    BUDGET = (dict(scenes=4, n_pretrain=256, n_probe_train=128, n_probe_test=64, epochs=1, batch_size=64)
              if QUICK else dict(scenes=24, n_pretrain=2000, n_probe_train=1000, n_probe_test=400, epochs=5,
                                 batch_size=256))
    EXAMPLE = (OUT_DIR if QUICK else DATA_DIR) / "example_meteor_scenes.h5"
    return AUTO, BUDGET, DATA_DIR, EXAMPLE, OUT_DIR, QUICK


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # Your own data

    Pre-train IDS on **your** images, spectra or radar scenes, compare it with a data-space baseline, and take the
    frozen 32-d representations *h* out as `.npz`. Accepted: `.npy` (images only), `.npz` (images `x`, optional
    labels `y`), HDF5 (`.h5`, any dataset paths, read lazily), or a folder of PNG / JPEG / TIFF images (one
    sub-folder per class when labelled). Shapes `(n, H, W)` or `(n, C, H, W)`; values pass through unchanged
    (dB stay dB) apart from the model's own per-channel standardisation. Labels are optional: per image `(n,)`
    with values 0..K−1, or a per-pixel mask `(n, H, W)` that labels each tile by the meteor data's rule
    (≥ 4 mask pixels: positive; none: negative; in between: left out). Without labels the notebook pre-trains and
    shows the embeddings; the probes need labels. The same from the command line: `idslab data PATH`,
    `idslab train --data PATH ...`, `idslab embed --model m.pt --data PATH --out h.npz` (docs/DATA.md,
    "Your own data").
    """)
    return


@app.cell(hide_code=True)
def _(BUDGET, DATA_DIR, EXAMPLE, mo):
    make_button = mo.ui.run_button(label="Make an example file (simulated meteor scenes, HDF5)")
    n_scenes = mo.ui.slider(4, 200, value=BUDGET["scenes"], step=4, label="scenes (512 x 512 each)")
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
    mo.md(f"Example written: `{made}`" if made else "")
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
    mo.stop(path is None, mo.md(""))
    try:
        data = load_file(path, int(tile.value), data_key=data_key.value.strip() or None,
                         label_key=label_key.value.strip() or None, edge=edge.value,
                         sizes=Sizes(BUDGET["n_pretrain"], BUDGET["n_probe_train"], BUDGET["n_probe_test"]))
        problem = None
    except (ValueError, FileNotFoundError) as _e:
        data, problem = None, str(_e)
    mo.stop(data is None, mo.callout(mo.md(f"**This input cannot be used:** {problem}"), kind="danger"))
    _s = summary(data)
    _m = _s["meta"]
    _rows = "\n".join(
        f"| {name} | {sp['n']} | {_m['splits'][name]['scenes']} | "
        f"{', '.join(f'{k} {v}' for k, v in (sp['class_counts'] or {}).items()) or 'no labels'} | "
        f"{sp['x_min'] if sp['n'] else '-'} .. {sp['x_max'] if sp['n'] else '-'} |"
        for name, sp in _s["splits"].items())
    mo.vstack([
        mo.md(f"""<span id="data-summary">**{_m['format']}**, {_m['file_dtype']}, shape (n, C, H, W) =
    {tuple(_m['file_shape'])}; labels: {_m['label_kind'] or 'none'}; tiles {data.tile}x{data.tile}, stride
    {_m['stride']}, edge {_m['edge']} ({_m['tiles_per_scene']} per image).</span>

    | split | tiles | images | classes | values |
    | --- | --- | --- | --- | --- |
    {_rows}
    """ + (f"\nMajority-class share of probe-test: **{100 * _m['majority_baseline']:.1f}%** (what an accuracy must "
       "beat)." if _m["majority_baseline"] is not None else ""))])
    return (data,)


@app.cell(hide_code=True)
def _(P, data, np):
    # a few tiles per class (or of the unlabelled pre-training split)
    _y = data.pretrain.y.numpy()
    _rows = {}
    if (_y >= 0).any():
        _rows = {data.classes[k]: data.pretrain.x[np.nonzero(_y == k)[0][:6]] for k in range(len(data.classes))
                 if (_y == k).sum() >= 6}
    if not _rows:
        _rows = {"tiles": data.pretrain.x[:6]}
    P.view_grid(_rows, colorbar_title="value", title=f"A few {data.tile}x{data.tile} tiles of the pre-training split")
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    baseline = mo.ui.dropdown(options=["flip", "flip90", "fft", "simclr", "none"], value="fft",
                              label="baseline (data-space views)")
    sl = mo.ui.slider(0.0, 0.2, value=0.02, step=0.005, label="IDS s_l (std of the weight noise at fc1)")
    epochs = mo.ui.slider(1, 50, value=BUDGET["epochs"], label="epochs")
    train_button = mo.ui.run_button(label="Pre-train IDS and the baseline", kind="success")
    mo.vstack([mo.md("## 2. Pre-train\nIDS perturbs the weights of fc1 (Eq. 1) and never touches your data; the "
                     "baseline makes its positive pairs with data-space views. Same encoder, data and seed."),
               mo.hstack([baseline, sl, epochs], justify="start", gap=2), train_button])
    return baseline, epochs, sl, train_button


@app.cell
def _(
    AUTO,
    BUDGET,
    TrainConfig,
    baseline,
    data,
    epochs,
    mo,
    pretrain_and_embed,
    sl,
    train_button,
):
    mo.stop(not (train_button.value or AUTO), mo.md("_Press the button to pre-train._"))
    _common = dict(encoder=f"cnn{data.tile}", tile=data.tile, epochs=int(epochs.value), seed=0, device="auto",
                   batch_size=min(BUDGET["batch_size"], len(data.pretrain.y)), n_pretrain=len(data.pretrain.y),
                   knn_k=min(20, max(1, len(data.probe_train.y))), n_probe_train=max(2, len(data.probe_train.y)),
                   n_probe_test=max(2, len(data.probe_test.y)))
    _cfgs = [TrainConfig(views="ids", sites={"fc1": float(sl.value)}, **_common),
             TrainConfig(views=baseline.value, **_common)]
    with mo.status.progress_bar(total=100, title="Pre-training", show_eta=True) as _bar:
        _last = [0]

        def _progress(done, total, text):
            _pct = int(100 * done / max(1, total))
            if _pct > _last[0]:
                _bar.update(increment=_pct - _last[0], subtitle=text)
                _last[0] = _pct
        trained = pretrain_and_embed(_cfgs, data, _progress)
    return (trained,)


@app.cell(hide_code=True)
def _(P, QUICK, data, mo, trained):
    _lab = len(data.probe_test.y) > 0
    if _lab:
        def _acc(m, k):
            return f"{100 * m[k + '_acc']:.1f}% [{100 * m[k + '_ci'][0]:.1f}, {100 * m[k + '_ci'][1]:.1f}]"
        _rows = "\n".join(f"| `{v}` | {_acc(t.metrics, 'mlp')} | {_acc(t.metrics, 'knn')} | "
                           f"{t.result.loss_history[-1]:.3f} | {t.result.wall_s:.1f} s |" for v, t in trained.items())
        _table = mo.md(f"""<span id="run-results">Probe-test accuracy on {len(data.probe_test.y)} tiles (95% Wilson
    intervals):</span>

    | views | MLP probe | k-NN | final NT-Xent | pre-training |
    | --- | --- | --- | --- | --- |
    {_rows}""")
    else:
        _table = mo.md('<span id="run-results">No labels: pre-training only. Final NT-Xent: '
                       + ", ".join(f"`{v}` {t.result.loss_history[-1]:.3f}" for v, t in trained.items()) + "</span>")
    _fig = P.umap_side_by_side({v: t.h for v, t in trained.items()}, next(iter(trained.values())).y,
                               data.classes if _lab else (), method="pca" if QUICK else "umap",
                               title=("PCA" if QUICK else "UMAP") + " of h, "
                               + ("probe-test tiles, coloured by label" if _lab else "pre-training tiles (no labels)"))
    mo.vstack([_table, P.loss_curves({v: t.result.loss_history for v, t in trained.items()}), _fig])
    return


@app.cell(hide_code=True)
def _(OUT_DIR, mo):
    save_button = mo.ui.run_button(label="Save the models and the embeddings of every tile")
    mo.vstack([mo.md(f"## 3. Take it out\nWrites `model_<views>.pt` (loads with `idslab.train.load_checkpoint`; "
                     f"records the data file's sha256 and the input standardisation) and `embeddings_<views>.npz` "
                     f"(`h` (n, 32), `y`, `index` = image, top row, left column) to `{OUT_DIR}`."), save_button])
    return (save_button,)


@app.cell
def _(AUTO, OUT_DIR, data, export, mo, save_button, trained):
    mo.stop(not (save_button.value or AUTO), mo.md(""))
    with mo.status.spinner(title="Embedding every tile of the file"):
        saved = export(trained, data, OUT_DIR)
    mo.md('<span id="saved">Saved:</span>\n\n' + "\n".join(
        f"- `{v}`: `{p['model']}`, `{p['embeddings']}`" for v, p in saved.items()))
    return


if __name__ == "__main__":
    app.run()

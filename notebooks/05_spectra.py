import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Spectra: weight noise on a second modality")


@app.cell(hide_code=True)
def _():
    # Set-up: imports, mode, folders, budget.
    import os
    from pathlib import Path

    import marimo as mo
    import torch

    import idslab
    from idslab import diagnostics as D
    from idslab import experiments as E
    from idslab.datasets import Sizes, SpectraParams, load, per_class
    from idslab.datasets.spectra import (OIII, reversed_wavelength, shifted_velocity, simulate_spectrum)
    from idslab.plots import spectra as PS
    from idslab.plots import training as P
    from idslab.train import TrainConfig
    from idslab.views import fft_band_mask, reverse_shift, scale_jitter, shift

    # QUICK (IDSLAB_QUICK=1): tiny sizes so CI runs this notebook in seconds. AUTO: outside a marimo kernel (plain
    # script, exported .ipynb under nbval) no button is ever pressed, so the button cells run once by themselves.
    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    AUTO = not mo.running_in_notebook()
    if QUICK:
        torch.set_num_threads(1)
    _root = Path(idslab.__file__).resolve().parent.parent
    DATA_DIR = os.environ.get("IDSLAB_DATA") or (str(_root / "data") if (_root / "pyproject.toml").exists() else None)
    DEVICE = "auto"
    SPEC = SpectraParams()
    # CPU-sized defaults: about two minutes for the comparison on 2 cores (QUICK: seconds)
    BUDGET = (dict(sizes=Sizes(256, 128, 100), epochs=1, batch_size=64, draws=8)
              if QUICK else dict(sizes=Sizes(2000, 1000, 600), epochs=5, batch_size=256, draws=24))
    return (
        AUTO,
        BUDGET,
        D,
        DATA_DIR,
        DEVICE,
        E,
        OIII,
        P,
        PS,
        QUICK,
        SPEC,
        TrainConfig,
        fft_band_mask,
        load,
        mo,
        per_class,
        reverse_shift,
        reversed_wavelength,
        scale_jitter,
        shift,
        shifted_velocity,
        simulate_spectrum,
        torch,
    )


@app.cell(hide_code=True)
def _(SPEC, mo):
    _lam = SPEC.wavelength()
    mo.md(rf"""
    <span id="intro"></span>
    # Spectra: does weight noise beat data augmentation on a second modality?

    idslab's simulated galaxy spectra (`idslab.datasets.spectra`, docs/DATA.md): {SPEC.n_bins} bins uniform in
    log-wavelength, {_lam[0]:.0f} to {_lam[-1]:.0f} Å, **{SPEC.kms_per_bin:.1f} km/s per bin**, in the rest frame
    of a galaxy cluster. Each galaxy has a stellar continuum with absorption lines (Hβ, Mg b, Fe), Doppler-shifted
    by its line-of-sight velocity and broadened by its velocity dispersion and the instrument; photon and read
    noise at a stated SNR. The task: does the spectrum carry the **[O III] 4960/5008 doublet** (two lines at a
    fixed wavelength ratio, with a fixed 1 : 2.98 flux ratio)? The negatives carry what fools a line search at
    the same strength: single lines, cosmic rays, sky residuals.

    On this axis a **shift is a Doppler shift** (it changes the velocity the scientist measures) and a
    **reversal puts the doublet's strong line on the wrong side**: the two data-space views that stand for the
    paper's flip and rotation. Implicit Data Synthesis perturbs the encoder's weights instead and leaves the
    spectrum alone.
    """)
    return


@app.cell(hide_code=True)
def _(mo):
    velocity = mo.ui.slider(-2000, 2000, value=600, step=50, label="velocity v (km/s)", show_value=True)
    snr = mo.ui.slider(3, 50, value=15, step=1, label="continuum SNR per bin", show_value=True)
    line_snr = mo.ui.slider(0, 60, value=20, step=1, label="[O III] 5008 line SNR (0: no doublet)", show_value=True)
    mo.vstack([mo.md("## 1. One spectrum\nMove the sliders: the velocity moves every line (absorption and "
                     "emission) by λ₀ v / c, the SNR sets the noise, the line SNR the doublet's strength."),
               mo.hstack([velocity, snr, line_snr], justify="start", gap=2)])
    return line_snr, snr, velocity


@app.cell(hide_code=True)
def _(SPEC, line_snr, mo, simulate_spectrum, snr, velocity):
    spectrum = simulate_spectrum(velocity_kms=float(velocity.value), snr=float(snr.value),
                                 line_snr=float(line_snr.value), doublet=line_snr.value > 0, params=SPEC, seed=0)
    _at = spectrum.lines["[O III] 5008"]
    _bin = int(abs(spectrum.wavelength - _at).argmin())
    mo.md(f"<span id='spec-stats'>At v = {velocity.value:+d} km/s [O III] 5008 lands at **{_at:.2f} Å** = "
          f"5008.24 Å × (1 + v/c), bin {_bin}; the continuum's noise is 1/{snr.value} of its level per bin."
          "</span>")
    return (spectrum,)


@app.cell(hide_code=True)
def _(PS, spectrum):
    PS.spectrum_figure(spectrum)
    return


@app.cell(hide_code=True)
def _(mo):
    bins = mo.ui.slider(-40, 40, value=15, step=1, label="shift (bins)", show_value=True)
    mo.vstack([mo.md("## 2. What a reversal and a shift do to it\nThe data-space views of the experiment, applied "
                     "to the spectrum above; the dotted red lines mark where its doublet really is."), bins])
    return (bins,)


@app.cell(hide_code=True)
def _(
    OIII,
    SPEC,
    bins,
    fft_band_mask,
    mo,
    reversed_wavelength,
    scale_jitter,
    shift,
    shifted_velocity,
    spectrum,
    torch,
    velocity,
):
    _x = torch.from_numpy(spectrum.flux).float()[None, None]              # (1, 1, L)
    torch.manual_seed(0)
    spectrum_views = {"original": _x, "reversed": _x.flip(-1), f"shifted {bins.value:+d} bins": shift(_x, bins.value),
                      "FFT band mask": fft_band_mask(_x), "scaling + jitter": scale_jitter(_x)}
    _v2 = shifted_velocity(float(velocity.value), float(bins.value), SPEC)
    _r = reversed_wavelength([OIII[1] * (1 + velocity.value / 299_792.458)], SPEC)[0]
    _rev = (f"the strong line at {_r:.0f} Å, on the **blue** side of its partner: a 4960 : 5008 flux ratio of "
            "2.98 : 1, which no gas emits")
    _shift = f"<span id='shift-velocity'>moves at **{_v2:+.0f} km/s**</span>: a different velocity"
    mo.md(f"""
    | view | what the encoder is told is "the same galaxy" |
    |---|---|
    | original | moves at {velocity.value:+d} km/s; [O III] 5008 is the stronger line, on the red side |
    | reversed | {_rev} |
    | shifted {bins.value:+d} bins | {_shift} |
    | FFT band mask | same lines and velocity; a band of the Fourier spectrum along the axis removed |
    | scaling + jitter | a different brightness and noise level: the calibrated flux and the SNR change |
    """)
    return (spectrum_views,)


@app.cell(hide_code=True)
def _(PS, spectrum, spectrum_views):
    PS.views_figure(spectrum.wavelength, {k: v[0, 0] for k, v in spectrum_views.items()}, spectrum.lines)
    return


@app.cell(hide_code=True)
def _(BUDGET, DATA_DIR, QUICK, SPEC, load, mo):
    with mo.status.spinner(title="The spectra data set (simulated once, then cached)"):
        data = load("spectra", SPEC.n_bins, seed=0, sizes=BUDGET["sizes"], data_dir=DATA_DIR)
    _s = data.meta["splits"]["probe_test"]
    mo.md(f"""## 3. The data set
    <span id="data-summary">{len(data.pretrain)} / {len(data.probe_train)} / {len(data.probe_test)} spectra
    (pre-training / probe-train / probe-test), balanced; negatives matched to the positives in the 9 global
    statistics of the trivial baseline (largest standardised class gap on probe-test:
    {max(abs(g) for g in _s["match_gap"]):.2f}).</span>{" (Quick mode: a small sample.)" if QUICK else ""}
    """)
    return (data,)


@app.cell(hide_code=True)
def _(PS, SPEC, data, per_class):
    _pick = per_class(data.probe_test.y, 2)
    PS.views_figure(SPEC.wavelength(), {f"{data.classes[int(data.probe_test.y[i])]} #{i}": data.probe_test.x[i, 0]
                                        for i in _pick.tolist()},
                    title="Probe-test spectra: two without the doublet, two with it")
    return


@app.cell(hide_code=True)
def _(BUDGET, DEVICE, E, data, mo):
    # A briefly pre-trained IDS encoder for the weight-space views until the run button has trained one
    with mo.status.spinner(title="Warm-up: one epoch of IDS pre-training for the weight-space views"):
        warm_model = E.warm_encoder(data, "cnn1d512", sl=0.02, epochs=1, batch_size=BUDGET["batch_size"],
                                    device=DEVICE)
    return (warm_model,)


@app.cell(hide_code=True)
def _(mo):
    get_results, set_results = mo.state(None)
    sl = mo.ui.slider(0.0, 0.2, value=0.02, step=0.005, label="IDS s_l (std of the weight noise at fc1)",
                      show_value=True)
    mo.vstack([mo.md("## 4. Data-space and weight-space views, side by side\nLeft: two data-space views "
                     "(reversal + shift) of one spectrum, the positive pair standard SimCLR trains on. Right: IDS "
                     "leaves the spectrum as it is; its pair is two passes through perturbed weights, "
                     "f<sub>W+λ</sub>(x): each × is a spectrum's clean representation h (PCA of the 32-d h), the "
                     "dots its perturbed passes."), sl])
    return get_results, set_results, sl


@app.cell(hide_code=True)
def _(BUDGET, D, data, get_results, per_class, reverse_shift, sl, torch, warm_model):
    # Weight-space views, recomputed on every s_l move (a fraction of a second)
    _res = get_results()
    _ids = [k for k in (_res or {}).get("models", {}) if "ids" in k.split("+")]
    diag_model = _res["models"][_ids[0]] if _ids else warm_model
    diag_x = data.probe_test.x[:128].float()
    diag_y = data.probe_test.y[:128]
    diag_pick = per_class(diag_y, 3)
    clean, cloud = D.perturbed_cloud(diag_model, diag_x[diag_pick], float(sl.value), BUDGET["draws"], seed=0)
    cloud_numbers = D.cloud_stats(clean, cloud)
    sims = {v: D.pair_similarities(diag_model, diag_x, v, float(sl.value), seed=0)
            for v in ("reverse+shift", "fft", "ids")}
    torch.manual_seed(0)                                   # the data-space pair: two draws of reversal + shift
    pair = {"spectrum": diag_x[diag_pick[-1], 0], **{f"view {k}": reverse_shift(diag_x[diag_pick[-1:]])[0, 0]
                                                        for k in (1, 2)}}
    return clean, cloud, cloud_numbers, diag_pick, diag_y, pair, sims


@app.cell(hide_code=True)
def _(P, PS, SPEC, clean, cloud, cloud_numbers, data, diag_pick, diag_y, mo, pair, sl):
    _cs = cloud_numbers
    mo.vstack([
        mo.md(f"<span id='ids-stats'>**s_l = {float(sl.value):.3f}**: the perturbed h lie on average "
              f"**{_cs['spread']:.3f}** from the clean h ({100 * _cs['rel_spread']:.1f}% of |h|, "
              f"{_cs['spread_over_neighbour']:.2f}× the distance to the nearest other spectrum).</span>"),
        mo.hstack([PS.views_figure(SPEC.wavelength(), pair, title="data space: reversal + shift"),
                   P.cloud_scatter(clean, cloud, diag_y[diag_pick], data.classes).update_layout(
                       title="weight space: IDS (h under W + λ)", legend=dict(orientation="h", y=-0.25))],
                  widths=[1, 1]),
    ])
    return


@app.cell(hide_code=True)
def _(D, P, mo, sims, sl):
    _rows = "\n".join(f"| {P.condition_name(v)} | {s['pos_mean']:.3f} | {s['neg_mean']:.3f} | {s['gap']:+.3f} |"
                      for v, s in ((v, D.similarity_stats(s)) for v, s in sims.items()))
    mo.vstack([mo.md(f"""Cosine similarity in projection space z of positive pairs (two views of one spectrum) and
    negative pairs (different spectra), as NT-Xent scores them (s_l = {float(sl.value):.3f}):

    | views | positives | negatives | gap |
    |---|---|---|---|
    {_rows}
    """), P.similarity_histograms(sims, title="Positive vs negative pairs")])
    return


@app.cell(hide_code=True)
def _(BUDGET, mo):
    epochs = mo.ui.slider(1, 30, value=BUDGET["epochs"], step=1, label="epochs", show_value=True)
    seeds = mo.ui.slider(1, 3, value=1, step=1, label="seeds", show_value=True)
    run_button = mo.ui.run_button(label="Pre-train and compare", kind="success")
    mo.vstack([mo.md("## 5. Pre-train and compare\nReversal + shift, the FFT mask and IDS on the same CNN1D-512, "
                     "data and seeds, with the controls: no augmentation, the random-init floor, the trivial "
                     "baseline and the supervised reference. The full experiment (5 seeds, every view and "
                     "objective) is `scripts/spectra_experiment.py`, reported in docs/RESULTS.md."),
               mo.hstack([epochs, seeds, run_button], justify="start", gap=2)])
    return epochs, run_button, seeds


@app.cell(hide_code=True)
def _(
    AUTO,
    BUDGET,
    DEVICE,
    E,
    TrainConfig,
    data,
    epochs,
    mo,
    run_button,
    seeds,
    set_results,
    sl,
):
    # The button: one package call, idslab.experiments.compare. Results go into state, so moving a slider
    # afterwards neither retrains nor clears them.
    mo.stop(not (run_button.value or AUTO))
    _base = TrainConfig(dataset="spectra", encoder="cnn1d512", views="ids", sites={"fc1": float(sl.value)},
                        epochs=int(epochs.value), device=DEVICE, n_pretrain=len(data.pretrain),
                        batch_size=min(BUDGET["batch_size"], len(data.pretrain)), n_probe_train=len(data.probe_train),
                        n_probe_test=len(data.probe_test), knn_k=min(20, len(data.probe_train)))
    with mo.status.spinner(title="Pre-train and compare") as _spin:
        def _tick(done, total, rec):
            _spin.update(subtitle=f"run {done} of {total}" + (f": {rec.get('label')} done" if rec else ""))

        comparison = E.compare(_base, ["reverse+shift", "fft", "ids"], seeds=range(int(seeds.value)), data=data,
                               progress=_tick, supervised_epochs=10 if BUDGET["epochs"] < 5 else 30)
    trained = {"sl": float(sl.value), "comparison": comparison, "models": comparison.models}
    set_results(trained)
    return (trained,)


@app.cell(hide_code=True)
def _(get_results, trained):
    # The last results (from state); `trained` orders this cell after the run cell in scripts and Jupyter.
    results = trained if trained is not None else get_results()
    return (results,)


@app.cell(hide_code=True)
def _(E, P, mo, results):
    mo.stop(results is None, mo.callout(mo.md("Press **Pre-train and compare**."), kind="info"))
    _c = results["comparison"]
    _rows = _c.table()
    for _r in _rows:
        _r["label"] = P.condition_name(_r["label"])
    mo.md(f"""<span id="run-results">**Results** (spectra, CNN1D-512, IDS s_l = {results["sl"]:.3f},
    {len(_c.seeds)} seed(s)).</span> Probe-test accuracy (mean ± sd over seeds); *gap closed*: the way from the
    random-init floor to the supervised reference; *MLP − none*: the paired difference to no augmentation.

    {E.comparison_markdown(_rows)}
    """)
    return


@app.cell(hide_code=True)
def _(P, mo, results):
    mo.stop(results is None)
    _c = results["comparison"]
    P.accuracy_bars(P.by_label(_c.records, roles=("condition",)), references=P.reference_levels(_c.controls))
    return


@app.cell(hide_code=True)
def _(P, mo, results):
    mo.stop(results is None)
    mo.vstack([mo.md("**Physics probes**: the galaxy's velocity regressed from the frozen h (ridge R², positives), "
                     "and whether a linear classifier on h tells a real spectrum from the same spectrum reversed. "
                     "A shift-invariant encoder should lose the velocity; a reversal-invariant one cannot tell."),
               P.physics_bars(P.by_label(results["comparison"].records), direction="real vs reversed spectrum")])
    return


@app.cell(hide_code=True)
def _(P, QUICK, data, mo, results):
    mo.stop(results is None)
    _emb = results["comparison"].embeddings
    _labels = [k for k in _emb if k != "floor"]
    with mo.status.spinner(title="2-D embedding of the frozen representations"):
        _fig = P.umap_side_by_side({k: _emb[k][0] for k in _labels}, _emb[_labels[0]][1], data.classes, seed=0,
                                   method="pca" if QUICK else "umap")
    _fig
    return


if __name__ == "__main__":
    app.run()

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Spectra: weight noise on a second modality")


@app.cell(hide_code=True)
def _():
    # Set-up: imports, then one package call (idslab.notebook.setup: modes, device, folders, sizes; as 01 and 04).
    import marimo as mo
    import torch

    from idslab import diagnostics as D
    from idslab import experiments as E
    from idslab import live as L
    from idslab import report as R
    from idslab.datasets import Sizes, SpectraParams, load, per_class
    from idslab.datasets.spectra import OIII, reversed_wavelength, shifted_velocity, simulate_spectrum
    from idslab.notebook import FIRST_05, setup
    from idslab.plots import spectra as PS
    from idslab.plots import training as P
    from idslab.train import TrainConfig
    from idslab.views import fft_band_mask, reverse_shift, scale_jitter, shift

    NB = setup("05", mo)
    AUTO, BUDGET, DATA_DIR, DEVICE, QUICK = NB.auto, NB.budget, NB.data_dir, NB.device, NB.quick
    RESULTS_DIR, STORE, VIEW, SPEC = NB.results_dir, NB.store, NB.view, SpectraParams()
    return (
        AUTO,
        BUDGET,
        D,
        DATA_DIR,
        DEVICE,
        E,
        FIRST_05,
        L,
        OIII,
        P,
        PS,
        QUICK,
        R,
        RESULTS_DIR,
        SPEC,
        STORE,
        Sizes,
        TrainConfig,
        VIEW,
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
def _(BUDGET, DATA_DIR, QUICK, SPEC, Sizes, load, mo):
    with mo.status.spinner(title="The spectra data set (simulated once, then cached)"):
        data = load("spectra", SPEC.n_bins, seed=0, sizes=Sizes(*BUDGET["sizes"]), data_dir=DATA_DIR)
    _s = data.meta["splits"]["probe_test"]
    mo.md(f"""## 3. The data set
    <span id="data-summary">{len(data.pretrain)} / {len(data.probe_train)} / {len(data.probe_test)} spectra
    (pre-training / probe-train / probe-test), balanced; negatives matched to the positives in the 9 global
    statistics of the trivial baseline (largest standardised class gap on probe-test:
    {max(abs(g) for g in _s["match_gap"]):.2f}).</span>{" (Quick mode: a small sample.)" if QUICK else ""}
    """)
    return (data,)


@app.cell(hide_code=True)
def _(P, PS, SPEC, data, per_class):
    _pick = per_class(data.probe_test.y, 2)
    PS.views_figure(SPEC.wavelength(), {f"{data.classes[int(data.probe_test.y[i])]} #{i}": data.probe_test.x[i, 0]
                                        for i in _pick.tolist()},
                    title="Probe-test spectra: two without the doublet, two with it",
                    colours=[P.LABEL_COLOURS[int(data.probe_test.y[i])] for i in _pick.tolist()])
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
    # Results live in state, so moving a slider afterwards neither retrains nor clears them; the cells that show
    # them read the state (they never wait on the run cell, so a stopped run leaves nothing half-drawn below it).
    get_results, set_results = mo.state(None)
    get_store, set_store = mo.state(0)            # bumped after every run: the estimate re-reads the store
    get_confirmed, set_confirmed = mo.state(None)  # the long run the reader was warned about once
    return get_confirmed, get_results, get_store, set_confirmed, set_results, set_store


@app.cell(hide_code=True)
def _(mo):
    sl = mo.ui.slider(0.0, 0.2, value=0.02, step=0.005, label="IDS s_l (std of the weight noise at fc1)",
                      show_value=True)
    mo.vstack([mo.md("## 4. Data-space and weight-space views, side by side\nLeft: two data-space views "
                     "(reversal + shift) of one spectrum, the positive pair standard SimCLR trains on. Right: IDS "
                     "leaves the spectrum as it is; its pair is two passes through perturbed weights, "
                     "f<sub>W+λ</sub>(x): each × is a spectrum's clean representation h (PCA of the 32-d h), the "
                     "dots its perturbed passes."), sl])
    return (sl,)


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
                       title="weight space: IDS (h under W + λ)", legend=dict(orientation="h", y=-0.25))
                   .for_each_annotation(lambda a: a.update(text=a.text.split(" (")[0]))],  # short panel titles
                  widths=[2, 3]),
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
def _(BUDGET, FIRST_05, P, QUICK, mo):
    epochs = mo.ui.slider(1, 30, value=BUDGET["epochs"], step=1, label="epochs", show_value=True)
    # 3 paired seeds outside quick mode: with one, the first method's +4 points over the floor (docs/NOTEBOOKS.md)
    # sit inside the two runs' Wilson intervals and the page can only say "level"; three resolve it
    seeds = mo.ui.slider(1, 3, value=1 if QUICK else 3, step=1, label="seeds", show_value=True)
    run_button = mo.ui.run_button(label="Pre-train and compare", kind="success")
    mo.vstack([mo.md("## 5. Pre-train and compare\nFirst the best method measured at these settings, "
                     f"**{P.condition_name(FIRST_05['label'])}** (docs/NOTEBOOKS.md), then reversal + shift, the FFT "
                     "mask and IDS (at the s_l above), on the same CNN1D-512, data and seeds; each encoder is then "
                     "frozen and probed (MLP and k-NN on h), with the controls: the same training with two "
                     "identical views (no augmentation), the random-init floor, a logistic regression on global "
                     "statistics (trivial) and the encoder trained with labels (supervised). Stop it any time "
                     "(marimo's ■): finished runs are kept, and pressing again resumes. The full experiment "
                     "(5 seeds, every view and objective) is `scripts/spectra_experiment.py`, reported in "
                     "docs/RESULTS.md."),
               mo.hstack([epochs, seeds, run_button], justify="start", gap=2)])
    return epochs, run_button, seeds


@app.cell(hide_code=True)
def _(BUDGET, DEVICE, FIRST_05, TrainConfig, data, epochs, seeds, sl):
    # What the button will run: idslab.experiments.compare's arguments (the estimate reads the same ones). The
    # method shown first is one setting, idslab.notebook.FIRST_05.
    compare_args = dict(
        base=TrainConfig(dataset="spectra", encoder="cnn1d512", views="ids", sites={"fc1": float(sl.value)},
                         epochs=int(epochs.value), device=DEVICE, n_pretrain=len(data.pretrain),
                         batch_size=min(BUDGET["batch_size"], len(data.pretrain)),
                         n_probe_train=len(data.probe_train), n_probe_test=len(data.probe_test),
                         knn_k=min(20, len(data.probe_train))),
        conditions=[FIRST_05, "reverse+shift", "fft", "ids"], data=data, seeds=tuple(range(int(seeds.value))),
        supervised_epochs=BUDGET["supervised_epochs"])
    return (compare_args,)


@app.cell(hide_code=True)
def _(L, STORE, compare_args, get_store, mo):
    # The section's one hint line: what pressing costs on this device (a measured step), before anything trains.
    get_store()
    L.hint(L.estimate_compare(**compare_args, results_dir=STORE), "Pre-train and compare", mo)
    return


@app.cell(hide_code=True)
def _(
    AUTO,
    E,
    L,
    STORE,
    VIEW,
    compare_args,
    get_confirmed,
    mo,
    run_button,
    set_confirmed,
    set_results,
    set_store,
    sl,
):
    # The button: one package call, idslab.live.press(idslab.experiments.compare, ...): live progress and curves;
    # every finished run is stored as it finishes, so marimo's stop keeps it and the next press reuses it.
    _out = None
    if run_button.value or AUTO:
        _out = L.press(E.compare, title="Pre-train and compare", view=VIEW, confirmed=AUTO,
                       get_confirmed=get_confirmed, set_confirmed=set_confirmed, results_dir=STORE, **compare_args)
        if _out.value is not None:
            set_results({"sl": float(sl.value), "comparison": _out.value, "models": _out.value.models,
                         "total_s": _out.wall_s})
        set_store(lambda v: v + 1)
    mo.md(f"<span id='compare-status'>{_out.message}</span>") if _out is not None else None
    return


@app.cell(hide_code=True)
def _(R, data, get_results):
    # The results, laid out by the same package call as notebook 01's section 3 (idslab.report.comparison_view):
    # the sentences, the table and every figure below are computed from the comparison's records.
    _res = get_results()
    shown = R.comparison_view(_res["comparison"], data.classes, _res["total_s"]) if _res is not None else None
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
    # the physics probes and the lesson: which views keep the physics, which destroy velocity, what weight noise does
    mo.vstack([mo.md(f"<span id='lessons'>{shown.physics_text}</span>"), shown.physics]) \
        if shown is not None and shown.physics is not None else \
        mo.md(shown.physics_text) if shown is not None else None
    return


@app.cell(hide_code=True)
def _(mo, shown):
    # PCA first: UMAP costs ~15 s the first time, so the button's wait stays PCA's
    emb_method = mo.ui.dropdown(["PCA", "UMAP"], value="PCA",
                                label="2-D embedding of h (UMAP: about 15 s the first time)") \
        if shown is not None else None
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


if __name__ == "__main__":
    app.run()

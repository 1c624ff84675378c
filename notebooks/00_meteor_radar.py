import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Meteor radar tour")


@app.cell(hide_code=True)
def _():
    # Set-up: imports, mode, folders.
    import os

    import marimo as mo
    import torch

    from idslab.datasets import MeteorParams, Sizes, load, rotated_streak, simulate_echo, simulate_scenes
    from idslab.notebook import data_dir as _data_dir
    from idslab.plots import radar as R
    from idslab.plots import training as P
    from idslab.views import fft_band_mask, flip_rotate, rotate

    QUICK = os.environ.get("IDSLAB_QUICK", "0") not in ("", "0")
    # $IDSLAB_DATA wins (a bad one: a ValueError naming it and the fix); else the checkout's data/; else ./data
    DATA_DIR = _data_dir()
    RADAR = MeteorParams()
    return (
        DATA_DIR,
        P,
        QUICK,
        R,
        RADAR,
        Sizes,
        fft_band_mask,
        flip_rotate,
        load,
        mo,
        rotate,
        rotated_streak,
        simulate_echo,
        simulate_scenes,
        torch,
    )


@app.cell(hide_code=True)
def _(RADAR, mo):
    mo.md(rf"""
    # A tour of the simulated meteor radar data

    idslab simulates what the **Jicamarca Radio Observatory** (Peru, {RADAR.f0_hz / 1e6:.1f} MHz, vertical
    beam) records when a meteoroid enters the atmosphere: the plasma around it reflects the radar pulse, a
    **head echo**. Each image column is one pulse (every {RADAR.ipp_s * 1e3:.2f} ms), each row one range gate
    ({RADAR.gate_km * 1e3:.0f} m; the beam points up, so range is altitude). A 512 × 512 scene spans
    {512 * RADAR.ipp_s:.2f} s and {512 * RADAR.gate_km:.1f} km of altitude. Pixel values are **calibrated
    SNR in dB** after the matched filter: 0 dB is the receiver noise, and brightness means radar cross-section,
    i.e. the meteor's size.

    A head echo is a short streak that always **descends**: the meteoroid falls at 11 to 73 km/s and
    decelerates. The streak's **slope is the speed**. Clutter that is *not* a head echo: the equatorial
    electrojet (a horizontal band near 95–110 km), interference (bright columns) and long-lived non-specular
    trails (nearly constant altitude).
    """)
    return


@app.cell(hide_code=True)
def _(mo):
    scene_seed = mo.ui.number(start=0, stop=10_000, step=1, value=0, label="scene seed")
    mo.vstack([mo.md("## 1. A scene and its labels"), scene_seed])
    return (scene_seed,)


@app.cell(hide_code=True)
def _(R, RADAR, mo, scene_seed, simulate_scenes):
    # One full scene (about 0.1 s to simulate) with its per-pixel head-echo labels.
    _img, _mask, _echoes = simulate_scenes(1, RADAR, seed=int(scene_seed.value))
    _n = int((_echoes["scene"] == 0).sum())
    _v = ", ".join(f"{abs(v):.0f}" for v in _echoes["v0"])
    mo.vstack([
        mo.md(f"Scene {scene_seed.value}: {_n} head echo(es) "
              f"(entry speeds {_v or '–'} km/s). The label (right, red outline on the left) marks pixels where "
              "the noise-free echo exceeds the labelling threshold; clutter is never labelled."),
        R.scene_figure(_img[0], _mask[0], RADAR, title=f"Simulated JRO scene {scene_seed.value}"),
    ])
    return


@app.cell(hide_code=True)
def _(mo):
    velocity = mo.ui.slider(11, 73, value=40, step=1, label="entry speed |v0| (km/s)", show_value=True)
    decel = mo.ui.slider(0.5, 55, value=10, step=0.5, label="deceleration a0 (km/s²)", show_value=True)
    snr = mo.ui.slider(0, 20, value=10, step=1, label="peak SNR before the matched filter (dB)", show_value=True)
    duration = mo.ui.slider(12, 60, value=40, step=1, label="visible for (pulses)", show_value=True)
    mo.vstack([mo.md("## 2. One head echo\nMove the sliders: speed sets the slope, deceleration bends the track, "
                     "SNR sets the brightness, the light curve fades in and out over the visible pulses."),
               mo.hstack([velocity, decel], justify="start", gap=2), mo.hstack([snr, duration], justify="start", gap=2)])
    return decel, duration, snr, velocity


@app.cell(hide_code=True)
def _(RADAR, decel, duration, mo, simulate_echo, snr, velocity):
    echo = simulate_echo(v0_kms=float(velocity.value), a0_kms2=float(decel.value), snr_db=float(snr.value),
                         duration_pulses=int(duration.value), params=RADAR, seed=0)
    _slope = float(velocity.value) * RADAR.ipp_s / RADAR.gate_km
    mo.md(f"<span id='echo-stats'>At {velocity.value} km/s the streak falls **{_slope:.2f} range gates per "
          f"pulse** ({velocity.value} km/s × {RADAR.ipp_s * 1e3:.2f} ms / {RADAR.gate_km * 1e3:.0f} m); the "
          f"matched filter adds about 17 dB (51-baud code), so the peak pixel reads "
          f"{float(echo.image.max()):.1f} dB.</span>")
    return (echo,)


@app.cell(hide_code=True)
def _(R, echo):
    R.echo_figure(echo)
    return


@app.cell(hide_code=True)
def _(mo):
    angle = mo.ui.slider(0, 180, value=30, step=5, label="rotation (degrees, counter-clockwise)", show_value=True)
    mo.vstack([mo.md("## 3. What a flip or a rotation does to it\nThe data-space views of standard SimCLR, applied "
                     "to the echo above (time →, altitude ↑)."), angle])
    return (angle,)


@app.cell(hide_code=True)
def _(
    RADAR,
    angle,
    echo,
    fft_band_mask,
    mo,
    rotate,
    rotated_streak,
    torch,
    velocity,
):
    x_echo = torch.from_numpy(echo.image).float()[None, None]             # (1, 1, gates, pulses), dB
    # the same resampling as flip_rotate's random angles, at the slider's angle (idslab.views.rotate)
    echo_views = {"original": x_echo, "time flipped": x_echo.flip(-1), "altitude flipped": x_echo.flip(-2),
                  f"rotated {angle.value}°": rotate(x_echo, float(angle.value)), "FFT band mask": fft_band_mask(x_echo)}
    _r = rotated_streak(float(velocity.value), float(angle.value), RADAR)   # the speed the turned streak implies
    if _r["speed_kms"] == float("inf"):
        _rot_txt = "a vertical streak: infinite speed"
    else:
        _rot_txt = (f"{_r['speed_kms']:.0f} km/s, {'descending' if _r['descending'] else 'ascending (impossible)'}"
                    f"{' and running backwards in time' if _r['backwards_in_time'] else ''}")
    mo.md(f"""
    | view | what the encoder is told is "the same meteor" |
    |---|---|
    | original | descends at {velocity.value} km/s |
    | time flipped | **ascends** at {velocity.value} km/s: a meteor rising out of the atmosphere |
    | altitude flipped | **ascends** at {velocity.value} km/s, and the altitudes are mirrored |
    | rotated {angle.value}° | <span id='rot-speed'>{_rot_txt}</span> |
    | FFT band mask | same geometry and speed; part of each pulse's altitude spectrum removed |

    This is the paper's case against flips and rotations on radar, and the motivation for perturbing the encoder's
    weights instead (notebook `01_ids_vs_flip.py`).
    """)
    return (echo_views,)


@app.cell(hide_code=True)
def _(P, echo_views):
    P.view_grid(echo_views, zmin=0, zmax=40, by_column=True,
                title="One head echo under data-space views (same 0-40 dB colour scale)")
    return


@app.cell(hide_code=True)
def _(QUICK, mo):
    tile = mo.ui.dropdown([str(n) for n in (8, 16, 32, 64)], value="16", label="tile N")
    mo.vstack([mo.md("## 4. The data set: tiles\nScenes are cut into N × N tiles; a tile is labelled 1 "
                     "(`head_echo`) if a visible part of a head echo lies in it, 0 (`no_echo`) if none does "
                     "(clutter included), and ambiguous slivers are left out. Classes are balanced." +
                     (" (Quick mode: a small sample.)" if QUICK else "")), tile])
    return (tile,)


@app.cell(hide_code=True)
def _(DATA_DIR, QUICK, R, Sizes, load, mo, tile):
    _n = 32 if QUICK else 200
    with mo.status.spinner(title=f"Tiles of {tile.value}x{tile.value} (simulated once, then cached)"):
        tiles = load("meteor", int(tile.value), seed=0, sizes=Sizes(_n, _n, _n), data_dir=DATA_DIR).probe_test
    R.tiles_figure(tiles.x, tiles.y, n_per_class=6, classes=("no_echo", "head_echo"))
    return (tiles,)


@app.cell(hide_code=True)
def _(R, flip_rotate, mo, tiles, torch):
    torch.manual_seed(0)
    mo.vstack([
        mo.md("The same tiles after one random flip + rotation each (`idslab.views.flip_rotate`), the baseline's "
              "view:"),
        R.tiles_figure(flip_rotate(tiles.x.float()), tiles.y, n_per_class=6, classes=("no_echo", "head_echo")),
    ])
    return


if __name__ == "__main__":
    app.run()

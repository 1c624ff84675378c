"""The meteor benchmark is the same data on every machine that claims it (docs/DATA.md "Same data on every CPU"):
regenerated here and compared with a small stored fixture (fixtures/meteor5_small.npz, 0.1 MB).

- tile labels of one chunk of 16 scenes (16,384 tiles of 16x16) identical on any CPU; its physics targets too on
  x86-64 with AVX2 or AVX-512, and within 1e-6 (relative; a few float32 ulps) where torch or numpy use their baseline
  kernels (ARM, x86 without AVX2); scene pixels within 1e-3 dB (identical on AVX2 / AVX-512);
- a small balanced split (generate(16, Sizes(64, 32, 32))): on x86-64 with AVX2 or AVX-512 the same bytes (pixels,
  labels, targets); on other CPUs the labels per position only, since the matched negatives (and the positives
  kept with them) are chosen by nearest tile statistics, which a last-bit change of the noise can change;
- slow: the same comparison in subprocesses with torch's, numpy's and OpenBLAS's kernels forced to other CPUs'
  (AVX2 on an AVX-512 machine; torch's and numpy's baseline kernels): what docs/DATA.md says holds there too.

Re-record (only together with a SIMULATOR_VERSION or TARGETS_VERSION bump): python -m tests.datasets.test_meteor_cpus
"""
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from idslab.datasets import TARGETS_VERSION, Sizes
from idslab.datasets import meteor as M

FIXTURE = Path(__file__).parent / "fixtures" / "meteor5_small.npz"
ROOT = Path(__file__).resolve().parents[2]
PIXEL_TOL_DB = 1e-3          # chunk pixels (float32 dB): last-bit noise differences are ~1e-5 dB
PARAMS = M.MeteorParams()


def x86_vector_cpu() -> bool:
    """Where the same-bytes guarantee is claimed: x86-64 with torch's AVX2 or AVX-512 kernels."""
    return platform.machine().lower() in ("x86_64", "amd64") and \
        torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def compute() -> dict:
    """Everything the fixture holds, regenerated on this machine."""
    out = {}
    r = M._simulate_chunk(16, PARAMS, np.random.SeedSequence([7, 0]), PARAMS.rate(16))
    lab, targ = M._tile_table(r["rows"], r["echoes"], 16, 16, PARAMS)
    has = np.nonzero(targ["mainlobe_px"].ravel() > 0)[0]
    out["chunk_lab"] = lab
    out["chunk_has"] = has
    for k in M.TARGETS:
        out[f"chunk_t_{k}"] = targ[k].ravel()[has]
    out["chunk_db"] = M.to_db(r["power"][:2, :64, :64], PARAMS.db_floor)
    split = M.generate(16, Sizes(64, 32, 32), PARAMS, seed=5)
    for name in M.SPLITS:
        x, y, t = split[name]
        out[f"{name}_x"], out[f"{name}_y"] = x.numpy(), y.numpy()
        for k, v in t.items():
            out[f"{name}_t_{k}"] = v.numpy()
    return out


@pytest.fixture(scope="module")
def here():
    return compute()


@pytest.fixture(scope="module")
def stored():
    f = np.load(FIXTURE)
    assert str(f["simulator_version"]) == M.SIMULATOR_VERSION and int(f["targets_version"]) == TARGETS_VERSION, \
        "the fixture is of another simulator or targets version: re-record it (see the module docstring)"
    return f


def test_tile_labels_and_targets_of_a_chunk_are_identical(here, stored):
    assert np.array_equal(here["chunk_lab"], stored["chunk_lab"])
    assert np.array_equal(here["chunk_has"], stored["chunk_has"])
    for k in M.TARGETS:
        a, b = here[f"chunk_t_{k}"], stored[f"chunk_t_{k}"]
        if k == "peak_snr_db" and not x86_vector_cpu():
            np.testing.assert_allclose(a, b, rtol=1e-6)     # a few float32 ulps, where kernels differ
        else:
            assert np.array_equal(a, b, equal_nan=True), k


def test_chunk_pixels_within_tolerance(here, stored):
    d = np.abs(here["chunk_db"] - stored["chunk_db"])
    assert d.max() <= PIXEL_TOL_DB, d.max()
    if x86_vector_cpu():
        assert d.max() == 0


def test_split_is_the_same_bytes(here, stored):
    for name in M.SPLITS:
        assert np.array_equal(here[f"{name}_y"], stored[f"{name}_y"])          # the labels per position: any CPU
    if not x86_vector_cpu():
        pytest.skip(f"{platform.machine()} / torch {torch.backends.cpu.get_cpu_capability()}: matched tiles may "
                    "differ here (docs/DATA.md 'Same data on every CPU'); labels per position checked")
    for name in M.SPLITS:
        assert here[f"{name}_x"].tobytes() == stored[f"{name}_x"].tobytes(), name
        for k in M.TARGETS:
            assert np.array_equal(here[f"{name}_t_{k}"], stored[f"{name}_t_{k}"], equal_nan=True), (name, k)


_EMULATED = {   # environment -> what it stands for
    "avx2": dict(ATEN_CPU_CAPABILITY="avx2", NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR",
                 OPENBLAS_CORETYPE="Haswell"),
    "baseline": dict(ATEN_CPU_CAPABILITY="default", NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
                     OPENBLAS_CORETYPE="Prescott"),
}


def _numpy_targets() -> set:
    from numpy._core._multiarray_umath import __cpu_dispatch__
    return set(__cpu_dispatch__)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(_EMULATED))
def test_emulated_cpus_give_what_the_docs_say(kind, tmp_path):
    if torch.backends.cpu.get_cpu_capability() != "AVX512" or platform.machine().lower() != "x86_64":
        pytest.skip("emulates other CPUs from an x86-64 AVX-512 machine")
    env = dict(_EMULATED[kind])
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(f for f in env["NPY_DISABLE_CPU_FEATURES"].split()
                                               if f in _numpy_targets())
    code = ("import sys, numpy as np; from tests.datasets.test_meteor_cpus import compute\n"
            "np.savez(sys.argv[1], **compute())\n")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "here.npz")], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env={**os.environ, **env, "PYTHONPATH": str(ROOT),
                                                    "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr
    here, stored = np.load(tmp_path / "here.npz"), np.load(FIXTURE)
    assert np.array_equal(here["chunk_lab"], stored["chunk_lab"])
    for k in M.TARGETS:
        np.testing.assert_allclose(here[f"chunk_t_{k}"], stored[f"chunk_t_{k}"], rtol=0 if kind == "avx2" else 1e-6)
    assert np.abs(here["chunk_db"] - stored["chunk_db"]).max() <= (0 if kind == "avx2" else PIXEL_TOL_DB)
    for name in M.SPLITS:
        assert np.array_equal(here[f"{name}_y"], stored[f"{name}_y"])
        if kind == "avx2":
            assert here[f"{name}_x"].tobytes() == stored[f"{name}_x"].tobytes()


def record() -> None:
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, simulator_version=M.SIMULATOR_VERSION, targets_version=TARGETS_VERSION,
                        cpu=f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}", **compute())
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


if __name__ == "__main__":
    record()

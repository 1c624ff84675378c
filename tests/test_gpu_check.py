"""scripts/gpu_check.sh without a GPU: a clear message, exit status 2, nothing written (its GPU steps run on a GPU
machine only; their results live in docs/GPU_CHECK.md)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: run the script itself")
def test_gpu_check_without_cuda_says_so_and_fails(tmp_path):
    out = tmp_path / "GPU_CHECK.md"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable, "GPU_CHECK_OUT": str(out),
           "TMPDIR": str(tmp_path)}
    p = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "no CUDA GPU" in p.stderr and "make test" in p.stderr
    assert not out.exists() and not any(tmp_path.glob("gpu_check.*"))


def test_gpu_check_without_torch_names_the_fix(tmp_path):
    env = {**os.environ, "PYTHON": "/bin/false"}
    p = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "cannot import torch" in p.stderr


def test_gpu_check_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0

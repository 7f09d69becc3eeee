"""A weight-free run on the CPU never imports torch for its bookkeeping: the device check of
``cpu`` and the provenance (torch's version is read from its files, label included)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import sys
from vidbench.environment import check_device, torch_version
from vidbench.results import base_provenance
assert check_device("cpu") == "cpu"
prov = base_provenance("cpu", 1)
assert "torch" not in sys.modules, "torch imported"
print(prov["torch"])
"""


def test_cpu_check_and_provenance_do_not_import_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    recorded = out.stdout.strip()
    torch = pytest.importorskip("torch")
    # the same string torch itself reports (local label such as +cu130 included)
    assert recorded == torch.__version__


def test_other_devices_still_checked():
    pytest.importorskip("torch")
    from vidbench.environment import check_device
    from vidbench.errors import UserError

    with pytest.raises(UserError, match="not a torch device"):
        check_device("gpu0")
    with pytest.raises(UserError, match="only cpu, cuda and mps"):
        check_device("meta")

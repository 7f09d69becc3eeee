"""The installed stack works together: torchvision ops run (a torch/torchvision pair that
does not match fails here), open_clip builds a model, decord and PyAV import."""

from __future__ import annotations

import torch


def test_torchvision_op_runs():
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert torchvision.__version__


def test_open_clip_builds_a_model():
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    with torch.inference_mode():
        f = model.encode_image(torch.zeros(1, 3, 224, 224))
    assert f.shape == (1, 512) and torch.isfinite(f).all()


def test_video_libraries_import():
    import av
    import decord

    assert decord.__version__ and av.__version__


def test_every_subpackage_is_listed_for_installation():
    """pyproject lists sub-packages explicitly (the folders map onto one namespace); a new
    folder with an __init__.py that is not listed would vanish from a wheel install."""
    from pathlib import Path

    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    root = Path(__file__).resolve().parents[1]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = {v: k for k, v in cfg["package-dir"].items()}
    found = set()
    for top, name in dirs.items():
        for init in (root / top).rglob("__init__.py"):
            rel = init.parent.relative_to(root / top).parts
            found.add(".".join((name, *rel)))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"

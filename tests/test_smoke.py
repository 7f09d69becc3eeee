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

"""vidbench's GRiT backbone (ViTDet ViT + simple pyramid) against GRiT's own ``vit.py``.

VBench ships GRiT's ``grit/modeling/backbone/vit.py`` and ``utils.py``; ``vit.py`` imports
a few detectron2 pieces (the ``Backbone`` base class, a registry, layer helpers), fvcore and
CenterNet2's ``LastLevelP6P7_P5``, none of which install here. These tests register stubs
for those names (``Backbone`` = ``nn.Module``; a registry whose ``register()`` returns the
function unchanged; ``LastLevelP6P7_P5`` transcribed: p6 = 3x3/2 conv of p5, p7 = 3x3/2 conv
of relu(p6)), register GRiT's package ``grit`` as a bare namespace (its ``__init__`` imports
the whole detectron2 model), and import the official ``vit.py`` and ``utils.py`` unchanged.
The same seeded weights are loaded into both (strictly), and the pyramids compared.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.detectron2_stub import stub_module
from vidbench.metrics.backbones.grit_vit import CONFIGS, GritBackbone, build_grit_backbone

GRIT = "vbench.third_party.grit_src.grit"


class _LastLevelP6P7P5(nn.Module):  # CenterNet2's fpn_p5.LastLevelP6P7_P5, transcribed
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.num_levels, self.in_feature = 2, "p5"
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)

    def forward(self, c5):
        p6 = self.p6(c5)
        return [p6, self.p7(F.relu(p6))]



@pytest.fixture(scope="module")
def official_vit():
    spec = importlib.util.find_spec("vbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the official vbench package is not installed")
    pytest.importorskip("timm")
    root = Path(list(spec.submodule_search_locations)[0]) / "third_party" / "grit_src" / "grit"
    if not (root / "modeling" / "backbone" / "vit.py").is_file():
        pytest.skip("this vbench has no GRiT vit.py")

    class Registry:
        def register(self, *a):
            return (lambda f: f) if not a else a[0]

    stubs = {
        "fvcore": stub_module("fvcore"), "fvcore.nn": stub_module("fvcore.nn"),
        "fvcore.nn.weight_init": stub_module("fvcore.nn.weight_init"),
        "detectron2": stub_module("detectron2"),
        "detectron2.layers": stub_module("detectron2.layers", CNNBlockBase=nn.Module,
                                     Conv2d=nn.Conv2d, get_norm=None, ShapeSpec=dict),
        "detectron2.modeling": stub_module("detectron2.modeling"),
        "detectron2.modeling.backbone": stub_module("detectron2.modeling.backbone"),
        "detectron2.modeling.backbone.build": stub_module("detectron2.modeling.backbone.build",
                                                      BACKBONE_REGISTRY=Registry()),
        "detectron2.modeling.backbone.backbone": stub_module(
            "detectron2.modeling.backbone.backbone", Backbone=nn.Module),
        "centernet": stub_module("centernet"),
        "centernet.modeling": stub_module("centernet.modeling"),
        "centernet.modeling.backbone": stub_module("centernet.modeling.backbone"),
        "centernet.modeling.backbone.fpn_p5": stub_module("centernet.modeling.backbone.fpn_p5",
                                                      LastLevelP6P7_P5=_LastLevelP6P7P5),
        GRIT: stub_module(GRIT, __path__=[str(root)]),
    }
    saved = {k: sys.modules.get(k) for k in stubs}
    path = list(sys.path)
    sys.modules.update(stubs)
    try:
        yield importlib.import_module(f"{GRIT}.modeling.backbone.vit")
    finally:
        sys.path[:] = path
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        for k in [k for k in sys.modules if k.startswith(GRIT + ".")]:
            sys.modules.pop(k)


def _official_backbone(vit, arch: str):
    c = CONFIGS[arch]
    bottom_up = vit.ViT(img_size=c.img_size, patch_size=c.patch_size, embed_dim=c.embed_dim,
                        depth=c.depth, num_heads=c.num_heads, drop_path_rate=0.1,
                        window_size=c.window_size, mlp_ratio=4, qkv_bias=True,
                        norm_layer=lambda d: nn.LayerNorm(d, eps=1e-6),
                        window_block_indexes=[i for i in range(c.depth)
                                              if i not in c.global_blocks],
                        residual_block_indexes=[], use_act_checkpoint=False, use_rel_pos=True,
                        pretrain_img_size=c.pretrain_img_size, out_feature="last_feat")
    return vit.ViT_FPN(bottom_up=bottom_up,
                       top_block=_LastLevelP6P7P5(c.out_channels, c.out_channels),
                       out_channels=c.out_channels, strides=[8, 16, 32, 64, 128],
                       vit_out_dim=c.embed_dim).eval()


@pytest.mark.parametrize("hw", [(96, 128), (128, 128), (64, 160)])
def test_tiny_backbone_equals_grit(official_vit, hw):
    ours = build_grit_backbone("tiny", seed=3)
    theirs = _official_backbone(official_vit, "tiny")
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert list(a) == list(b) == ["p3", "p4", "p5", "p6", "p7"]
    for k in a:
        assert a[k].shape == b[k].shape
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-5), k
    assert a["p3"].shape[-2:] == (hw[0] // 8, hw[1] // 8)


def test_b_backbone_has_grits_parameter_names_and_shapes(official_vit):
    ours = GritBackbone(CONFIGS["B"]).state_dict()
    theirs = _official_backbone(official_vit, "B").state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == \
        {k: tuple(v.shape) for k, v in theirs.items()}
    assert "bottom_up.blocks.11.attn.rel_pos_h" in ours and "top_block.p7.weight" in ours
    assert tuple(ours["bottom_up.blocks.2.attn.rel_pos_h"].shape) == (127, 64)  # global
    assert tuple(ours["bottom_up.blocks.0.attn.rel_pos_h"].shape) == (27, 64)  # windowed


def test_seeded_random_backbone_is_deterministic():
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = build_grit_backbone("tiny", seed=5)(x)
        b = build_grit_backbone("tiny", seed=5)(x)
        c = build_grit_backbone("tiny", seed=6)(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.allclose(a["p4"], c["p4"])
    assert all(torch.isfinite(v).all() for v in a.values())

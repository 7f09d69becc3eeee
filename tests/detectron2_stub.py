"""A small stand-in for the parts of detectron2 (and fvcore) that GRiT's and CenterNet2's
inference code imports, so that VBench's copies of ``centernet.py``, ``centernet_head.py``,
``grit_roi_heads.py`` and ``grit_fast_rcnn.py`` import unchanged in the tests (detectron2 has
no wheel here).

Pure containers and registries are stubbed; the detectron2 code whose numbers matter is
transcribed from detectron2 (v0.6, the version GRiT pins): ``Boxes`` / ``Instances``
(structures), ``Box2BoxTransform.apply_deltas``, ``ROIPooler`` (level assignment + torchvision
``roi_align``, ``ROIAlignV2`` = ``aligned=True``), ``FastRCNNConvFCHead``, the base
``FastRCNNOutputLayers`` (layers, thresholds, ``predict_boxes``) and the part of
``CascadeROIHeads.__init__`` GRiT's inference reads. Written independently of vidbench's
implementation in ``metrics/backbones/grit_*.py``.
"""

from __future__ import annotations

import ast
import itertools
import math
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.ops import batched_nms, roi_align


class Registry:
    def register(self, *a):
        return (lambda f: f) if not a else a[0]


def configurable(f):
    return f


@dataclass
class ShapeSpec:
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    stride: int | None = None


def get_norm(norm, out_channels):
    assert norm == "GN"
    return nn.GroupNorm(32, out_channels)


def cat(tensors, dim=0):
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim)


def nonzero_tuple(x):
    return x.nonzero(as_tuple=True)


class Boxes:
    def __init__(self, tensor):
        tensor = torch.as_tensor(tensor, dtype=torch.float32)
        if tensor.numel() == 0:
            tensor = tensor.reshape((-1, 4)).to(dtype=torch.float32)
        self.tensor = tensor

    def clone(self):
        return Boxes(self.tensor.clone())

    def to(self, device):
        return Boxes(self.tensor.to(device=device))

    def area(self):
        b = self.tensor
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])

    def clip(self, box_size):
        assert torch.isfinite(self.tensor).all(), "Box tensor contains infinite or NaN!"
        h, w = box_size
        x1 = self.tensor[:, 0].clamp(min=0, max=w)
        y1 = self.tensor[:, 1].clamp(min=0, max=h)
        x2 = self.tensor[:, 2].clamp(min=0, max=w)
        y2 = self.tensor[:, 3].clamp(min=0, max=h)
        self.tensor = torch.stack((x1, y1, x2, y2), dim=-1)

    def nonempty(self, threshold=0.0):
        b = self.tensor
        return ((b[:, 2] - b[:, 0]) > threshold) & ((b[:, 3] - b[:, 1]) > threshold)

    def scale(self, scale_x, scale_y):
        self.tensor[:, 0::2] *= scale_x
        self.tensor[:, 1::2] *= scale_y

    def __getitem__(self, item):
        if isinstance(item, int):
            return Boxes(self.tensor[item].view(1, -1))
        return Boxes(self.tensor[item])

    def __len__(self):
        return self.tensor.shape[0]

    @classmethod
    def cat(cls, boxes_list):
        if len(boxes_list) == 0:
            return cls(torch.empty(0))
        return cls(torch.cat([b.tensor for b in boxes_list], dim=0))


class Instances:
    def __init__(self, image_size, **kwargs):
        self._image_size = image_size
        self._fields = {}
        for k, v in kwargs.items():
            self.set(k, v)

    @property
    def image_size(self):
        return self._image_size

    def __setattr__(self, name, val):
        if name.startswith("_"):
            super().__setattr__(name, val)
        else:
            self.set(name, val)

    def __getattr__(self, name):
        if name == "_fields" or name not in self._fields:
            raise AttributeError(f"Cannot find field '{name}' in the given Instances!")
        return self._fields[name]

    def set(self, name, value):
        n = len(value)
        if len(self._fields):
            assert len(self) == n, f"Adding a field of length {n} to a Instances of length " \
                                   f"{len(self)}"
        self._fields[name] = value

    def has(self, name):
        return name in self._fields

    def remove(self, name):
        del self._fields[name]

    def get(self, name):
        return self._fields[name]

    def get_fields(self):
        return self._fields

    def __getitem__(self, item):
        if type(item) is int:
            item = slice(item, None, len(self)) if item != -1 else slice(item, None)
        ret = Instances(self._image_size)
        for k, v in self._fields.items():
            ret.set(k, v[item])
        return ret

    def __len__(self):
        for v in self._fields.values():
            return v.__len__()
        raise NotImplementedError("Empty Instances does not support __len__!")

    @staticmethod
    def cat(instance_lists):
        if len(instance_lists) == 1:
            return instance_lists[0]
        ret = Instances(instance_lists[0].image_size)
        for k in instance_lists[0]._fields.keys():
            values = [i.get(k) for i in instance_lists]
            v0 = values[0]
            if isinstance(v0, torch.Tensor):
                values = torch.cat(values, dim=0)
            elif isinstance(v0, list):
                values = list(itertools.chain(*values))
            else:
                values = type(v0).cat(values)
            ret.set(k, values)
        return ret


_DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


class Box2BoxTransform:
    def __init__(self, weights, scale_clamp=_DEFAULT_SCALE_CLAMP):
        self.weights = weights
        self.scale_clamp = scale_clamp

    def apply_deltas(self, deltas, boxes):
        deltas = deltas.float()
        boxes = boxes.to(deltas.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = deltas[:, 2::4] / ww
        dh = deltas[:, 3::4] / wh
        dw = torch.clamp(dw, max=self.scale_clamp)
        dh = torch.clamp(dh, max=self.scale_clamp)
        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]
        x1 = pred_ctr_x - 0.5 * pred_w
        y1 = pred_ctr_y - 0.5 * pred_h
        x2 = pred_ctr_x + 0.5 * pred_w
        y2 = pred_ctr_y + 0.5 * pred_h
        pred_boxes = torch.stack((x1, y1, x2, y2), dim=-1)
        return pred_boxes.reshape(deltas.shape)


class ROIPooler(nn.Module):
    def __init__(self, output_size, scales, sampling_ratio, pooler_type="ROIAlignV2",
                 canonical_box_size=224, canonical_level=4):
        super().__init__()
        assert pooler_type == "ROIAlignV2"
        self.output_size = (output_size, output_size)
        self.scales = scales
        self.sampling_ratio = sampling_ratio
        self.min_level = int(-(math.log2(scales[0])))
        self.max_level = int(-(math.log2(scales[-1])))
        self.canonical_box_size = canonical_box_size
        self.canonical_level = canonical_level

    def forward(self, x, box_lists):
        pooler_fmt = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b.tensor], 1)
                                for i, b in enumerate(box_lists)], 0)
        sizes = torch.sqrt(torch.cat([b.area() for b in box_lists]))
        lvl = torch.floor(self.canonical_level
                          + torch.log2(sizes / self.canonical_box_size + 1e-8))
        lvl = torch.clamp(lvl, min=self.min_level, max=self.max_level).to(torch.int64) \
            - self.min_level
        out = torch.zeros((len(pooler_fmt), x[0].shape[1], *self.output_size),
                          dtype=x[0].dtype)
        for level, scale in enumerate(self.scales):
            inds = nonzero_tuple(lvl == level)[0]
            out.index_put_((inds,), roi_align(x[level], pooler_fmt[inds], self.output_size,
                                              scale, self.sampling_ratio, True))
        return out


class FastRCNNConvFCHead(nn.Sequential):
    def __init__(self, input_shape, fc_dims):
        super().__init__()
        dim = input_shape.channels * input_shape.height * input_shape.width
        for k, fc_dim in enumerate(fc_dims):
            if k == 0:
                self.add_module("flatten", nn.Flatten())
            self.add_module(f"fc{k + 1}", nn.Linear(dim, fc_dim))
            self.add_module(f"fc_relu{k + 1}", nn.ReLU())
            dim = fc_dim
        self._output_size = dim

    @property
    def output_shape(self):
        return ShapeSpec(channels=self._output_size)


class FastRCNNOutputLayers(nn.Module):
    def __init__(self, input_shape, *, box2box_transform, num_classes, test_score_thresh=0.0,
                 test_nms_thresh=0.5, test_topk_per_image=100, cls_agnostic_bbox_reg=False,
                 **_):
        super().__init__()
        input_size = input_shape.channels * (input_shape.width or 1) * \
            (input_shape.height or 1)
        self.num_classes = num_classes
        self.cls_score = nn.Linear(input_size, num_classes + 1)
        num_bbox_reg_classes = 1 if cls_agnostic_bbox_reg else num_classes
        self.bbox_pred = nn.Linear(input_size, num_bbox_reg_classes * 4)
        self.box2box_transform = box2box_transform
        self.test_score_thresh = test_score_thresh
        self.test_nms_thresh = test_nms_thresh
        self.test_topk_per_image = test_topk_per_image

    def predict_boxes(self, predictions, proposals):
        if not len(proposals):
            return []
        _, proposal_deltas = predictions
        num_prop_per_image = [len(p) for p in proposals]
        proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
        predict_boxes = self.box2box_transform.apply_deltas(proposal_deltas, proposal_boxes)
        return predict_boxes.split(num_prop_per_image)


class CascadeROIHeads(nn.Module):
    def __init__(self, *, box_in_features, box_pooler, box_heads, box_predictors,
                 num_classes=1, mask_on=False, **_):
        super().__init__()
        self.box_in_features = box_in_features
        self.box_pooler = box_pooler
        self.num_cascade_stages = len(box_heads)
        self.box_head = nn.ModuleList(box_heads)
        self.box_predictor = nn.ModuleList(box_predictors)
        self.num_classes = num_classes
        self.mask_on = mask_on

    def forward_with_given_boxes(self, features, instances):
        return instances  # masks only, and they are off


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, scale):
        return input

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError


def detector_postprocess(results, output_height, output_width):
    """detectron2's, for boxes (no masks, keypoints): rescale, clip, drop empty boxes."""
    scale_x = output_width / results.image_size[1]
    scale_y = output_height / results.image_size[0]
    results = Instances((output_height, output_width), **results.get_fields())
    boxes = results.pred_boxes
    boxes.scale(scale_x, scale_y)
    boxes.clip(results.image_size)
    return results[boxes.nonempty()]


def _placeholder(*a, **k):
    raise NotImplementedError("training-only detectron2 piece, not stubbed")


def stub_module(name: str, **attrs) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__path__ = []  # type: ignore[attr-defined]
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


def obj_description_class(mapper_py: Path) -> type:
    """GRiT's ``ObjDescription`` class, compiled from its source file (whose module imports
    detectron2's data pipeline) without running the rest of that file."""
    tree = ast.parse(mapper_py.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ObjDescription")
    ns: dict = {"torch": torch, "compress": itertools.compress}
    exec(compile(ast.Module([node], []), str(mapper_py), "exec"), ns)
    return ns["ObjDescription"]


def stub_modules(grit_src: Path, grit_pkg: str) -> dict[str, types.ModuleType]:
    """sys.modules entries that let CenterNet2's and GRiT's inference modules import."""
    structures = stub_module("detectron2.structures", Boxes=Boxes, Instances=Instances,
                         ImageList=object, RotatedBoxes=object, pairwise_iou=_placeholder,
                         pairwise_iou_rotated=_placeholder)
    layers = stub_module("detectron2.layers", ShapeSpec=ShapeSpec, cat=cat, get_norm=get_norm,
                     batched_nms=batched_nms, cross_entropy=_placeholder,
                     nonzero_tuple=nonzero_tuple, CNNBlockBase=nn.Module, Conv2d=nn.Conv2d)
    od = obj_description_class(grit_src / "grit" / "data" / "custom_dataset_mapper.py")
    mods = {
        "fvcore": stub_module("fvcore"),
        "fvcore.nn": stub_module("fvcore.nn", giou_loss=_placeholder, smooth_l1_loss=_placeholder),
        "fvcore.nn.weight_init": stub_module(
            "fvcore.nn.weight_init",
            c2_xavier_fill=lambda m: (nn.init.kaiming_uniform_(m.weight, a=1),
                                      nn.init.constant_(m.bias, 0))),
        "detectron2": stub_module("detectron2"),
        "detectron2.config": stub_module("detectron2.config", configurable=configurable),
        "detectron2.structures": structures,
        "detectron2.layers": layers,
        "detectron2.utils": stub_module("detectron2.utils"),
        "detectron2.utils.comm": stub_module("detectron2.utils.comm", get_world_size=lambda: 1),
        "detectron2.utils.events": stub_module("detectron2.utils.events",
                                           get_event_storage=_placeholder),
        "detectron2.modeling": stub_module("detectron2.modeling",
                                       detector_postprocess=detector_postprocess),
        "detectron2.modeling.proposal_generator": stub_module(
            "detectron2.modeling.proposal_generator"),
        "detectron2.modeling.proposal_generator.build": stub_module(
            "detectron2.modeling.proposal_generator.build",
            PROPOSAL_GENERATOR_REGISTRY=Registry()),
        "detectron2.modeling.box_regression": stub_module("detectron2.modeling.box_regression",
                                                      Box2BoxTransform=Box2BoxTransform),
        "detectron2.modeling.roi_heads": stub_module("detectron2.modeling.roi_heads"),
        "detectron2.modeling.roi_heads.roi_heads": stub_module(
            "detectron2.modeling.roi_heads.roi_heads", ROI_HEADS_REGISTRY=Registry(),
            StandardROIHeads=CascadeROIHeads),
        "detectron2.modeling.roi_heads.cascade_rcnn": stub_module(
            "detectron2.modeling.roi_heads.cascade_rcnn", CascadeROIHeads=CascadeROIHeads,
            _ScaleGradient=_ScaleGradient),
        "detectron2.modeling.roi_heads.fast_rcnn": stub_module(
            "detectron2.modeling.roi_heads.fast_rcnn",
            FastRCNNOutputLayers=FastRCNNOutputLayers,
            _log_classification_stats=_placeholder),
        "detectron2.modeling.poolers": stub_module("detectron2.modeling.poolers",
                                               ROIPooler=ROIPooler),
        "centernet": stub_module("centernet",
                                 __path__=[str(grit_src / "centernet2" / "centernet")]),
        grit_pkg: stub_module(grit_pkg, __path__=[str(grit_src / "grit")]),
        f"{grit_pkg}.data": stub_module(f"{grit_pkg}.data"),
        f"{grit_pkg}.data.custom_dataset_mapper": stub_module(
            f"{grit_pkg}.data.custom_dataset_mapper", ObjDescription=od),
    }
    return mods


def install(mods: dict[str, types.ModuleType]) -> dict[str, types.ModuleType | None]:
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    return saved


def uninstall(saved: dict[str, types.ModuleType | None], prefixes: tuple[str, ...]) -> None:
    for k, v in saved.items():
        if v is None:
            sys.modules.pop(k, None)
        else:
            sys.modules[k] = v
    for k in [k for k in sys.modules if k.startswith(prefixes)]:
        sys.modules.pop(k)

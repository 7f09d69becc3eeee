"""vidbench's GRiT detector (CenterNet proposals, cascade box heads, the assembled model)
against GRiT's and CenterNet2's own code, plus formula cases checkable by hand.

VBench ships ``centernet.py`` / ``centernet_head.py`` (CenterNet2) and ``grit_roi_heads.py`` /
``grit_fast_rcnn.py`` / ``text_decoder.py`` (GRiT). They import detectron2 and fvcore, which do
not install here: ``tests/detectron2_stub.py`` registers stand-ins (containers and registries
stubbed; ``Boxes``, ``Instances``, ``ROIPooler``, ``Box2BoxTransform``, ``FastRCNNConvFCHead``,
the base ``FastRCNNOutputLayers`` and ``detector_postprocess`` transcribed from detectron2) and
the official files import unchanged. The caption decoder on both sides is GRiT's own
``GRiTTextDecoder`` with its greedy ``AutoRegressiveBeamSearch`` over a small seeded stand-in
"textual" network (the real 6-layer decoder is another module's concern), so captions,
begin tokens, end tokens and log-probabilities go through the official code.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tests import detectron2_stub as d2
from vidbench.metrics.backbones import grit_centernet as gc
from vidbench.metrics.backbones import grit_roi as gr
from vidbench.metrics.backbones.grit import (
    BEGIN_TOKENS,
    CONFIGS,
    Grit,
    build_grit,
    checkpoint_filter,
    load_grit,
)

GRIT = "vbench.third_party.grit_src.grit"
VOCAB = 120
SPECIAL = {0, 100, 101, 102, 103}


def _grit_src() -> Path:
    spec = importlib.util.find_spec("vbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the official vbench package is not installed")
    root = Path(list(spec.submodule_search_locations)[0]) / "third_party" / "grit_src"
    if not (root / "grit" / "modeling" / "roi_heads" / "grit_roi_heads.py").is_file():
        pytest.skip("this vbench has no GRiT sources")
    return root


@pytest.fixture(scope="module")
def official():
    root = _grit_src()
    saved = d2.install(d2.stub_modules(root, GRIT))
    try:
        yield SimpleNamespace(
            centernet=importlib.import_module("centernet.modeling.dense_heads.centernet"),
            roi=importlib.import_module(f"{GRIT}.modeling.roi_heads.grit_roi_heads"),
            fast_rcnn=importlib.import_module(f"{GRIT}.modeling.roi_heads.grit_fast_rcnn"),
            text=importlib.import_module(f"{GRIT}.modeling.text.text_decoder"))
    finally:
        d2.uninstall(saved, (GRIT + ".", "centernet."))


class Textual(nn.Module):
    """Seeded stand-in for GRiT's textual head: logits from the mean object feature, the
    begin token and the last token (so captions depend on the box and on the task)."""

    padding_idx = 0

    def __init__(self, channels: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.proj = nn.Linear(channels, VOCAB)
        self.emb = nn.Embedding(VOCAB, VOCAB)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(VOCAB, channels, generator=g))
            self.proj.bias.zero_()
            self.emb.weight.copy_(torch.randn(VOCAB, VOCAB, generator=g) * 2)
            self.emb.weight[:, 102] += 1.5  # the end token: captions of a few words

    def forward(self, object_features, tokens):
        f = self.proj(object_features.mean(1))
        return f[:, None] + self.emb(tokens) + self.emb(tokens[:, :1])


class Tokenizer:
    cls_token_id, sep_token_id = 101, 102

    @classmethod
    def from_pretrained(cls, *a, **k):
        return cls()

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"w{i}" for i in ids if not (skip_special_tokens and i in SPECIAL))


class OfficialDecoder(nn.Module):
    """vidbench's decoder interface over GRiT's own ``GRiTTextDecoder`` (greedy search)."""

    def __init__(self, text, textual: nn.Module) -> None:
        super().__init__()
        search = text.AutoRegressiveBeamSearch(end_token_id=102, max_steps=40, beam_size=1,
                                               objectdet=False, per_node_beam_size=1)
        self.dec = text.GRiTTextDecoder(textual, beamsearch_decode=search, loss_type="smooth",
                                        tokenizer=Tokenizer())

    def forward(self, feats, task):
        self.dec.begin_token_id = BEGIN_TOKENS[task]
        out = self.dec.infer(feats)
        return out["predictions"], out["logprobs"]

    def decode(self, ids):
        return [Tokenizer().decode(p.tolist()[1:]) for p in ids]


def _official_roi_heads(o, ch: int, fc: int, task: str, textual: nn.Module):
    scales = (1 / 8, 1 / 16, 1 / 32)
    heads = [d2.FastRCNNConvFCHead(d2.ShapeSpec(channels=ch, height=7, width=7), [fc, fc])
             for _ in range(3)]
    preds = [o.fast_rcnn.GRiTFastRCNNOutputLayers(
        d2.ShapeSpec(channels=fc), box2box_transform=d2.Box2BoxTransform(weights=w),
        num_classes=1, test_score_thresh=0.5, test_nms_thresh=0.5, test_topk_per_image=256,
        cls_agnostic_bbox_reg=True) for w in gr.CASCADE_WEIGHTS]
    o.roi.BertTokenizer = Tokenizer
    return o.roi.GRiTROIHeadsAndTextDecoder(
        text_decoder_transformer=textual, train_task=["ObjectDet", "DenseCap"],
        test_task=task, mult_proposal_score=True,
        object_feat_pooler=d2.ROIPooler(14, scales, 0), soft_nms_enabled=False, beam_size=1,
        box_in_features=["p3", "p4", "p5"], box_pooler=d2.ROIPooler(7, scales, 0),
        box_heads=heads, box_predictors=preds).eval()


def _official_centernet(o, ch: int):
    return o.centernet.CenterNet(
        in_channels=ch, num_classes=1, score_thresh=1e-4, with_agn_hm=True,
        only_proposal=True, pre_nms_topk_test=1000, post_nms_topk_test=256,
        nms_thresh_test=0.9, pos_weight=0.5, neg_weight=0.5, ignore_high_fp=0.85,
        reg_weight=1.0).eval()


def _frame(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w])


def _official_run(o, model: Grit, frame: np.ndarray, task: str, textual: nn.Module):
    """GRiT's ``GRiT.inference`` on one frame: our backbone's pyramid (checked against
    GRiT's in test_grit_vit), then the official proposal generator, ROI heads (task pass and
    ObjectDet pass) and detectron2's postprocess, with our weights."""
    ch = model.proposal_generator.centernet_head.agn_hm.in_channels
    fc = model.roi_heads.box_head[0].fc1.out_features
    cn = _official_centernet(o, ch)
    cn.centernet_head.load_state_dict(model.proposal_generator.centernet_head.state_dict())
    roi = _official_roi_heads(o, ch, fc, task, textual)
    mine = {k: v for k, v in model.roi_heads.state_dict().items()
            if not k.startswith("text_decoder.")}
    missing, unexpected = roi.load_state_dict(mine, strict=False)
    assert not unexpected and all(k.startswith("text_decoder") for k in missing)
    h, w = frame.shape[:2]
    with torch.no_grad():
        feats = model.backbone(model.preprocess(frame))
        images = SimpleNamespace(image_sizes=[(h, w)])
        proposals, _ = cn(images, feats, None)
        results, _ = roi(feats, proposals)
        det, _ = roi.forward_object(feats, proposals)
        results[0].set("det_obj", det[0].get("pred_object_descriptions"))
        out = d2.detector_postprocess(results[0], h, w)
    return out, proposals[0]


@pytest.mark.parametrize("task,hw,seed", [("ObjectDet", (72, 100), 0),
                                          ("DenseCap", (96, 64), 1),
                                          ("DenseCap", (50, 130), 2)])
def test_tiny_grit_equals_official(official, task, hw, seed):
    textual = Textual(CONFIGS["tiny"].vit.out_channels, seed)
    model = build_grit("tiny", OfficialDecoder(official.text, textual), seed=seed)
    frame = _frame(*hw, seed)
    theirs, proposals = _official_run(official, model, frame, task, textual)
    with torch.no_grad():
        feats = model.backbone(model.preprocess(frame))
        boxes, scores = model.proposal_generator(feats)
        ours = model(frame, task)
    # proposals: same boxes, same scores, same order
    assert torch.allclose(boxes, proposals.proposal_boxes.tensor, atol=1e-4)
    assert torch.allclose(scores, proposals.objectness_logits, atol=1e-6)
    # detections
    assert len(theirs) > 0, "the case should produce detections"
    assert len(ours.boxes) == len(theirs)
    assert torch.allclose(ours.boxes, theirs.pred_boxes.tensor, atol=1e-4)
    assert torch.allclose(ours.scores, theirs.scores, atol=1e-5)
    assert ours.captions == list(theirs.pred_object_descriptions.data)
    assert ours.object_names == list(theirs.det_obj.data)
    if task == "DenseCap":
        assert ours.captions != ours.object_names  # two begin tokens, two decodings
    assert len(set(ours.captions)) > 1


def test_key_names_and_shapes_at_b_size(official):
    """Our state dict under GRiT's prefixes equals the official modules' at GRiT-B size."""
    ch, fc = 256, 1024
    model = Grit(CONFIGS["B"], nn.Identity())
    theirs = {f"proposal_generator.{k}": tuple(v.shape)
              for k, v in _official_centernet(official, ch).state_dict().items()}
    theirs |= {f"roi_heads.{k}": tuple(v.shape) for k, v in _official_roi_heads(
        official, ch, fc, "DenseCap", Textual(ch)).state_dict().items()
        if not k.startswith(("text_decoder.", "text_decoder_det."))}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()
            if not k.startswith("backbone.")}
    assert ours == theirs
    assert "proposal_generator.centernet_head.bbox_tower.9.weight" in ours
    assert ours["roi_heads.box_head.2.fc1.weight"] == (1024, 256 * 49)
    assert ours["roi_heads.box_predictor.0.bbox_pred.2.weight"] == (4, 1024)


# ------------------------------------------------------------- hand-checkable formula cases


def test_level_assignment_by_box_size():
    boxes = torch.tensor([[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 447, 447],
                          [0, 0, 448, 448], [0, 0, 2000, 2000], [5, 5, 5.01, 5.01],
                          [0, 0, 223, 224]], dtype=torch.float32)
    # 224 -> level 4 (p4, index 1); 112 -> 3; 447 -> 4; 448 -> 5; huge -> 5; tiny -> 3
    assert gr.assign_levels(boxes).tolist() == [1, 0, 1, 2, 2, 0, 0]


def test_box_decoding_and_clipping():
    box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # w 20, h 40, centre (20, 40)
    zero = torch.zeros(1, 4)
    assert torch.allclose(gr.apply_deltas(zero, box, (10, 10, 5, 5)), box)
    d = torch.tensor([[10.0, -10.0, 5 * math.log(2), 0.0]])  # shift +1 w, -1 h; w x 2
    assert torch.allclose(gr.apply_deltas(d, box, (10, 10, 5, 5)),
                          torch.tensor([[20.0, -20.0, 60.0, 20.0]]))
    d2_ = torch.tensor([[0.0, 0.0, 1e6, 0.0]])  # clamped at log(1000 / 16)
    assert torch.allclose(gr.apply_deltas(d2_, box, (1, 1, 1, 1))[0, 2] -
                          gr.apply_deltas(d2_, box, (1, 1, 1, 1))[0, 0],
                          torch.tensor(20.0 * 1000 / 16))
    assert gr.clip(torch.tensor([[-5.0, -1, 120, 90]]), (80, 100)).tolist() == \
        [[0, 0, 100, 80]]


def test_centernet_locations_and_boxes():
    assert gc.level_grid(2, 3, 8).tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12],
                                               [20, 12]]
    obj = torch.tensor([[[0.25, 0.00001], [1.0, 0.5]]])  # (1, 2, 2); one below 1e-4
    dist = torch.zeros(4, 2, 2)
    dist[:, 0, 0] = torch.tensor([1.0, 0.0, 2.0, 0.0])  # l, t, r, b in strides
    boxes, scores = gc.decode_level(obj, dist, 16)
    assert scores.tolist() == pytest.approx([0.5, 1.0, math.sqrt(0.5)])
    assert boxes[0].tolist() == [8 - 16, 8, 8 + 32, pytest.approx(8.01)]  # y1 >= y0 + 0.01
    assert boxes[1].tolist() == [8, 24, pytest.approx(8.01), pytest.approx(24.01)]


def test_centernet_keeps_the_256_best_after_nms_with_ties():
    n = 300
    boxes = torch.stack([torch.arange(n) * 10.0, torch.zeros(n), torch.arange(n) * 10.0 + 5,
                         torch.full((n,), 5.0)], 1)  # disjoint boxes: NMS keeps all
    scores = torch.linspace(1.0, 0.1, n)
    scores[255:260] = scores[255]  # five-way tie at the 256th place
    keep = gc.nms_top_k(boxes, scores)
    assert len(keep) == 260 and keep[:3].tolist() == [0, 1, 2]
    dup = torch.cat([boxes[:1], boxes[:1] + 0.01])  # IoU > 0.9: one survives
    assert gc.nms_top_k(dup, torch.tensor([0.4, 0.6])).tolist() == [1]


def test_final_filter_threshold_and_nms():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 5, 5.0]])
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5], [0.51, 0.49]])
    kept, s = gr.filter_boxes(boxes, scores, (100, 100))
    # 0.5 is not > 0.5; box 1 overlaps box 0 with IoU 81/119 > 0.5; box 3 IoU 25/100
    assert s.tolist() == pytest.approx([0.9, 0.51])
    assert kept.tolist() == [[0, 0, 10, 10], [0, 0, 5, 5]]


def test_final_score_is_sqrt_of_box_score_times_caption_probability():
    class Fixed(nn.Module):
        def forward(self, feats, task):
            n = feats.shape[0]
            return torch.full((n, 3), BEGIN_TOKENS[task]), torch.full((n,), math.log(0.25))

        def decode(self, ids):
            return [f"t{int(i[0])}" for i in ids]

    model = build_grit("tiny", Fixed(), seed=0)
    frame = _frame(64, 96, 0)
    with torch.no_grad():
        feats = model.backbone(model.preprocess(frame))
        boxes, box_scores = model.roi_heads(feats, *model.proposal_generator(feats), (64, 96))
        out = model(frame, "DenseCap")
    assert len(out.boxes) == len(boxes) > 0
    assert torch.allclose(out.scores, (box_scores * 0.25) ** 0.5)
    assert out.captions == ["t104"] * len(boxes) and out.object_names == ["t101"] * len(boxes)
    assert bool((box_scores > 0.5).all())


def test_preprocess_normalises_and_pads_to_32():
    model = Grit(CONFIGS["tiny"], nn.Identity())
    frame = np.zeros((40, 70, 3), np.uint8)
    frame[..., 0] = 255
    x = model.preprocess(frame)
    assert x.shape == (1, 3, 64, 96)
    assert x[0, 0, 0, 0].item() == pytest.approx((255 - 123.675) / 58.395)
    assert x[0, 1, 0, 0].item() == pytest.approx(-116.28 / 57.12)
    assert float(x[0, :, 40:].abs().max()) == 0 and float(x[0, :, :, 70:].abs().max()) == 0


# ---------------------------------------------------------------------------- loading


def _save(sd: dict, path: Path) -> Path:
    torch.save({"model": sd, "iteration": 1}, path)
    return path


def test_strict_loading_of_the_official_layout(tmp_path):
    textual = Textual(CONFIGS["tiny"].vit.out_channels)
    src = build_grit("tiny", OfficialDecoder(_text_module(), textual), seed=1)
    sd = dict(src.state_dict())
    sd["roi_heads.mask_head.mask_fcn1.weight"] = torch.zeros(3)  # MASK_ON's head: dropped
    sd["roi_heads.text_decoder_det.dec.textual.proj.weight"] = torch.zeros(3)
    dst = build_grit("tiny", OfficialDecoder(_text_module(), Textual(64, seed=9)), seed=2)
    load_grit(dst, _save(sd, tmp_path / "ok.pth"))
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in dst.state_dict().items())
    from vidbench.errors import UserError

    bad = dict(sd)
    bad.pop("roi_heads.box_predictor.2.cls_score.bias")
    with pytest.raises(UserError, match="missing 1: roi_heads.box_predictor.2.cls_score.bias"):
        load_grit(dst, _save(bad, tmp_path / "missing.pth"))
    extra = dict(sd, **{"roi_heads.box_head.3.fc1.weight": torch.zeros(1)})
    with pytest.raises(UserError, match="unexpected 1"):
        load_grit(dst, _save(extra, tmp_path / "extra.pth"))
    assert "roi_heads.mask_head.x" not in checkpoint_filter({"roi_heads.mask_head.x": 0}, {})


def _text_module():
    root = _grit_src()
    spec = importlib.util.spec_from_file_location(
        "_grit_text_decoder", root / "grit" / "modeling" / "text" / "text_decoder.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_seeded_random_model_is_deterministic_and_well_formed():
    textual = Textual(64)
    frame = _frame(80, 120, 3)
    a = build_grit("tiny", OfficialDecoder(_text_module(), textual), seed=4)(frame, "ObjectDet")
    b = build_grit("tiny", OfficialDecoder(_text_module(), textual), seed=4)(frame, "ObjectDet")
    assert torch.equal(a.boxes, b.boxes) and a.captions == b.captions
    assert a.captions == a.object_names
    assert len(a.boxes) == len(a.scores) == len(a.captions) > 0
    x0, y0, x1, y1 = a.boxes.unbind(1)
    assert bool(((x0 >= 0) & (y0 >= 0) & (x1 <= 120) & (y1 <= 80)).all())
    assert bool(((x1 > x0) & (y1 > y0)).all())
    assert bool(((a.scores > 0) & (a.scores <= 1)).all())
    assert set(BEGIN_TOKENS) == {"ObjectDet", "DenseCap"}


# ------------------------------------------------------------- the four metrics, wired


class WordDecoder(nn.Module):
    """Stand-in caption decoder for the wiring tests: one of a few words per box, chosen
    from the box's features; ObjectDet and DenseCap get different word lists."""

    WORDS = {101: ("car", "bicycle"), 104: ("a red car", "a blue car")}

    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = nn.Linear(channels, 2)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(2, channels, generator=g))

    def forward(self, feats, task):
        begin = BEGIN_TOKENS[task]
        lp, i = torch.log_softmax(self.proj(feats.mean(1)), -1).max(-1)
        return torch.stack([torch.full_like(i, begin), i], 1), lp

    def decode(self, ids):
        return [self.WORDS[int(r[0])][int(r[1])] for r in ids]


@pytest.fixture
def fresh_grit_cache(monkeypatch):
    from vidbench.metrics.backbones import grit
    from vidbench.metrics.backbones.loading import BackboneCache

    monkeypatch.setattr(grit, "_CACHE", BackboneCache())
    return grit


def test_metrics_say_what_is_missing_without_the_caption_decoder(monkeypatch,
                                                                  fresh_grit_cache):
    import sys

    from vidbench.metrics.grit_dims import DetectorUnavailable
    from vidbench.registry import VideoContext, get_metric
    from vidbench.video import Clip

    monkeypatch.setitem(sys.modules, "vidbench.metrics.backbones.grit_text", None)
    clip = Clip(np.zeros((16, 32, 32, 3), np.uint8), np.arange(16) / 8.0, 8.0)
    m = get_metric("object_class", mode="vbench", random_weights=True)
    with pytest.raises(DetectorUnavailable, match="grit_text"):
        m.score(VideoContext(clip, prompt="a car",
                             meta={"auxiliary_info": {"object_class": {"object": "car"}}}))


def test_four_metrics_score_with_random_weights_end_to_end(monkeypatch, fresh_grit_cache,
                                                           tmp_path):
    """GRiT (test size) with seeded random weights and a stand-in caption decoder behind
    the four metrics on one shared context: numbers, not 'detector not available'; the ObjectDet
    pass is shared by three metrics; each frame's output is well formed."""
    import sys
    import time
    import types

    from vidbench.metrics import grit_dims
    from vidbench.metrics.grit_dims import FrameOutput, NetworkDetector
    from vidbench.registry import VideoContext, get_metric
    from vidbench.video import decode, write_video

    fake = types.ModuleType("vidbench.metrics.backbones.grit_text")
    fake.build_grit_text_decoder = lambda random_weights, seed: WordDecoder(64)  # type: ignore
    monkeypatch.setitem(sys.modules, "vidbench.metrics.backbones.grit_text", fake)
    monkeypatch.setattr(grit_dims, "ARCH", "tiny")
    frames = np.stack([_frame(64, 96, k) for k in range(16)])
    ctx = VideoContext(decode(write_video(tmp_path / "v.mp4", frames, 8.0)),
                       prompt="a red car", video="v.mp4",
                       meta={"auxiliary_info": {
                           "object_class": {"object": "car"},
                           "multiple_objects": {"object": "car and bicycle"},
                           "color": {"color": "red"},
                           "spatial_relationship": {"spatial_relationship": {
                               "object_a": "car", "object_b": "bicycle",
                               "relationship": "on the left of"}}}})
    calls: list[str] = []
    real_call = NetworkDetector.__call__

    def counting(self, frame, task):
        calls.append(task)
        out = real_call(self, frame, task)
        assert isinstance(out, FrameOutput)
        for d in out.detections:
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 64 and 0 < d.score <= 1
            assert d.caption in (WordDecoder.WORDS[101] if task == "ObjectDet"
                                 else WordDecoder.WORDS[104])
        assert set(out.object_names) <= set(WordDecoder.WORDS[101])
        assert len(out.object_names) == len(out.detections)
        return out

    monkeypatch.setattr(NetworkDetector, "__call__", counting)
    t = time.perf_counter()
    values = {}
    for name in ("object_class", "multiple_objects", "spatial_relationship", "color"):
        m = get_metric(name, mode="vbench", random_weights=True)
        assert m.comparable is False
        values[name] = m.score(ctx)
    assert time.perf_counter() - t < 30
    assert calls.count("ObjectDet") == 16 and calls.count("DenseCap") == 16
    for name, s in values.items():
        assert math.isnan(s.value) and name == "color" or 0 <= s.value <= 1, (name, s)
    assert values["object_class"].details["n_frames"] == 16


def test_b_size_random_detector_on_a_small_frame(monkeypatch, fresh_grit_cache):
    """GRiT-B as the metrics build it with --random-weights (stand-in caption decoder):
    well-formed FrameOutputs for both tasks on a small frame."""
    import sys
    import time
    import types

    from vidbench.metrics.backbones.grit import load_grit_model
    from vidbench.metrics.grit_dims import FrameOutput, NetworkDetector

    fake = types.ModuleType("vidbench.metrics.backbones.grit_text")
    fake.build_grit_text_decoder = lambda random_weights, seed: WordDecoder(256)  # type: ignore
    monkeypatch.setitem(sys.modules, "vidbench.metrics.backbones.grit_text", fake)
    t = time.perf_counter()
    det = NetworkDetector(load_grit_model(random_weights=True))
    frame = _frame(96, 128, 5)
    outs = {task: det(frame, task) for task in ("ObjectDet", "DenseCap")}
    assert time.perf_counter() - t < 30
    for out in outs.values():
        assert isinstance(out, FrameOutput) and len(out.detections) > 0
        assert len(out.object_names) == len(out.detections)
        for d in out.detections:
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 96 and 0 < d.score <= 1
    assert [d.box for d in outs["ObjectDet"].detections] == \
        [d.box for d in outs["DenseCap"].detections]  # the same boxes, two decodings
    assert outs["ObjectDet"].object_names == outs["DenseCap"].object_names
    assert {d.caption for d in outs["DenseCap"].detections} <= set(WordDecoder.WORDS[104])


def test_with_the_real_caption_decoder(tmp_path, fresh_grit_cache):
    """GRiT-B with vidbench's caption decoder (``grit_text``), random weights: one
    checkpoint layout for the whole network (a saved model loads strictly into another),
    and well-formed captions on a small frame."""
    grit_text = pytest.importorskip("vidbench.metrics.backbones.grit_text")
    from vidbench.metrics.backbones.grit import load_grit_model

    a = load_grit_model(random_weights=True, seed=0)
    sd = a.state_dict()
    assert "roi_heads.text_decoder.textual.output.weight" in sd
    assert {k for k in sd if k.startswith("roi_heads.text_decoder.")} == \
        {f"roi_heads.text_decoder.{k}" for k in a.roi_heads.text_decoder.state_dict()}
    b = build_grit("B", grit_text.build_grit_text_decoder(random_weights=True, seed=1), seed=1)
    path = tmp_path / "grit.pth"
    torch.save({"model": dict(sd)}, path)
    load_grit(b, path)
    assert all(torch.equal(v, sd[k]) for k, v in b.state_dict().items())
    out = a(_frame(64, 96, 2), "DenseCap")
    assert len(out.captions) == len(out.object_names) == len(out.boxes)
    assert all(isinstance(c, str) for c in out.captions + out.object_names)
    assert bool(((out.scores > 0) & (out.scores <= 1)).all())

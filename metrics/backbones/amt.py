"""AMT-S (Li et al., "AMT: All-Pairs Multi-Field Transforms for Efficient Frame Interpolation",
CVPR 2023), ported to a self-contained PyTorch module: the frame interpolator VBench's
motion_smoothness uses.

Module and parameter names follow the official ``networks/AMT-S.py`` and ``networks/blocks``
(``feat_encoder``, ``encoder.pyramid{1..4}``, ``decoder{1..4}.convblock``,
``update{2,3,4}``, ``comb_block``), so the official ``amt-s.pth`` (``{"state_dict": ...}``)
loads with ``strict=True``. The forward pass reproduces the official one operation by
operation (``eval=True`` path): mean-centred inputs, a bidirectional all-pairs correlation
pyramid on 1/8-resolution features, coarse-to-fine decoders with correlation-lookup updates
at 1/8, 1/4 and 1/2, three flow fields per side at full resolution, combined by
``multi_flow_combine``.

Weights: ``amt-s`` in the weights manifest (VBench's copy on Hugging Face). Loaded through
:func:`vidbench.weights.resolve`; ``random_weights=True`` gives a seeded random
initialisation of the same architecture for tests (not comparable).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidbench.errors import UserError

WEIGHTS_NAME = "amt-s"
_MODELS: dict[tuple[str, bool, int], Any] = {}


# ----------------------------------------------------------------------------- helpers


def resize(x: torch.Tensor, scale_factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp ``img(x + flow(x))``: bilinear, border padding, align_corners=True."""
    b, _, h, w = flow.shape
    xx = torch.linspace(-1.0, 1.0, w, device=flow.device).view(1, 1, 1, w).expand(b, -1, h, -1)
    yy = torch.linspace(-1.0, 1.0, h, device=flow.device).view(1, 1, h, 1).expand(b, -1, -1, w)
    grid = torch.cat([xx, yy], 1).to(img)
    flow_ = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    grid_ = (grid + flow_).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid_, mode="bilinear", padding_mode="border", align_corners=True)


def bilinear_sampler(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """grid_sample with pixel coordinates (align_corners=True, zero padding)."""
    h, w = img.shape[-2:]
    xgrid, ygrid = coords.split([1, 1], dim=-1)
    xgrid = 2 * xgrid / (w - 1) - 1
    ygrid = 2 * ygrid / (h - 1) - 1
    return F.grid_sample(img, torch.cat([xgrid, ygrid], dim=-1), align_corners=True)


def coords_grid(batch: int, ht: int, wd: int, device: torch.device) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(ht, device=device), torch.arange(wd, device=device),
                            indexing="ij")
    coords = torch.stack([xs, ys], dim=0).float()
    return coords[None].repeat(batch, 1, 1, 1)


def convrelu(cin: int, cout: int, k: int = 3, s: int = 1, p: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=True), nn.PReLU(cout))


# ----------------------------------------------------------------------------- feature encoder


class BottleneckBlock(nn.Module):
    """RAFT's bottleneck residual block with instance norm (no affine parameters)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes // 4, kernel_size=1, padding=0)
        self.conv2 = nn.Conv2d(planes // 4, planes // 4, kernel_size=3, padding=1,
                               stride=stride)
        self.conv3 = nn.Conv2d(planes // 4, planes, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.norm1 = nn.InstanceNorm2d(planes // 4)
        self.norm2 = nn.InstanceNorm2d(planes // 4)
        self.norm3 = nn.InstanceNorm2d(planes)
        if stride == 1:
            self.downsample = None
        else:
            self.norm4 = nn.InstanceNorm2d(planes)
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride), self.norm4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        y = self.relu(self.norm3(self.conv3(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


class SmallEncoder(nn.Module):
    """RAFT's small feature encoder (instance norm), 1/8 resolution, ``output_dim`` channels."""

    def __init__(self, output_dim: int = 84) -> None:
        super().__init__()
        self.norm1 = nn.InstanceNorm2d(32)
        self.conv1 = nn.Conv2d(3, 32, kernel_size=7, stride=2, padding=3)
        self.relu1 = nn.ReLU(inplace=True)
        self.in_planes = 32
        self.layer1 = self._make_layer(32, stride=1)
        self.layer2 = self._make_layer(64, stride=2)
        self.layer3 = self._make_layer(96, stride=2)
        self.conv2 = nn.Conv2d(96, output_dim, kernel_size=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, dim: int, stride: int = 1) -> nn.Sequential:
        layers = (BottleneckBlock(self.in_planes, dim, stride=stride),
                  BottleneckBlock(dim, dim, stride=1))
        self.in_planes = dim
        return nn.Sequential(*layers)

    def forward(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        sizes = [x.shape[0] for x in xs]
        x = torch.cat(xs, dim=0)
        x = self.relu1(self.norm1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.conv2(x)
        return torch.split(x, sizes, dim=0)


# ----------------------------------------------------------------------------- IFRNet-style parts


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, side_channels: int) -> None:
        super().__init__()
        self.side_channels = side_channels
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, 1, 1),
                                   nn.PReLU(in_channels))
        self.conv2 = nn.Sequential(nn.Conv2d(side_channels, side_channels, 3, 1, 1),
                                   nn.PReLU(side_channels))
        self.conv3 = nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, 1, 1),
                                   nn.PReLU(in_channels))
        self.conv4 = nn.Sequential(nn.Conv2d(side_channels, side_channels, 3, 1, 1),
                                   nn.PReLU(side_channels))
        self.conv5 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.prelu = nn.PReLU(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.side_channels
        out = self.conv1(x)
        out = self.conv3(torch.cat([out[:, :-s], self.conv2(out[:, -s:])], 1))
        out = self.conv5(torch.cat([out[:, :-s], self.conv4(out[:, -s:])], 1))
        return self.prelu(x + out)


class Encoder(nn.Module):
    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.channels = channels
        prev = 3
        for idx, ch in enumerate(channels, 1):
            self.register_module(f"pyramid{idx}",
                                 nn.Sequential(convrelu(prev, ch, 3, 2, 1), convrelu(ch, ch)))
            prev = ch

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        fs = []
        for idx in range(len(self.channels)):
            x = getattr(self, f"pyramid{idx + 1}")(x)
            fs.append(x)
        return fs


class InitDecoder(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, skip_ch: int) -> None:
        super().__init__()
        self.convblock = nn.Sequential(convrelu(in_ch * 2 + 1, in_ch * 2),
                                       ResBlock(in_ch * 2, skip_ch),
                                       nn.ConvTranspose2d(in_ch * 2, out_ch + 4, 4, 2, 1))

    def forward(self, f0, f1, embt):
        h, w = f0.shape[2:]
        out = self.convblock(torch.cat([f0, f1, embt.repeat(1, 1, h, w)], 1))
        flow0, flow1 = torch.chunk(out[:, :4], 2, 1)
        return flow0, flow1, out[:, 4:]


class IntermediateDecoder(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, skip_ch: int) -> None:
        super().__init__()
        self.convblock = nn.Sequential(convrelu(in_ch * 3 + 4, in_ch * 3),
                                       ResBlock(in_ch * 3, skip_ch),
                                       nn.ConvTranspose2d(in_ch * 3, out_ch + 4, 4, 2, 1))

    def forward(self, ft_, f0, f1, flow0_in, flow1_in):
        f_in = torch.cat([ft_, warp(f0, flow0_in), warp(f1, flow1_in), flow0_in, flow1_in], 1)
        out = self.convblock(f_in)
        flow0, flow1 = torch.chunk(out[:, :4], 2, 1)
        flow0 = flow0 + 2.0 * resize(flow0_in, scale_factor=2.0)
        flow1 = flow1 + 2.0 * resize(flow1_in, scale_factor=2.0)
        return flow0, flow1, out[:, 4:]


class MultiFlowDecoder(nn.Module):
    def __init__(self, in_ch: int, skip_ch: int, num_flows: int = 3) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = nn.Sequential(convrelu(in_ch * 3 + 4, in_ch * 3),
                                       ResBlock(in_ch * 3, skip_ch),
                                       nn.ConvTranspose2d(in_ch * 3, 8 * num_flows, 4, 2, 1))

    def forward(self, ft_, f0, f1, flow0, flow1):
        n = self.num_flows
        out = self.convblock(torch.cat([ft_, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        delta_flow0, delta_flow1, mask, img_res = torch.split(out, [2 * n, 2 * n, n, 3 * n], 1)
        mask = torch.sigmoid(mask)
        flow0 = delta_flow0 + 2.0 * resize(flow0, scale_factor=2.0).repeat(1, n, 1, 1)
        flow1 = delta_flow1 + 2.0 * resize(flow1, scale_factor=2.0).repeat(1, n, 1, 1)
        return flow0, flow1, mask, img_res


def multi_flow_combine(comb_block, img0, img1, flow0, flow1, mask, img_res, mean):
    b, c, h, w = flow0.shape
    n = c // 2
    flow0 = flow0.reshape(b, n, 2, h, w).reshape(-1, 2, h, w)
    flow1 = flow1.reshape(b, n, 2, h, w).reshape(-1, 2, h, w)
    mask = mask.reshape(b, n, 1, h, w).reshape(-1, 1, h, w)
    img_res = img_res.reshape(b, n, 3, h, w).reshape(-1, 3, h, w)
    img0 = torch.stack([img0] * n, 1).reshape(-1, 3, h, w)
    img1 = torch.stack([img1] * n, 1).reshape(-1, 3, h, w)
    mean = torch.stack([mean] * n, 1).reshape(-1, 1, 1, 1)
    img_warps = mask * warp(img0, flow0) + (1 - mask) * warp(img1, flow1) + mean + img_res
    img_warps = img_warps.reshape(b, n, 3, h, w)
    return img_warps.mean(1) + comb_block(img_warps.view(b, -1, h, w))


# ----------------------------------------------------------------------------- RAFT-style parts


class SmallUpdateBlock(nn.Module):
    def __init__(self, cdim: int, hidden_dim: int, flow_dim: int, corr_dim: int, fc_dim: int,
                 corr_levels: int = 4, radius: int = 3, scale_factor: int | None = None) -> None:
        super().__init__()
        cor_planes = corr_levels * (2 * radius + 1) ** 2
        self.scale_factor = scale_factor
        self.convc1 = nn.Conv2d(2 * cor_planes, corr_dim, 1, padding=0)
        self.convf1 = nn.Conv2d(4, flow_dim * 2, 7, padding=3)
        self.convf2 = nn.Conv2d(flow_dim * 2, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)
        self.gru = nn.Sequential(nn.Conv2d(fc_dim + 4 + cdim, hidden_dim, 3, padding=1),
                                 nn.LeakyReLU(negative_slope=0.1, inplace=True),
                                 nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1))
        self.feat_head = nn.Sequential(nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1),
                                       nn.LeakyReLU(negative_slope=0.1, inplace=True),
                                       nn.Conv2d(hidden_dim, cdim, 3, padding=1))
        self.flow_head = nn.Sequential(nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1),
                                       nn.LeakyReLU(negative_slope=0.1, inplace=True),
                                       nn.Conv2d(hidden_dim, 4, 3, padding=1))
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, net, flow, corr):
        if self.scale_factor is not None:
            net = resize(net, 1 / self.scale_factor)
        cor = self.lrelu(self.convc1(corr))
        flo = self.lrelu(self.convf2(self.lrelu(self.convf1(flow))))
        inp = self.lrelu(self.conv(torch.cat([cor, flo], dim=1)))
        out = self.gru(torch.cat([inp, flow, net], dim=1))
        delta_net = self.feat_head(out)
        delta_flow = self.flow_head(out)
        if self.scale_factor is not None:
            delta_net = resize(delta_net, scale_factor=self.scale_factor)
            delta_flow = self.scale_factor * resize(delta_flow, scale_factor=self.scale_factor)
        return delta_net, delta_flow


class BidirCorrBlock:
    """All-pairs correlation of two 1/8-resolution feature maps, pooled into ``num_levels``
    levels, looked up in both directions within ``radius``."""

    def __init__(self, fmap1, fmap2, num_levels: int = 4, radius: int = 4) -> None:
        self.num_levels = num_levels
        self.radius = radius
        b, dim, ht, wd = fmap1.shape
        corr = torch.matmul(fmap1.view(b, dim, ht * wd).transpose(1, 2),
                            fmap2.view(b, dim, ht * wd))
        corr = corr.view(b, ht, wd, 1, ht, wd) / torch.sqrt(torch.tensor(dim).float())
        corr_t = corr.clone().permute(0, 4, 5, 3, 1, 2)
        corr = corr.reshape(b * ht * wd, 1, ht, wd)
        corr_t = corr_t.reshape(b * ht * wd, 1, ht, wd)
        self.corr_pyramid = [corr]
        self.corr_pyramid_T = [corr_t]
        for _ in range(num_levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            corr_t = F.avg_pool2d(corr_t, 2, stride=2)
            self.corr_pyramid.append(corr)
            self.corr_pyramid_T.append(corr_t)

    def __call__(self, coords0, coords1):
        r = self.radius
        coords0 = coords0.permute(0, 2, 3, 1)
        coords1 = coords1.permute(0, 2, 3, 1)
        b, h1, w1, _ = coords0.shape
        dx = torch.linspace(-r, r, 2 * r + 1, device=coords0.device)
        dy = torch.linspace(-r, r, 2 * r + 1, device=coords0.device)
        # as in RAFT: meshgrid(dy, dx) stacked, so the window's first offset axis is dy
        delta = torch.stack(torch.meshgrid(dy, dx, indexing="ij"), dim=-1)
        delta_lvl = delta.view(1, 2 * r + 1, 2 * r + 1, 2)
        out, out_t = [], []
        for i in range(self.num_levels):
            c0 = coords0.reshape(b * h1 * w1, 1, 1, 2) / 2 ** i + delta_lvl
            c1 = coords1.reshape(b * h1 * w1, 1, 1, 2) / 2 ** i + delta_lvl
            out.append(bilinear_sampler(self.corr_pyramid[i], c0).view(b, h1, w1, -1))
            out_t.append(bilinear_sampler(self.corr_pyramid_T[i], c1).view(b, h1, w1, -1))
        o = torch.cat(out, dim=-1).permute(0, 3, 1, 2).contiguous().float()
        o_t = torch.cat(out_t, dim=-1).permute(0, 3, 1, 2).contiguous().float()
        return o, o_t


# ----------------------------------------------------------------------------- the model


class AMTS(nn.Module):
    """AMT-S: ``forward(img0, img1, embt)`` with images (B, 3, H, W) in [0, 1], H and W
    multiples of 16, ``embt`` (B, 1, 1, 1) the time of the wanted frame (0.5 = middle);
    returns the interpolated frame (B, 3, H, W) clamped to [0, 1]."""

    def __init__(self, corr_radius: int = 3, corr_lvls: int = 4, num_flows: int = 3,
                 channels: tuple[int, ...] = (20, 32, 44, 56), skip_channels: int = 20) -> None:
        super().__init__()
        self.radius = corr_radius
        self.corr_levels = corr_lvls
        self.num_flows = num_flows
        channels = list(channels)
        self.feat_encoder = SmallEncoder(output_dim=84)
        self.encoder = Encoder(channels)
        self.decoder4 = InitDecoder(channels[3], channels[2], skip_channels)
        self.decoder3 = IntermediateDecoder(channels[2], channels[1], skip_channels)
        self.decoder2 = IntermediateDecoder(channels[1], channels[0], skip_channels)
        self.decoder1 = MultiFlowDecoder(channels[0], skip_channels, num_flows)
        self.update4 = self._update_block(44)
        self.update3 = self._update_block(32, 2)
        self.update2 = self._update_block(20, 4)
        self.comb_block = nn.Sequential(nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1),
                                        nn.PReLU(6 * num_flows),
                                        nn.Conv2d(6 * num_flows, 3, 3, 1, 1))

    def _update_block(self, cdim: int, scale_factor: int | None = None) -> SmallUpdateBlock:
        return SmallUpdateBlock(cdim=cdim, hidden_dim=76, flow_dim=20, corr_dim=64, fc_dim=68,
                                scale_factor=scale_factor, corr_levels=self.corr_levels,
                                radius=self.radius)

    @staticmethod
    def _lookup(corr_fn, coord, flow0, flow1, embt, downsample: int = 1):
        t1_scale = 1.0 / embt
        t0_scale = 1.0 / (1.0 - embt)
        if downsample != 1:
            inv = 1 / downsample
            flow0 = inv * resize(flow0, scale_factor=inv)
            flow1 = inv * resize(flow1, scale_factor=inv)
        corr0, corr1 = corr_fn(coord + flow1 * t1_scale, coord + flow0 * t0_scale)
        return torch.cat([corr0, corr1], dim=1), torch.cat([flow0, flow1], dim=1)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, embt: torch.Tensor,
                scale_factor: float = 1.0) -> torch.Tensor:
        mean_ = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True
                                                                       ).mean(3, keepdim=True)
        img0 = img0 - mean_
        img1 = img1 - mean_
        img0_ = resize(img0, scale_factor) if scale_factor != 1.0 else img0
        img1_ = resize(img1, scale_factor) if scale_factor != 1.0 else img1
        b, _, h, w = img0_.shape
        coord = coords_grid(b, h // 8, w // 8, img0.device)
        fmap0, fmap1 = self.feat_encoder([img0_, img1_])
        corr_fn = BidirCorrBlock(fmap0, fmap1, radius=self.radius, num_levels=self.corr_levels)
        f0_1, f0_2, f0_3, f0_4 = self.encoder(img0_)
        f1_1, f1_2, f1_3, f1_4 = self.encoder(img1_)

        flow0_4, flow1_4, ft_3 = self.decoder4(f0_4, f1_4, embt)
        corr_4, flow_4 = self._lookup(corr_fn, coord, flow0_4, flow1_4, embt, 1)
        d_ft, d_flow = self.update4(ft_3, flow_4, corr_4)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        flow0_4, flow1_4, ft_3 = flow0_4 + d0, flow1_4 + d1, ft_3 + d_ft

        flow0_3, flow1_3, ft_2 = self.decoder3(ft_3, f0_3, f1_3, flow0_4, flow1_4)
        corr_3, flow_3 = self._lookup(corr_fn, coord, flow0_3, flow1_3, embt, 2)
        d_ft, d_flow = self.update3(ft_2, flow_3, corr_3)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        flow0_3, flow1_3, ft_2 = flow0_3 + d0, flow1_3 + d1, ft_2 + d_ft

        flow0_2, flow1_2, ft_1 = self.decoder2(ft_2, f0_2, f1_2, flow0_3, flow1_3)
        corr_2, flow_2 = self._lookup(corr_fn, coord, flow0_2, flow1_2, embt, 4)
        d_ft, d_flow = self.update2(ft_1, flow_2, corr_2)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        flow0_2, flow1_2, ft_1 = flow0_2 + d0, flow1_2 + d1, ft_1 + d_ft

        flow0_1, flow1_1, mask, img_res = self.decoder1(ft_1, f0_1, f1_1, flow0_2, flow1_2)
        if scale_factor != 1.0:
            flow0_1 = resize(flow0_1, scale_factor=(1.0 / scale_factor)) * (1.0 / scale_factor)
            flow1_1 = resize(flow1_1, scale_factor=(1.0 / scale_factor)) * (1.0 / scale_factor)
            mask = resize(mask, scale_factor=(1.0 / scale_factor))
            img_res = resize(img_res, scale_factor=(1.0 / scale_factor))
        imgt = multi_flow_combine(self.comb_block, img0, img1, flow0_1, flow1_1, mask, img_res,
                                  mean_)
        return torch.clamp(imgt, 0, 1)


def build_amt_s(*, random_weights: bool = False, device: str = "cpu", seed: int = 0) -> AMTS:
    """AMT-S in eval mode with the official weights (strict load) or a seeded random init.
    Cached per (device, random_weights, seed)."""
    key = (str(device), bool(random_weights), int(seed))
    if key in _MODELS:
        return _MODELS[key]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AMTS()
    if not random_weights:
        from vidbench import weights

        path = weights.resolve(WEIGHTS_NAME)
        sd = weights.load_state_dict(path)  # unwraps {"state_dict": ...}
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
        problem = weights.state_dict_mismatch(model.state_dict(), sd)
        if problem:
            raise UserError(f"{path}: does not match AMT-S: {problem}")
        model.load_state_dict(sd, strict=True)
    model = model.eval().to(device)
    _MODELS[key] = model
    return model


def pad16(h: int, w: int, divisor: int = 16) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding of AMT's ``InputPadder`` (divisor 16)."""
    pad_ht = (((h // divisor) + 1) * divisor - h) % divisor
    pad_wd = (((w // divisor) + 1) * divisor - w) % divisor
    return pad_wd // 2, pad_wd - pad_wd // 2, pad_ht // 2, pad_ht - pad_ht // 2

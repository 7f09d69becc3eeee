"""Training data for the reference DiT: an infinite, seeded stream of procedural physics clips
(:mod:`vidbench.scenarios`), each labelled with the prompt the physics suites use.

Sample ``i`` of the stream (a global index, the same on 1 or N processes) is a pure function
of ``(seed, i)``: scenario ``SCENARIOS[h % len]``, parameters ``sample_params(scenario, h)``
(in-distribution ranges), rendered at the render size and fps, then area-downsampled to the
model's size. Process ``r`` of ``N`` takes the indices ``r, r + N, ...`` of each global batch,
so data-parallel training sees exactly the batches of a single process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vidbench.models.dit.model import tokenize_words

#: Scenario seeds below this are never drawn for training (the suites use seeds 0, 1, ...).
HELD_OUT_SEEDS = 10_000


def _scenarios():
    """The physics scenarios package (imported on first use: it pulls in the renderer)."""
    from vidbench import scenarios as sc
    from vidbench.scenarios.params import SCENARIOS, sample_params
    from vidbench.scenarios.render import render

    return sc, SCENARIOS, sample_params, render


def scenario_prompt(params: dict, lang: str = "en") -> str:
    """The prompt the physics suites attach to ``params`` in ``lang`` (``scenarios.prompt_for``;
    Chinese is the suites' ``@zh`` twin wording)."""
    sc, *_ = _scenarios()
    return str(sc.prompt_for(params, lang))


def index_seed(seed: int, index: int) -> int:
    """A well-mixed 63-bit seed for sample ``index`` of stream ``seed``."""
    h = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1


def area_resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, h, w, 3) uint8 with cv2's INTER_AREA (a box mean when
    shrinking by an integer factor)."""
    import cv2

    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    interp = cv2.INTER_AREA if h <= frames.shape[1] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def to_model(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float32 in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return x.permute(3, 0, 1, 2).contiguous()


def from_model(x: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8 (rounded, clipped)."""
    y = ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return y.permute(1, 2, 3, 0).cpu().numpy()


@dataclass
class PhysicsStream:
    """The seeded clip stream. ``render_size`` is the size scenes are drawn at before the
    area downsample to ``(height, width)`` (the same path the adapter takes for the suite's
    conditioning frames)."""

    seed: int = 0
    num_frames: int = 16
    height: int = 16
    width: int = 16
    fps: float = 8.0
    render_size: int = 32
    scenarios: Sequence[str] | None = None
    ood: bool = False
    prompt_fn: Callable[[dict], str] | None = None
    #: share of clips whose prompt is Chinese (each clip's language is a pure function of
    #: ``(seed, index)``, drawn independently of its scene)
    zh_frac: float = 0.0

    def lang(self, index: int) -> str:
        """The prompt language of sample ``index``: "zh" with probability ``zh_frac``."""
        if self.zh_frac <= 0:
            return "en"
        u = index_seed(self.seed + 31_337, index) / 2.0 ** 63
        return "zh" if u < self.zh_frac else "en"

    def item(self, index: int) -> tuple[np.ndarray, str, dict]:
        _, all_scen, sample_params, render = _scenarios()
        names = tuple(self.scenarios or all_scen)
        h = index_seed(self.seed, index)
        scen = names[h % len(names)]
        params = sample_params(scen, HELD_OUT_SEEDS + h % (2 ** 31 - HELD_OUT_SEEDS),
                               ood=self.ood)
        clip = render(params, self.num_frames, self.render_size, self.fps)
        clip = area_resize(clip, (self.height, self.width))
        prompt = (self.prompt_fn(params) if self.prompt_fn
                  else scenario_prompt(params, self.lang(index)))
        return clip, prompt, params

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, list[str]]:
        clips, prompts = [], []
        for i in indices:
            clip, prompt, _ = self.item(int(i))
            clips.append(to_model(clip))
            prompts.append(prompt)
        return torch.stack(clips), prompts


def scenario_vocab(n_per_scenario: int = 200, prompt_fn: Callable[[dict], str] | None = None,
                   langs: Sequence[str] = ("en",)) -> tuple[str, ...]:
    """The token vocabulary of the scenario prompts (ID and OOD parameter draws) in each of
    ``langs`` (English words; Chinese characters)."""
    _, names, sample_params, _ = _scenarios()
    words: set[str] = set()
    for scen in names:
        for s in range(n_per_scenario):
            for ood in (False, True):
                params = sample_params(scen, s, ood=ood)
                if prompt_fn is not None:
                    words.update(tokenize_words(prompt_fn(params)))
                    continue
                for lang in langs:
                    words.update(tokenize_words(scenario_prompt(params, lang)))
    return tuple(sorted(words))


#: Suites whose prompts (and Chinese twins) a bilingual vocabulary must cover in full.
VOCAB_SUITES: tuple[str, ...] = ("physics-mini", "physics-lang", "physics-val")


def suite_prompts(langs: Sequence[str] = ("en", "zh"),
                  suites: Sequence[str] = VOCAB_SUITES) -> list[str]:
    """Every prompt of ``suites`` in each of ``langs`` (through the suites' language twins)."""
    from vidbench.bilingual import with_languages
    from vidbench.suites import get_suite

    out: list[str] = []
    for name in suites:
        suite = with_languages(get_suite(name), ",".join(langs))
        out += [it.prompt for it in suite.items]
    return out


def training_vocab(langs: Sequence[str] = ("en",), n_per_scenario: int = 200
                   ) -> tuple[str, ...]:
    """The vocabulary a new run starts with: English-only runs keep the scenario-prompt
    vocabulary of the shipped ``tiny``; a bilingual run adds the Chinese characters of the
    scenario prompts and every token of :data:`VOCAB_SUITES` in both languages, so no suite
    prompt has an unknown token."""
    words = set(scenario_vocab(n_per_scenario, langs=langs))
    if "zh" in langs:
        words.update(w for p in suite_prompts(langs) for w in tokenize_words(p))
    return tuple(sorted(words))

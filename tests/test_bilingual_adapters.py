"""Adapters pass the prompt's language through: the text as written, and ``lang`` where an
adapter can carry it (python callables, http templates)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vidbench.adapters import get_model
from vidbench.suites import get_suite

ZH = get_suite("synthetic-mini@zh").items[0]


def test_python_callable_gets_the_prompt_as_written_and_its_language(tmp_path: Path):
    mod = tmp_path / "gen_lang.py"
    mod.write_text(textwrap.dedent("""
        import numpy as np
        CALLS = []
        def with_lang(prompt, seed, num_frames, height, width, fps, lang):
            CALLS.append((prompt, lang))
            return np.zeros((num_frames, height, width, 3), np.uint8)
        def without(prompt, seed, num_frames, height, width, fps):
            CALLS.append((prompt, None))
            return np.zeros((num_frames, height, width, 3), np.uint8)
    """), encoding="utf-8")
    a = get_model(f"python:{mod}:with_lang")
    a.generate_one(ZH)
    a.generate_one(get_suite("synthetic-mini").items[0])
    b = get_model(f"python:{mod}:without")
    b.generate_one(ZH)  # a function without a lang parameter is called as before
    calls = a.fn.__globals__["CALLS"] + [c for c in b.fn.__globals__["CALLS"]
                                         if c not in a.fn.__globals__["CALLS"]]
    assert calls == [(ZH.prompt, "zh"), (get_suite("synthetic-mini").items[0].prompt, "en"),
                     (ZH.prompt, None)]
    assert "小球" in calls[0][0]


def test_http_template_carries_lang_and_the_utf8_prompt(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    cfg = json.loads((Path(__file__).resolve().parents[1] / "docs" / "http-examples" /
                      "openai-videos.json").read_text(encoding="utf-8"))
    assert "{lang}" in cfg["_lang"]  # the example configs say where the field goes
    cfg["submit"]["body"] = {**cfg["submit"]["body"], "language": "{lang}"}
    p = tmp_path / "api.json"
    p.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv(cfg["auth"]["env"], "tok")
    ad = get_model(f"http:{p}")
    env = ad.env_for(ZH)
    body, headers, fields = ad._request_body(env)
    assert fields["prompt"] == ZH.prompt and fields["language"] == "zh"
    raw = body if isinstance(body, bytes) else str(body).encode()
    assert ZH.prompt.encode("utf-8") in raw or json.dumps(ZH.prompt).encode() in raw
    assert ad.env_for(get_suite("synthetic-mini").items[0])["lang"] == "en"


def test_diffusers_pipeline_gets_the_chinese_prompt_unchanged(tmp_path: Path):
    pytest.importorskip("torch")
    from vidbench.generate import generate
    from vidbench.models.diffusers_adapter import DiffusersAdapter
    from vidbench.suites import Suite

    class Pipe:
        def __init__(self):
            self.prompts = []

        def __call__(self, prompt, num_frames=8, height=64, width=64,
                     num_inference_steps=2, generator=None, output_type="np"):
            self.prompts += prompt if isinstance(prompt, list) else [prompt]
            n = len(prompt) if isinstance(prompt, list) else 1
            return SimpleNamespace(frames=np.zeros((n, num_frames, height, width, 3),
                                                   np.float32))

    pipe = Pipe()
    items = get_suite("synthetic-mini@en,zh").items[6:10]
    rep = generate(DiffusersAdapter.from_pipeline(pipe, "fake", steps="2"),
                   Suite("s", "", items), tmp_path, progress=False)
    assert rep.n_ok == 4, rep.errors
    assert pipe.prompts == [it.prompt for it in items]
    assert any("小球" in p for p in pipe.prompts)

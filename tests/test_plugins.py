"""The one registry mechanism (vidbench.plugins): a throw-away plugin package installed as a
distribution (a dist-info with entry_points.txt on sys.path, no network) adds a metric, a
model and a suite that ``metrics list``, ``run --model`` and ``suites list`` see; a module
named in VIDBENCH_PLUGINS registers a model and a metric the same way; ``reference list``
is wired."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = textwrap.dedent('''
    """A third-party vidbench plugin: one metric, one adapter, one suite."""
    import numpy as np

    from vidbench.adapters import Adapter, Generated
    from vidbench.registry import PerVideoMetric, Score
    from vidbench.suites import Suite, SuiteItem
    from vidbench.video import ViewSpec


    class Brightness(PerVideoMetric):
        """Mean luma of the 8 fps, 16 px view, / 255: range [0, 1]."""

        name = "plug_brightness"

        def view_spec(self):
            return ViewSpec(fps=8.0, size=16)

        def score(self, ctx):
            return Score(float(ctx.view(self.view_spec()).gray().mean() / 255.0))


    class Flat(Adapter):
        """Flat grey clips whose level is the item's seed."""

        scheme = "plugflat"

        def generate_one(self, item):
            level = 40 * (item.seed + 1)
            frames = np.full((item.num_frames, item.height, item.width, 3), level, np.uint8)
            return Generated(frames=frames, fps=item.fps)


    def tiny_suite():
        items = [SuiteItem(item=f"flat-{i}", prompt="a flat grey frame", seed=i,
                           num_frames=8, height=16, width=16, fps=8.0) for i in range(2)]
        return Suite("plug-tiny", "two flat grey clips (plugin test)", items)
''')

ENTRY_POINTS = textwrap.dedent('''
    [vidbench.metrics]
    plug_brightness = vbplug:Brightness

    [vidbench.models]
    plugflat = vbplug:Flat

    [vidbench.suites]
    plug-tiny = vbplug:tiny_suite
''')

ENV_PLUGIN = textwrap.dedent('''
    """A module named in VIDBENCH_PLUGINS: registers in-process, no packaging."""
    import numpy as np

    from vidbench.adapters import Adapter, Generated, register_model
    from vidbench.registry import PerVideoMetric, Score, register_metric
    from vidbench.video import ViewSpec


    @register_model
    class Striped(Adapter):
        scheme = "envstriped"

        def generate_one(self, item):
            frames = np.zeros((item.num_frames, item.height, item.width, 3), np.uint8)
            frames[:, ::2] = 200
            return Generated(frames=frames, fps=item.fps)


    @register_metric
    class One(PerVideoMetric):
        """Always 1."""

        name = "env_one"

        def view_spec(self):
            return ViewSpec(fps=4.0, size=16)

        def score(self, ctx):
            return Score(1.0)
''')


def _vidbench(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, OMP_NUM_THREADS="1", VIDBENCH_HOME=str(tmp / "home"), **env)
    return subprocess.run([sys.executable, "-m", "vidbench", *args], capture_output=True,
                          text=True, env=environ, timeout=240, cwd=tmp)


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Path:
    """A plugin distribution 'vbplug' installed into a folder put on PYTHONPATH."""
    site = tmp_path / "site"
    (site / "vbplug-0.1.dist-info").mkdir(parents=True)
    (site / "vbplug.py").write_text(PLUGIN, encoding="utf-8")
    (site / "vbplug-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vbplug\nVersion: 0.1\n", encoding="utf-8")
    (site / "vbplug-0.1.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS,
                                                                      encoding="utf-8")
    return site


@pytest.mark.slow
def test_plugin_package_metric_model_suite(plugin_dist: Path, tmp_path: Path) -> None:
    pp = os.pathsep.join([str(plugin_dist), os.environ.get("PYTHONPATH", "")])
    listed = _vidbench(["metrics", "list"], tmp_path, PYTHONPATH=pp)
    assert listed.returncode == 0, listed.stderr
    names = [row.split()[0] for row in listed.stdout.splitlines()]
    # the built-ins keep their order and come first; the plugin's metric follows
    assert names[0] == "temporal_flicker" and names[-1] == "plug_brightness", names
    assert "Mean luma of the 8 fps" in listed.stdout.splitlines()[-1]

    suites = _vidbench(["suites", "list"], tmp_path, PYTHONPATH=pp)
    assert suites.returncode == 0, suites.stderr
    assert any(r.split()[:2] == ["plug-tiny", "2"] for r in suites.stdout.splitlines())

    out = tmp_path / "run"
    run = _vidbench(["run", "--model", "plugflat", "--suite", "plug-tiny", "--metrics",
                     "plug_brightness", "--out", str(out), "--quiet"], tmp_path, PYTHONPATH=pp)
    assert run.returncode == 0, run.stderr
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["model"] == "plugflat" and result["suite"] == "plug-tiny"
    m = result["metrics"]["plug_brightness"]
    # levels 40 and 80 -> mean luma (40 + 80) / 2 / 255, whatever the codec did to flat grey
    assert m["n"] == 2 and abs(m["value"] - 60 / 255) < 0.02, m

    # without the distribution on the path, none of the three is known
    gone = _vidbench(["run", "--model", "plugflat", "--suite", "plug-tiny", "--out",
                      str(tmp_path / "gone")], tmp_path)
    assert gone.returncode == 2 and "unknown" in gone.stderr


def test_env_plugins_register_models_and_metrics(tmp_path: Path) -> None:
    (tmp_path / "envplug.py").write_text(ENV_PLUGIN, encoding="utf-8")
    pp = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    out = tmp_path / "gen"
    gen = _vidbench(["generate", "--model", "envstriped", "--suite", "synthetic-mini", "--out",
                     str(out), "--quiet"], tmp_path, PYTHONPATH=pp, VIDBENCH_PLUGINS="envplug")
    assert gen.returncode == 0, gen.stderr
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["model"] for r in rows} == {"envstriped"}
    listed = _vidbench(["metrics", "list"], tmp_path, PYTHONPATH=pp, VIDBENCH_PLUGINS="envplug")
    assert listed.stdout.splitlines()[-1].split()[:2] == ["env_one", "per_video"]


def test_reference_list_and_show_are_wired(tmp_path: Path) -> None:
    empty = _vidbench(["reference", "list"], tmp_path)
    assert empty.returncode == 0 and "no references under" in empty.stdout
    show = _vidbench(["reference", "show", "nothing-here"], tmp_path)
    assert show.returncode == 2 and "not found" in show.stderr


def test_every_command_is_an_entry_point_with_help() -> None:
    from vidbench.plugins import COMMANDS, Command

    names = COMMANDS.names()
    assert names[:3] == ["run", "generate", "score"]
    assert {"reference", "leaderboard", "check", "train"} <= set(names)
    for n in names:
        cmd = COMMANDS.load(n)
        assert isinstance(cmd, Command) and cmd.help, n

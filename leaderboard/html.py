"""A self-contained static leaderboard page: one HTML file, no network at view time.

The table is sortable by clicking (or pressing Enter on) a column header: numeric columns
sort by the underlying value (not the displayed text), missing values always last; a second
click reverses the order. Plots are embedded as ``data:image/png;base64`` URIs; a
Content-Security-Policy meta tag forbids every other source, so the page cannot fetch
anything even if edited carelessly.
"""

from __future__ import annotations

import base64
import html
import math
from datetime import datetime, timezone
from pathlib import Path

from vidbench.fileio import atomic_write_text
from vidbench.leaderboard.escape import clean_text
from vidbench.leaderboard.table import GAP_NOTE, Leaderboard, arrow, fmt, language_tables

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;
background:#fff}
h1{font-size:1.4em;margin:0 0 4px} .meta{color:#666;font-size:.85em;margin-bottom:16px}
.wrap{overflow-x:auto;max-width:100%}
table.lb{border-collapse:collapse;font-size:.85em;white-space:nowrap}
table.lb th,table.lb td{border:1px solid #ddd;padding:4px 8px}
table.lb thead th{background:#f3f4f6}
table.lb th.grp{text-align:center;font-weight:600}
table.lb th.sortable{cursor:pointer;user-select:none}
table.lb th.sortable:hover{background:#e5e7eb}
table.lb th[aria-sort=ascending]::after{content:" \\25B2"}
table.lb th[aria-sort=descending]::after{content:" \\25BC"}
table.lb td.num{text-align:right;font-variant-numeric:tabular-nums}
table.lb td.best{font-weight:700;background:#ecfdf5}
table.lb tbody tr:nth-child(even){background:#fafafa}
.rk{color:#888;font-size:.8em;margin-left:3px}
.plots{display:flex;flex-wrap:wrap;gap:16px;margin-top:20px}
figure{margin:0;border:1px solid #eee;padding:8px;max-width:100%}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.8em;color:#555;margin-top:4px}
.notes li{font-size:.85em;color:#7c2d12}
"""

_JS = r"""
(function(){
  var table=document.getElementById('leaderboard');
  var tbody=table.tBodies[0];
  var heads=table.querySelectorAll('th.sortable');
  function key(td, numeric){
    var s=td.getAttribute('data-sort');
    if(numeric){ if(s===null||s===''){return null;} var x=parseFloat(s);
      return isNaN(x)?null:x; }
    return (s===null?td.textContent:s).toLowerCase();
  }
  function sortBy(th){
    var col=parseInt(th.getAttribute('data-col'),10);
    var numeric=th.getAttribute('data-type')==='num';
    var cur=th.getAttribute('aria-sort');
    var dir=cur==='ascending'?'descending':(cur==='descending'?'ascending':
      (th.getAttribute('data-first')||'ascending'));
    var rows=Array.prototype.slice.call(tbody.rows);
    rows.forEach(function(r,i){r._i=i;});
    rows.sort(function(a,b){
      var x=key(a.cells[col],numeric), y=key(b.cells[col],numeric);
      if(x===null&&y===null){return a._i-b._i;}
      if(x===null){return 1;} if(y===null){return -1;}
      var c=x<y?-1:(x>y?1:0); if(dir==='descending'){c=-c;}
      return c!==0?c:a._i-b._i;
    });
    rows.forEach(function(r){tbody.appendChild(r);});
    heads.forEach(function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',dir);
  }
  heads.forEach(function(th){
    th.addEventListener('click',function(){sortBy(th);});
    th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){
      e.preventDefault();sortBy(th);}});
  });
})();
"""


def _num_attr(x: float) -> str:
    return "" if x is None or not math.isfinite(float(x)) else repr(float(x))


def render_html(lb: Leaderboard, plots: dict[str, dict[str, str]] | None = None, *,
                title: str = "vidbench leaderboard") -> str:
    """The page as one string (see module docstring)."""
    def e(x: object) -> str:
        return html.escape(clean_text(x))

    cols = lb.columns
    # header row 1: groups; header row 2: sortable columns
    g1 = ['<th class="grp" colspan="3"></th>']
    for g in lb.groups:
        k = sum(1 for c in cols if c.group == g)
        label = g
        if g == "totals" and lb.totals_config:
            tc = lb.totals_config
            label = f"totals: {tc['name']} v{tc['version']} ({tc['hash'][:8]})"
        g1.append(f'<th class="grp" colspan="{k}">{e(label)}</th>')
    g2 = ['<th class="sortable" data-col="0" data-type="num" tabindex="0" '
          'aria-sort="ascending" title="leaderboard position">#</th>',
          '<th class="sortable" data-col="1" data-type="text" tabindex="0">model</th>',
          '<th class="sortable" data-col="2" data-type="num" tabindex="0" '
          'title="mean rank over comparable metric columns">mean rank</th>']
    for i, c in enumerate(cols):
        first = "descending" if c.higher_is_better else "ascending"
        tip = (f"{c.metric}; protocol {c.protocol or 'n/a'}; "
               f"{'higher' if c.higher_is_better else 'lower'} is better"
               + ("; MIXED protocols (forced)" if c.mixed else ""))
        g2.append(f'<th class="sortable" data-col="{i + 3}" data-type="num" '
                  f'data-first="{first}" tabindex="0" title="{e(tip)}">'
                  f'{e(c.key + arrow(c))}</th>')
    body = []
    for pos, m in enumerate(lb.models):
        tds = [f'<td class="num" data-sort="{pos + 1}">{pos + 1}</td>',
               f'<td data-sort="{e(m)}">{e(m)}</td>',
               f'<td class="num" data-sort="{_num_attr(lb.mean_rank[m])}">'
               f'{e(fmt(lb.mean_rank[m], 2))}</td>']
        for c in cols:
            v = lb.value.at[m, c.key]
            r = lb.rank.at[m, c.key]
            cls = "num best" if r == 1 else "num"
            rk = "" if r != r else f'<span class="rk">({int(r)})</span>'
            tds.append(f'<td class="{cls}" data-sort="{_num_attr(v)}">'
                       f'{e(lb.cell(m, c.key))}{rk}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    figs = []
    captions = {"radar": "Per-model profile over dimensions (outward = better)",
                "bars": "Per-metric values with 95% CI whiskers",
                "correlation": "Spearman correlation of metrics across models",
                "distributions": "Per-video score distributions"}
    for name, paths in (plots or {}).items():
        png = paths.get("png")
        if not png or not Path(png).exists():
            continue
        b64 = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        figs.append(f'<figure id="plot-{e(name)}"><img alt="{e(name)} plot" '
                    f'src="data:image/png;base64,{b64}"><figcaption>'
                    f'{e(captions.get(name, name))}</figcaption></figure>')
    languages = ""
    lt = language_tables(lb.results, lb.models)
    if lt is not None:
        def table(head: list[str], rows: list[list[str]], cls: str) -> str:
            th = "".join(f"<th>{e(h)}</th>" for h in head)
            trs = "".join("<tr>" + "".join(
                f'<td{"" if k == 0 else " class=num"}>{e(c)}</td>' for k, c in enumerate(r))
                + "</tr>" for r in rows)
            return (f'<div class="wrap"><table class="lb {cls}"><thead><tr>{th}</tr></thead>'
                    f"<tbody>{trs}</tbody></table></div>")

        why = "".join(f"<li>{e(w)}</li>" for w in lt.why)
        languages = ("<h2>Per language</h2>" + table(lt.lang_head, lt.lang_rows, "per-language")
                     + f"<h2>{e(lt.gap_title)}</h2>"
                     + table(lt.gap_head, lt.gap_rows, "language-gap")
                     + f'<p class="meta">{e(GAP_NOTE)}</p>'
                     + (f'<ul class="notes">{why}</ul>' if why else ""))
    notes = "".join(f"<li>{e(n)}</li>" for n in lb.notes)
    not_measured = "".join(f"<li>{e(n)}</li>" for n in lb.not_measured())
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sources = ", ".join(e(f"{r.label}: {r.suite}") for r in lb.results)
    tc_line = ""
    if lb.totals_config:
        tc = lb.totals_config
        tc_line = (f" · totals config <code>{e(tc['name'])}</code> v{tc['version']} sha256 "
                   f"<code>{e(tc['hash'][:16])}</code> († = dimensions missing)")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<div class="meta">{len(lb.models)} models · generated {created} · suites: {sources}{tc_line}<br>
values: mean ± half-width of the 95% bootstrap CI; (k) = rank in that column; [k/N] = a
value for k of N videos; – (n=0) = no value (why: under "Not measured"); click a header to
sort</div>
<div class="wrap"><table class="lb" id="leaderboard">
<thead><tr>{''.join(g1)}</tr><tr>{''.join(g2)}</tr></thead>
<tbody>{''.join(body)}</tbody></table></div>
{languages}
{'<h2>Not measured</h2><ul class="not-measured">' + not_measured + '</ul>'
 if not_measured else ''}
{'<h2>Notes</h2><ul class="notes">' + notes + '</ul>' if notes else ''}
<div class="plots">{''.join(figs)}</div>
<script>{_JS}</script>
</body></html>
"""


def write_html(lb: Leaderboard, path: str | Path, plots: dict[str, dict[str, str]] | None = None,
               *, title: str = "vidbench leaderboard") -> Path:
    """Write the page atomically; returns its path."""
    p = Path(path)
    atomic_write_text(p, render_html(lb, plots, title=title))
    return p

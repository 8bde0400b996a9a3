using System.Security.Cryptography;
using System.Text;

namespace HardenRunner.Reporting.Views;

/// <summary>
/// The stylesheet and script of the HTML report and the dashboard, inlined into every page, and the
/// Content-Security-Policy that allows exactly these two (by hash) and nothing else: no other script, no network
/// request, no external resource. Even if a recorded string slipped past escaping, the browser would not run it.
/// </summary>
public static class HtmlAssets
{
    public const string Style = """
        :root{--bg:#f6f7f9;--fg:#1d2330;--muted:#5b6474;--line:#dfe3ea;--card:#fff;--accent:#2456c8;--bad:#b3261e;--badbg:#fde7e5;--warn:#8a5a00;--warnbg:#fff3d6;--ok:#19703a;--okbg:#e3f5e9}
        *{box-sizing:border-box}
        body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
        header{background:#14213d;color:#fff;padding:14px 24px}
        header h1{margin:0;font-size:18px;font-weight:600}
        header .meta{color:#c9d3e8;font-size:13px;margin-top:4px}
        header a{color:#c9d3e8}
        .mode{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;margin-left:8px;vertical-align:2px}
        .mode-block{background:#e3f5e9;color:#19703a}.mode-audit{background:#fff3d6;color:#8a5a00}
        nav.tabs{display:flex;gap:2px;padding:0 24px;background:#fff;border-bottom:1px solid var(--line);overflow-x:auto}
        nav.tabs button{border:0;background:none;padding:10px 14px;font:inherit;color:var(--muted);cursor:pointer;border-bottom:3px solid transparent;white-space:nowrap}
        nav.tabs button[aria-selected=true]{color:var(--accent);border-bottom-color:var(--accent);font-weight:600}
        nav.tabs .n{display:inline-block;min-width:18px;padding:0 5px;margin-left:4px;border-radius:9px;background:var(--line);font-size:11px;color:var(--fg);text-align:center}
        nav.tabs .n.bad{background:var(--badbg);color:var(--bad)}
        main{padding:18px 24px;max-width:1400px}
        section.tab[hidden]{display:none}
        h2{font-size:16px;margin:18px 0 8px}
        .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
        .card .v{font-size:22px;font-weight:600}.card .k{color:var(--muted);font-size:12px}
        .card.bad .v{color:var(--bad)}.card.warn .v{color:var(--warn)}
        .tools{display:flex;align-items:center;gap:10px;margin:8px 0}
        .tools input{padding:6px 9px;border:1px solid var(--line);border-radius:6px;min-width:260px;font:inherit}
        .tools .count{color:var(--muted);font-size:12px}
        table.data{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:8px}
        table.data th,table.data td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        table.data th{background:#eef1f6;font-weight:600;cursor:pointer;user-select:none;white-space:nowrap;position:sticky;top:0}
        table.data th[aria-sort=ascending]::after{content:" \25B2";font-size:10px}
        table.data th[aria-sort=descending]::after{content:" \25BC";font-size:10px}
        table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
        #tbl-https td:first-child,#tbl-files td:first-child,#tbl-processes td:first-child,#tbl-runs td:first-child{white-space:nowrap}
        table.data tr[hidden]{display:none}
        td code,li code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
        .st{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;white-space:nowrap}
        .st-blocked,.sev-critical,.sev-high{background:var(--badbg);color:var(--bad)}
        .st-denied,.sev-medium{background:var(--warnbg);color:var(--warn)}
        .st-allowed,.sev-low{background:var(--okbg);color:var(--ok)}
        .muted{color:var(--muted)}
        .note{color:var(--muted);font-size:12px;margin:6px 0}
        details.step{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:6px 12px}
        details.step>summary{cursor:pointer;font-weight:600;padding:4px 0}
        ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:20px;border-left:1px dotted #b8c0cc}
        ul.tree{padding-left:4px;border-left:0}
        ul.tree li{margin:3px 0}
        .proc{font-weight:600}.pid{color:var(--muted);font-size:12px}
        ul.dests{padding-left:18px;border-left:0}
        ul.dests li::before{content:"\2192  ";color:var(--muted)}
        pre.yaml{background:#0f1728;color:#e6edf7;padding:12px 14px;border-radius:8px;overflow:auto;font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace}
        button.copy{border:1px solid var(--line);background:#fff;border-radius:6px;padding:4px 10px;cursor:pointer;font:inherit}
        .ev{font-size:12px;color:var(--muted)}
        """;

    public const string Script = """
        (function () {
          "use strict";
          var tabs = Array.prototype.slice.call(document.querySelectorAll("nav.tabs button[data-tab]"));
          function show(name) {
            var found = false;
            tabs.forEach(function (b) {
              var on = b.getAttribute("data-tab") === name;
              found = found || on;
              b.setAttribute("aria-selected", on ? "true" : "false");
              var s = document.getElementById("tab-" + b.getAttribute("data-tab"));
              if (s) { s.hidden = !on; }
            });
            return found;
          }
          tabs.forEach(function (b) {
            b.addEventListener("click", function () {
              var name = b.getAttribute("data-tab");
              show(name);
              if (history.replaceState) { history.replaceState(null, "", "#" + name); }
            });
          });
          if (!(location.hash && show(location.hash.slice(1))) && tabs.length) { show(tabs[0].getAttribute("data-tab")); }

          function cellValue(row, i) {
            var c = row.cells[i];
            if (!c) { return ""; }
            var v = c.getAttribute("data-sort");
            return v !== null ? v : c.textContent.trim().toLowerCase();
          }
          Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
            var heads = Array.prototype.slice.call(table.tHead ? table.tHead.rows[0].cells : []);
            heads.forEach(function (th, i) {
              th.setAttribute("tabindex", "0");
              function sort() {
                var asc = th.getAttribute("aria-sort") !== "ascending";
                heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
                th.setAttribute("aria-sort", asc ? "ascending" : "descending");
                var numeric = th.getAttribute("data-type") === "num";
                var body = table.tBodies[0];
                var rows = Array.prototype.slice.call(body.rows);
                rows.sort(function (a, b) {
                  var x = cellValue(a, i), y = cellValue(b, i), r;
                  if (numeric) { r = (parseFloat(x) || 0) - (parseFloat(y) || 0); }
                  else { r = x < y ? -1 : x > y ? 1 : 0; }
                  return asc ? r : -r;
                });
                rows.forEach(function (r) { body.appendChild(r); });
              }
              th.addEventListener("click", sort);
              th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
            });
          });

          Array.prototype.forEach.call(document.querySelectorAll("input.filter[data-for]"), function (input) {
            var table = document.getElementById(input.getAttribute("data-for"));
            var count = document.getElementById(input.getAttribute("data-for") + "-count");
            if (!table) { return; }
            function apply() {
              var terms = input.value.toLowerCase().split(/\s+/).filter(function (t) { return t.length > 0; });
              var rows = table.tBodies[0].rows, shown = 0;
              for (var i = 0; i < rows.length; i++) {
                var text = rows[i].textContent.toLowerCase();
                var ok = terms.every(function (t) { return text.indexOf(t) >= 0; });
                rows[i].hidden = !ok;
                if (ok) { shown++; }
              }
              if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
            }
            input.addEventListener("input", apply);
            apply();
          });

          Array.prototype.forEach.call(document.querySelectorAll("button.copy[data-copy]"), function (b) {
            b.addEventListener("click", function () {
              var src = document.getElementById(b.getAttribute("data-copy"));
              if (src && navigator.clipboard) {
                navigator.clipboard.writeText(src.textContent).then(function () { b.textContent = "Copied"; }, function () { b.textContent = "Copy failed"; });
              }
            });
          });
        })();
        """;

    /// <summary>The Content-Security-Policy of every page (in a meta element): only the inline style and script above, by hash.</summary>
    public static readonly string ContentSecurityPolicy =
        $"default-src 'none'; style-src '{Hash(Style)}'; script-src '{Hash(Script)}'; img-src data:; base-uri 'none'; form-action 'self'";

    /// <summary>The same as an HTTP header (the dashboard): a header can also forbid framing, which a meta element cannot.</summary>
    public static readonly string ContentSecurityPolicyHeader = ContentSecurityPolicy + "; frame-ancestors 'none'";

    private static string Hash(string text) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}

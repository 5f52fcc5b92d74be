/** The UI's one stylesheet, served as /app/assets/app.css (kept in code so the build carries it). */
export const STYLESHEET = `
:root { --ink: #1d2330; --muted: #5b6475; --line: #dde2ea; --bg: #f5f7fa; --card: #fff; --accent: #1f5fbf; --warn: #a15c00; --bad: #b00020; --ok: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; color: var(--ink); background: var(--bg); font-size: 14px; line-height: 1.45; }
html:lang(zh-CN) body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif; }
a { color: var(--accent); }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; background: #14213d; color: #fff; flex-wrap: wrap; }
header.top .brand { font-weight: 700; font-size: 1.05rem; color: #fff; text-decoration: none; }
header.top nav { display: flex; gap: 1rem; flex-wrap: wrap; }
header.top nav a { color: #d7e3ff; text-decoration: none; padding: .2rem 0; }
header.top nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #fff; }
header.top .who { margin-left: auto; color: #c9d3e6; font-size: .85rem; }
header.top form { display: inline; margin: 0; }
header.top button { background: transparent; color: #fff; border: 1px solid #5d6b8a; border-radius: 4px; padding: .2rem .6rem; cursor: pointer; font: inherit; font-size: .85rem; }
header.top button[aria-pressed="true"] { background: #fff; color: #14213d; }
main { padding: 1.25rem 1.5rem 3rem; max-width: 1280px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.25rem; margin-bottom: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 1rem; }
.kpis { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1rem; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1.2rem; min-width: 240px; }
.kpi .label { color: var(--muted); font-size: .8rem; }
.kpi .value { font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.kpi .sub { color: var(--muted); font-size: .8rem; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .8rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { font-weight: 700; border-top: 2px solid var(--ink); }
small, .muted { color: var(--muted); }
.note { color: var(--muted); font-size: .8rem; margin: .5rem 0 0; }
.toolbar { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin-bottom: 1rem; }
form.inline { display: flex; gap: .5rem; align-items: end; flex-wrap: wrap; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .8rem; color: var(--muted); }
input { font: inherit; padding: .35rem .5rem; border: 1px solid #b8c0cc; border-radius: 4px; color: var(--ink); }
input.key { width: min(40rem, 100%); font-family: ui-monospace, monospace; }
button.primary { font: inherit; background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: .45rem 1rem; cursor: pointer; }
.alert { padding: .6rem .9rem; border-radius: 4px; margin-bottom: 1rem; border: 1px solid; }
.alert.error { color: var(--bad); border-color: #f0b6c0; background: #fff3f5; }
.alert.info { color: #0b4a8b; border-color: #b6d0f0; background: #f1f7ff; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .75rem; border: 1px solid; }
.badge.issued { color: var(--ok); border-color: #9fd3ad; }
.badge.void { color: var(--bad); border-color: #f0b6c0; }
.badge.adj { color: var(--warn); border-color: #e6c28f; }
.badge.state-active, .badge.rn-verified, .badge.einv-issued, .badge.order-paid { color: var(--ok); border-color: #9fd3ad; }
.badge.state-suspended, .badge.rn-pending, .badge.einv-pending, .badge.order-refunded { color: var(--warn); border-color: #e6c28f; }
.badge.state-retired, .badge.rn-rejected, .badge.einv-rejected { color: var(--bad); border-color: #f0b6c0; }
.badge.state-inventory, .badge.state-test, .badge.state-sold, .badge.rn-none, .badge.rn-superseded { color: var(--muted); border-color: var(--line); }
div.einvoice { white-space: nowrap; }
select { font: inherit; padding: .35rem .5rem; border: 1px solid #b8c0cc; border-radius: 4px; color: var(--ink); background: #fff; }
.bar { background: #e8edf5; border-radius: 3px; height: .5rem; min-width: 6rem; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--accent); }
.bar.hot > span { background: var(--warn); }
#daily-chart { width: 100%; height: 320px; }
pre.payload { max-width: 36rem; white-space: pre-wrap; word-break: break-all; font-size: .75rem; margin: 0; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .85em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.login { max-width: 44rem; margin: 3rem auto; }
form.search { display: inline-flex; gap: .3rem; }
header.top form.search input { width: 16rem; padding: .2rem .45rem; font-size: .85rem; }
h3 { font-size: .95rem; margin: .8rem 0 .4rem; }
`;

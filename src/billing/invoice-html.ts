import type { InvoiceDocument } from './invoices.js';

const GIB = 1_073_741_824;

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const group = (n: number) => n.toLocaleString('en-US');
/** Bytes for people: GB of 1,073,741,824 bytes (DESIGN 4), with the exact count beside it. */
function gb(bytes: number): string {
  const magnitude = Math.abs(bytes);
  const whole = Math.floor(magnitude / GIB);
  // 3 decimals of GB, truncated, on integers (the billed figure is the exact byte count beside it)
  const milli = Math.floor(((magnitude - whole * GIB) * 1000) / GIB);
  return `${bytes < 0 ? '-' : ''}${whole}.${String(milli).padStart(3, '0')}`;
}

/**
 * The printable invoice (HTML with print CSS): seller and buyer with tax ids, period, every line with its
 * usage month (earlier months are adjustments), tax per line, totals, the catalog version. Bilingual labels.
 */
export function renderInvoiceHtml(invoice: InvoiceDocument): string {
  const title = invoice.kind === 'credit_note' ? '红字发票 / Credit note' : '账单 / Invoice';
  const rows = invoice.lines
    .map(
      (line) => `<tr>
        <td>${escape(line.app)}</td>
        <td>${line.kind === 'overage' ? '超额 / overage' : line.kind === 'unreported' ? '未上报 / unreported' : '定向 / sponsored'}</td>
        <td>${escape(line.usageMonth)}${line.usageMonth !== invoice.month ? ' <span class="adj">调整 / adjustment</span>' : ''}</td>
        <td class="num">${gb(line.bytes)}<br><small>${group(line.bytes)} B</small></td>
        <td class="num">${escape(line.pricePerGiB)}</td>
        <td class="num">${escape(line.amount)}</td>
        <td class="num">${escape(line.taxRate)}</td>
        <td class="num">${escape(line.tax)}</td>
      </tr>`,
    )
    .join('');
  const party = (label: string, p: { name: string; taxId: string | null; address?: string }) => `<section class="party">
      <h2>${label}</h2>
      <p><strong>${escape(p.name)}</strong></p>
      <p>纳税人识别号 / Tax ID: ${p.taxId ? escape(p.taxId) : '—'}</p>
      ${p.address ? `<p>${escape(p.address)}</p>` : ''}
    </section>`;
  return `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>${escape(invoice.number)}</title>
<style>
  body { font-family: "Noto Sans CJK SC", "PingFang SC", system-ui, sans-serif; margin: 2rem; color: #111; }
  h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
  .meta, .parties { display: flex; gap: 2rem; flex-wrap: wrap; margin-bottom: 1rem; }
  .party { border: 1px solid #ccc; padding: .5rem 1rem; min-width: 18rem; }
  .party h2 { font-size: .9rem; margin: 0; color: #555; }
  table { border-collapse: collapse; width: 100%; font-size: .85rem; }
  th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; vertical-align: top; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .adj { color: #a15c00; font-size: .75rem; }
  .totals { margin-top: 1rem; margin-left: auto; width: 22rem; }
  .void { color: #b00020; font-weight: bold; font-size: 1.2rem; }
  footer { margin-top: 2rem; font-size: .75rem; color: #555; }
  @media print { body { margin: 1cm; } a { display: none; } }
</style>
</head>
<body>
<h1>${title}</h1>
${invoice.status === 'void' ? '<p class="void">已作废 / VOID — see the credit note issued for it</p>' : ''}
<div class="meta">
  <div>编号 / Number: <strong>${escape(invoice.number)}</strong></div>
  <div>账期 / Period: ${escape(invoice.month)}</div>
  <div>开具时间 / Issued: ${escape(invoice.issuedAt)}</div>
  <div>币种 / Currency: ${escape(invoice.currency)}</div>
  ${invoice.creditsNumber ? `<div>冲销 / Credits: ${escape(invoice.creditsNumber)}</div>` : ''}
</div>
<div class="parties">${party('销售方 / Seller', invoice.seller)}${party('购买方 / Buyer', invoice.buyer)}</div>
<table>
  <thead><tr><th>应用 / App</th><th>类型 / Kind</th><th>用量月份 / Usage month</th><th class="num">GB (1,073,741,824 B)</th><th class="num">单价 / Price per GB</th><th class="num">金额 / Amount</th><th class="num">税率 / Tax rate</th><th class="num">税额 / Tax</th></tr></thead>
  <tbody>${rows}</tbody>
</table>
<table class="totals">
  <tr><td>小计 / Subtotal (excl. tax)</td><td class="num">${escape(invoice.subtotal)}</td></tr>
  <tr><td>税额 / Tax</td><td class="num">${escape(invoice.tax)}</td></tr>
  <tr><th>合计 / Total ${escape(invoice.currency)}</th><th class="num">${escape(invoice.total)}</th></tr>
</table>
<footer>
  金额按各行累计字节计算后四舍五入至分 (amount = round_half_up(bytes × price / 2^30, 2) per line; tax per line).
  Catalog version ${escape(invoice.catalogVersion)}.
</footer>
</body>
</html>`;
}

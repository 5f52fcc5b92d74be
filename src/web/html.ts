/**
 * Server-side HTML with escaping by default: `html` is a tagged template whose interpolations are escaped
 * unless they are already {@link Html} (another `html` fragment) or arrays of them. Every page is built
 * this way, so a sponsor name, VIN, host or dead-letter payload can never become markup.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = Html | string | number | bigint | boolean | null | undefined | readonly Interpolation[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: Interpolation): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false || value === true) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Trusted markup from this module's own code (never from data). */
export const raw = (markup: string): Html => new Html(markup);

/**
 * Data for client scripts as a `<script type="application/json">` block: not executed (so the CSP needs no
 * 'unsafe-inline'), and `<`, U+2028 and U+2029 are escaped so no string can close the element.
 */
export function jsonScript(id: string, data: unknown): Html {
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return new Html(`<script type="application/json" id="${escapeHtml(id)}">${json}</script>`);
}

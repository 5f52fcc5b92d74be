/**
 * Every visible string of the web UI in English and Simplified Chinese (./messages/). The zh-CN table is
 * typed against the English one, so a key missing in either language is a compile error. `{name}`
 * placeholders are filled by {@link translator}; values are escaped by the templates, never here.
 */
import { en } from './messages/en.js';
import { zhCN } from './messages/zh-CN.js';

export const LANGUAGES = ['zh-CN', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

export type MessageKey = keyof typeof en;
export type Messages = { readonly [K in MessageKey]: string };

const TABLES: Record<Language, Messages> = { en, 'zh-CN': zhCN };

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function translator(language: Language): Translate {
  const table = TABLES[language];
  return (key, params) => table[key].replace(/\{(\w+)\}/g, (whole, name: string) => (params && name in params ? String(params[name]) : whole));
}

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

/**
 * The language from `Accept-Language` (RFC 9110 12.5.4): the highest-weighted tag we serve, `zh*` → zh-CN,
 * `en*` → en; zh-CN when nothing matches (the product's home market).
 */
export function languageFromAcceptLanguage(header: string | undefined): Language {
  if (!header) return 'zh-CN';
  const ranked = header
    .split(',')
    .map((part, order) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim().toLowerCase(), q: q === undefined ? 1 : Number(q), order };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const { tag } of ranked) {
    if (tag === 'zh' || tag.startsWith('zh-')) return 'zh-CN';
    if (tag === 'en' || tag.startsWith('en-')) return 'en';
  }
  return 'zh-CN';
}

/** The `lang` attribute and the name of each language in itself, for the switch. */
export const LANGUAGE_NAMES: Record<Language, string> = { 'zh-CN': '中文', en: 'English' };

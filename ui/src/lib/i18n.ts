// Minimal, dependency-free i18n: flat JSON catalogues, `{name}` interpolation,
// optional plural variants (`key_one`, `key_other`, ... chosen via Intl.PluralRules),
// and Intl-based number/date formatting for the active locale.
import en from '../locales/en.json';
import zhCN from '../locales/zh-CN.json';
import { localeState } from './locale-state.svelte';

export type Locale = 'en' | 'zh-CN';
export type Catalogue = Record<string, string>;
export type Params = Record<string, string | number>;

export const DEFAULT_LOCALE: Locale = 'en';
export const STORAGE_KEY = 'cairn.locale';

/** Locales offered in the switcher; labels are endonyms and intentionally not translated. */
export const LOCALES: ReadonlyArray<{ code: Locale; label: string }> = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
];

export const catalogues: Record<Locale, Catalogue> = {
  en: en as Catalogue,
  'zh-CN': zhCN as Catalogue,
};

/** Map a BCP 47 tag (e.g. "en-US", "zh", "zh-Hans-CN") to a supported locale, or null. */
export function resolveLocale(tag: string | null | undefined): Locale | null {
  if (!tag) return null;
  const lower = tag.toLowerCase();
  if (lower === 'zh' || lower.startsWith('zh-')) return 'zh-CN';
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  return null;
}

function safeStorage(): Storage | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}

/** Locale from localStorage ('cairn.locale'), else navigator.language(s), else English. */
export function detectLocale(
  stored: string | null = safeStorage()?.getItem(STORAGE_KEY) ?? null,
  languages: readonly string[] = typeof navigator !== 'undefined'
    ? (navigator.languages?.length ? navigator.languages : [navigator.language])
    : [],
): Locale {
  const fromStorage = resolveLocale(stored);
  if (fromStorage) return fromStorage;
  for (const lang of languages) {
    const resolved = resolveLocale(lang);
    if (resolved) return resolved;
  }
  return DEFAULT_LOCALE;
}

export function getLocale(): Locale {
  return (resolveLocale(localeState.current) ?? DEFAULT_LOCALE);
}

export function setLocale(locale: Locale, persist = true): void {
  localeState.current = locale;
  if (persist) {
    try {
      safeStorage()?.setItem(STORAGE_KEY, locale);
    } catch {
      // Storage may be unavailable (private mode, quota); the choice then lasts for this session.
    }
  }
  if (typeof document !== 'undefined') {
    document.documentElement.lang = locale;
  }
}

function lookup(catalogue: Catalogue, key: string, params?: Params, locale?: Locale): string | undefined {
  const count = params?.count;
  if (typeof count === 'number' && locale) {
    const category = new Intl.PluralRules(locale).select(count);
    return catalogue[`${key}_${category}`] ?? catalogue[`${key}_other`] ?? catalogue[key];
  }
  return catalogue[key];
}

function interpolate(template: string, locale: Locale, params?: Params): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (match, name: string) => {
    const value = params[name];
    if (value === undefined) return match;
    return typeof value === 'number' ? formatNumber(value, locale) : value;
  });
}

/** Translate `key` for an explicit locale. Missing keys fall back to English, then to the key. */
export function translate(locale: Locale, key: string, params?: Params): string {
  const template =
    lookup(catalogues[locale], key, params, locale) ??
    lookup(catalogues[DEFAULT_LOCALE], key, params, DEFAULT_LOCALE) ??
    key;
  return interpolate(template, locale, params);
}

/** Translate `key` for the active locale (reactive inside Svelte templates). */
export function t(key: string, params?: Params): string {
  return translate(getLocale(), key, params);
}

export type Segment = { text: string } | { slot: string };

/**
 * `t(key, params)` cut at the placeholders left in it, so a template can put elements (links,
 * code) where a translation places `{name}`: "{child} derived from {parent}" gives
 * `[{slot: 'child'}, {text: ' derived from '}, {slot: 'parent'}]`.
 */
export function tSegments(key: string, params?: Params): Segment[] {
  return t(key, params)
    .split(/(\{\w+\})/)
    .filter((part) => part !== '')
    .map((part) => (/^\{\w+\}$/.test(part) ? { slot: part.slice(1, -1) } : { text: part }));
}

/** Whether `key` exists in the English catalogue (used for e.g. unknown run statuses). */
export function hasKey(key: string): boolean {
  return key in catalogues[DEFAULT_LOCALE];
}

export function formatNumber(value: number, locale: Locale = getLocale()): string {
  return new Intl.NumberFormat(locale).format(value);
}

export function formatPercent(value: number, locale: Locale = getLocale()): string {
  return new Intl.NumberFormat(locale, {
    style: 'percent',
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  }).format(value);
}

/** Format an RFC 3339 timestamp; unparsable input is returned unchanged. */
export function formatDateTime(iso: string, locale: Locale = getLocale()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

export function formatDate(iso: string, locale: Locale = getLocale()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(date);
}

// Initialise from the environment once, without persisting the detected value.
setLocale(detectLocale(), false);

import { afterEach, describe, expect, it } from 'vitest';
import en from '../locales/en.json';
import zhCN from '../locales/zh-CN.json';
import {
  catalogues,
  detectLocale,
  formatPercent,
  getLocale,
  LOCALES,
  resolveLocale,
  setLocale,
  t,
  translate,
  tSegments,
} from './i18n';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('message catalogues', () => {
  it('en and zh-CN have exactly the same keys', () => {
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
  });

  it('every locale offered in the switcher has a catalogue', () => {
    for (const { code } of LOCALES) expect(catalogues[code]).toBeDefined();
  });

  it('translations use the same placeholders as English and are non-empty', () => {
    const zh = zhCN as Record<string, string>;
    for (const [key, value] of Object.entries(en as Record<string, string>)) {
      expect(value.trim(), key).not.toBe('');
      expect(zh[key].trim(), key).not.toBe('');
      expect(placeholders(zh[key]), key).toEqual(placeholders(value));
    }
  });
});

describe('t()', () => {
  afterEach(() => setLocale('en', false));

  it('interpolates params, with plural forms', () => {
    setLocale('en', false);
    expect(t('runs.count', { count: 3 })).toBe('3 runs');
    expect(t('runs.count', { count: 1 })).toBe('1 run');
    expect(t('datasets.count', { count: 0 })).toBe('0 data sets');
    expect(t('datasets.version', { version: '2' })).toBe('v2');
  });

  it('formats numeric params with the locale', () => {
    expect(translate('en', 'runs.count', { count: 12345 })).toBe('12,345 runs');
  });

  it('switches locale reactively', () => {
    setLocale('zh-CN', false);
    expect(getLocale()).toBe('zh-CN');
    expect(t('header.refresh')).toBe('刷新');
    expect(t('runs.count', { count: 3 })).toBe('3 次运行');
  });

  it('falls back to English for keys missing in zh-CN, then to the key', () => {
    const zh = catalogues['zh-CN'];
    const saved = zh['header.refresh'];
    delete zh['header.refresh'];
    try {
      expect(translate('zh-CN', 'header.refresh')).toBe('Refresh');
    } finally {
      zh['header.refresh'] = saved;
    }
    expect(translate('zh-CN', 'no.such.key')).toBe('no.such.key');
  });

  it('cuts a template at the placeholders left for elements', () => {
    setLocale('en', false);
    expect(tSegments('data.lineage.derived', { kind: 'split' })).toEqual([
      { slot: 'child' },
      { text: ' derived from ' },
      { slot: 'parent' },
      { text: ' by split' },
    ]);
    setLocale('zh-CN', false);
    expect(tSegments('data.lineage.derived', { kind: '拆分' })).toEqual([
      { slot: 'child' },
      { text: ' 由 ' },
      { slot: 'parent' },
      { text: ' 经拆分派生' },
    ]);
  });

  it('leaves unknown placeholders untouched', () => {
    expect(translate('en', 'runs.target', {})).toBe('Target column: {target}');
  });
});

describe('locale detection', () => {
  it('resolves BCP 47 tags', () => {
    expect(resolveLocale('en-US')).toBe('en');
    expect(resolveLocale('zh')).toBe('zh-CN');
    expect(resolveLocale('zh-Hans-CN')).toBe('zh-CN');
    expect(resolveLocale('fr-FR')).toBeNull();
  });

  it('prefers the stored choice, then navigator languages, then English', () => {
    expect(detectLocale('zh-CN', ['en-US'])).toBe('zh-CN');
    expect(detectLocale(null, ['fr-FR', 'zh-CN'])).toBe('zh-CN');
    expect(detectLocale(null, ['en-US'])).toBe('en');
    expect(detectLocale('bogus', ['de-DE'])).toBe('en');
    expect(detectLocale(null, [])).toBe('en');
  });
});

describe('formatting', () => {
  it('formats accuracy as a percentage with two decimals', () => {
    expect(formatPercent(0.9649, 'en')).toBe('96.49%');
    expect(formatPercent(1, 'zh-CN')).toBe('100.00%');
  });
});

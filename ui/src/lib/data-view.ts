// Pure helpers behind the Data view: page arithmetic, histogram geometry, lineage details.
// No IPC, so they are unit-tested directly.
import type { DataType, Histogram, JsonValue, LineageEdge } from './bindings';
import { hasKey, t } from './i18n';

/** Rows the table fetches per page: one screenful, never the whole data set. */
export const PAGE_SIZE = 100;

/** `name@version`, the reference every data command accepts. */
export function versionRef(name: string, version: number): string {
  return `${name}@${version}`;
}

/** Splits `name@3` into its parts; a reference without `@` has no version number. */
export function parseRef(reference: string): { name: string; version: number | null } {
  const at = reference.lastIndexOf('@');
  if (at <= 0) return { name: reference, version: null };
  const version = Number(reference.slice(at + 1));
  return { name: reference.slice(0, at), version: Number.isInteger(version) ? version : null };
}

/** 1-based first and last row shown, e.g. rows 101–200; `to < from` when the page is empty. */
export function pageRange(offset: number, shown: number): { from: number; to: number } {
  return { from: offset + 1, to: offset + shown };
}

/** Offset of the last full-size page boundary: 300 for 344 rows in pages of 100. */
export function lastPageOffset(total: number, size: number = PAGE_SIZE): number {
  return total <= 0 ? 0 : Math.floor((total - 1) / size) * size;
}

/** The offset that starts the page at 1-based `row`, kept inside the data set. */
export function offsetForRow(row: number, total: number): number {
  if (!Number.isFinite(row) || total <= 0) return 0;
  return Math.min(Math.max(Math.floor(row) - 1, 0), total - 1);
}

export type Bar = { x: number; y: number; width: number; height: number; from: number; to: number; count: number };

/** Bars of a histogram drawn into `width` × `height`, tallest bin full height; empty bins get no height. */
export function histogramBars(histogram: Histogram, width: number, height: number, gap = 1): Bar[] {
  const n = histogram.counts.length;
  if (n === 0) return [];
  const max = Math.max(...histogram.counts);
  const step = width / n;
  return histogram.counts.map((count, i) => {
    const h = max > 0 ? (count / max) * height : 0;
    return {
      x: i * step + gap / 2,
      y: height - h,
      width: Math.max(step - gap, 0.5),
      height: h,
      from: histogram.edges[i] ?? 0,
      to: histogram.edges[i + 1] ?? histogram.edges[i] ?? 0,
      count,
    };
  });
}

/** Compact number for axis labels and stats: at most 4 significant digits, no exponent below 1e9. */
export function compactNumber(value: number, locale: string): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const options: Intl.NumberFormatOptions =
    abs !== 0 && (abs >= 1e9 || abs < 1e-3)
      ? { notation: 'scientific', maximumSignificantDigits: 3 }
      : { maximumSignificantDigits: abs >= 1e4 ? 7 : 4 };
  return new Intl.NumberFormat(locale, options).format(value);
}

/** A file size as the run page and the Bundles view show it: bytes below 1 KiB, else KiB. */
export function fileSize(bytes: number, locale: string): string {
  if (bytes < 1024) return t('run.bytes', { count: bytes });
  return t('run.kib', { size: compactNumber(bytes / 1024, locale) });
}

export type SplitDetails = {
  part: string | null;
  parts: Array<{ name: string; ratio: number }>;
  seed: number | null;
  stratify: string | null;
  group: string | null;
};

/** The `details` a split writes into a lineage edge; unknown shapes give empty fields. */
export function splitDetails(edge: LineageEdge): SplitDetails {
  const d = (edge.details && typeof edge.details === 'object' && !Array.isArray(edge.details)
    ? edge.details
    : {}) as Record<string, JsonValue | undefined>;
  const text = (v: JsonValue | undefined) => (typeof v === 'string' && v !== '' ? v : null);
  const parts: SplitDetails['parts'] = [];
  if (Array.isArray(d.parts)) {
    for (const p of d.parts) {
      if (Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'number') {
        parts.push({ name: p[0], ratio: p[1] });
      }
    }
  }
  return {
    part: text(d.part),
    parts,
    seed: typeof d.seed === 'number' ? d.seed : null,
    stratify: text(d.stratify),
    group: text(d.group),
  };
}

/** A column type as the UI names it: `integer` → "Integer", `{other: "BLOB"}` → "BLOB". */
export function dtypeLabel(dtype: DataType): string {
  if (typeof dtype === 'string') return hasKey(`data.dtype.${dtype}`) ? t(`data.dtype.${dtype}`) : dtype;
  return dtype.other;
}

// Pure helpers of the Models and Audit views: what a gate check, an alias move or an audit
// payload says, in the words the views translate.
import type { AliasMoveView, AuditEntry, GateCheck, JsonValue, ModelVersionView } from './bindings';

/** A gate check's catalogue key and its parameters: `metric:test_accuracy` is the metric check
 * of `test_accuracy`; known checks have their own key; others are shown as named. */
export function checkLabel(check: string): { key: string; params: Record<string, string> } {
  if (check.startsWith('metric:')) {
    const rest = check.slice('metric:'.length);
    for (const [suffix, key] of METRIC_RULES) {
      if (rest.endsWith(suffix)) return { key, params: { metric: rest.slice(0, -suffix.length) } };
    }
    return { key: 'models.check.metric', params: { metric: rest } };
  }
  if (KNOWN_CHECKS.has(check)) return { key: `models.check.${check}`, params: {} };
  return { key: 'models.check.other', params: { check } };
}

/** MLflow's change rules of a metric gate (`metric:test_accuracy.min_absolute_change`). */
const METRIC_RULES: Array<[string, string]> = [
  ['.min_absolute_change', 'models.check.metric_absolute'],
  ['.min_relative_change', 'models.check.metric_relative'],
];

const KNOWN_CHECKS = new Set(['bundle_verifies', 'data_quality', 'reproduce', 'approvals', 'worst_slice', 'drift', 'latency']);

/** The failing checks of a gate report plus its approvals check, in report order. */
export function failingChecks(checks: GateCheck[], approvals: GateCheck | null = null): GateCheck[] {
  return [...checks, ...(approvals ? [approvals] : [])].filter((c) => !c.passed);
}

/** What an alias move did: `created` (it pointed nowhere), `moved`, or `removed`. */
export type MoveKind = 'created' | 'moved' | 'removed';

export function moveKind(move: AliasMoveView): MoveKind {
  if (move.to_version === null) return 'removed';
  return move.from_version === null ? 'created' : 'moved';
}

/** Alias moves newest first, for a timeline read from the top. */
export function newestFirst<T extends { at: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}

/** The test metric names of a model's versions, in a stable order (accuracy first). */
export function testMetricNames(versions: ModelVersionView[], max = 4): string[] {
  const names = new Set<string>();
  for (const v of versions) for (const k of Object.keys(v.record.test_metrics)) names.add(k);
  const rank = (k: string) => (k === 'test_accuracy' ? 0 : k === 'test_rmse' ? 1 : k.startsWith('test_n') ? 3 : 2);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, max);
}

/** An audit entry's payload as `key: value` pairs for a table cell: long hashes shortened and
 * long values cut at `max` characters (`full` keeps the whole value, for a tooltip). */
export function payloadPairs(entry: Pick<AuditEntry, 'payload'>, max = 80): Array<{ key: string; value: string; full: string }> {
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(entry.payload) as JsonValue;
  } catch {
    return [{ key: '', value: cut(entry.payload, max), full: entry.payload }];
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return [{ key: '', value: cut(entry.payload, max), full: entry.payload }];
  return Object.entries(parsed).map(([key, value]) => {
    const full = typeof value === 'string' ? value : JSON.stringify(value ?? null);
    const short = typeof value === 'string' && /^[0-9a-f]{40,}$/.test(value) ? `${value.slice(0, 12)}…` : cut(full, max);
    return { key, value: short, full };
  });
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The aliases a promotion may target from a version page: the policy's first, then the
 * model's current ones, then `production` and `staging` when there are none. */
export function aliasChoices(policyAliases: string[], current: string[]): string[] {
  const all = [...policyAliases, ...current];
  if (all.length === 0) all.push('production', 'staging');
  return [...new Set(all)];
}

/** A catalogue key and its parameters, for `t()`. */
export type Phrase = { key: string; params: Record<string, string> };

/** A number as the gate reports write it: up to six decimals, no trailing zeros. */
export function gateNumber(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return x.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
}

/** What a check's value, requirement and detail say, in the words the views translate, read
 * from its facts; `null` where the facts say nothing more than the English text (then the
 * view shows that text). */
export function checkPhrases(c: GateCheck): { value: Phrase | null; threshold: Phrase | null; detail: Phrase | null } {
  const f = c.facts;
  const n = (x: number | null | undefined) => (x === null || x === undefined ? '' : gateNumber(x));
  const cmp = f.greater_is_better === false ? '≤' : '≥';
  const change = f.relative ? `${gateNumber((f.min_change ?? 0) * 100)}%` : n(f.min_change);
  const p = (key: string, params: Record<string, string> = {}): Phrase => ({ key: `models.facts.${key}`, params });
  const sign = f.greater_is_better === false ? '−' : '+';
  const metric = { metric: f.metric ?? '', value: n(f.value), bound: n(f.bound), cmp, sign, change, version: String(f.baseline_version ?? ''), baseline: n(f.baseline) };
  switch (f.code) {
    case 'below_bound':
      return { value: null, threshold: null, detail: p('below_bound', metric) };
    case 'no_improvement':
      return { value: null, threshold: p('threshold_change', metric), detail: p('no_improvement', metric) };
    case 'no_metric':
      return { value: null, threshold: null, detail: p('no_metric', metric) };
    case 'no_baseline_metric':
      return { value: null, threshold: p('threshold_over', metric), detail: p('no_baseline_metric', metric) };
    case 'no_current':
      return { value: null, threshold: p('threshold_no_current', metric), detail: p('no_current') };
    case 'bundle_invalid':
      return { value: p('no'), threshold: p('yes'), detail: null };
    case 'quality_missing':
      return { value: null, threshold: p('passed'), detail: p('quality_missing', { dataset: f.dataset ?? '' }) };
    case 'quality_failed':
      return { value: p('failed'), threshold: p('passed'), detail: null };
    case 'no_data':
      return { value: null, threshold: p('passed'), detail: p('no_data') };
    case 'reproduce_missing':
      return { value: null, threshold: p('matched'), detail: p('reproduce_missing', { command: f.command ?? '' }) };
    case 'reproduce_differed':
      return { value: p('differed'), threshold: p('matched'), detail: null };
    case 'evidence_missing':
      return { value: null, threshold: null, detail: p('evidence_missing', { command: f.command ?? '' }) };
    case 'approvals':
    case 'ok': {
      if (c.check !== 'approvals') {
        if (c.check === 'bundle_verifies') return { value: p('yes'), threshold: p('yes'), detail: null };
        if (c.check === 'data_quality') return { value: p('passed'), threshold: p('passed'), detail: null };
        if (c.check === 'reproduce') return { value: p('matched'), threshold: p('matched'), detail: null };
        return { value: null, threshold: null, detail: null };
      }
      const counts = { counted: String(f.counted ?? 0), required: String(f.required ?? 0) };
      const notes: string[] = [];
      if (f.requester_excluded) notes.push('requester_excluded');
      if ((f.stale ?? 0) > 0) notes.push('stale');
      if (f.needs_requester) notes.push('needs_requester');
      const detail = f.code === 'ok' ? null : p(notes[0] ?? 'approvals_missing', counts);
      return { value: p('approvals_of', counts), threshold: p('approvals_required', counts), detail };
    }
    default:
      return { value: null, threshold: null, detail: null };
  }
}

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

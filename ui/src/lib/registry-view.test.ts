import { describe, expect, it } from 'vitest';
import type { AliasMoveView, GateCheck } from './bindings';
import { aliasChoices, checkLabel, checkPhrases, failingChecks, gateNumber, moveKind, newestFirst, payloadPairs } from './registry-view';
import { translate } from './i18n';

const move = (from: number | null, to: number | null, at = '2026-01-01T00:00:00.000Z'): AliasMoveView => ({
  alias: 'production',
  from_version: from,
  to_version: to,
  at,
  actor: 'ana',
  key: null,
  reason: '',
  forced: false,
  gate_report_sha256: null,
});
const noFacts: GateCheck['facts'] = {
  code: 'ok', metric: null, value: null, bound: null, greater_is_better: null, baseline_version: null, baseline: null,
  min_change: null, relative: null, counted: null, required: null, requester_excluded: null, stale: null,
  needs_requester: null, dataset: null, command: null,
};
const check = (name: string, passed: boolean): GateCheck => ({ check: name, value: null, threshold: '', passed, detail: '', facts: noFacts });

describe('gate checks', () => {
  it('names metric, known and unknown checks', () => {
    expect(checkLabel('metric:test_accuracy')).toEqual({ key: 'models.check.metric', params: { metric: 'test_accuracy' } });
    expect(checkLabel('metric:test_accuracy.min_absolute_change')).toEqual({ key: 'models.check.metric_absolute', params: { metric: 'test_accuracy' } });
    expect(checkLabel('metric:test_rmse.min_relative_change')).toEqual({ key: 'models.check.metric_relative', params: { metric: 'test_rmse' } });
    expect(checkLabel('bundle_verifies')).toEqual({ key: 'models.check.bundle_verifies', params: {} });
    expect(checkLabel('something_new')).toEqual({ key: 'models.check.other', params: { check: 'something_new' } });
  });

  it('lists the failing checks with the approvals last', () => {
    const failing = failingChecks([check('a', true), check('b', false)], check('approvals', false));
    expect(failing.map((c) => c.check)).toEqual(['b', 'approvals']);
    expect(failingChecks([check('a', true)], check('approvals', true))).toEqual([]);
  });
});

describe('alias moves', () => {
  it('tells a new alias, a move and a removal apart', () => {
    expect(moveKind(move(null, 1))).toBe('created');
    expect(moveKind(move(1, 2))).toBe('moved');
    expect(moveKind(move(2, null))).toBe('removed');
  });

  it('orders a timeline newest first without changing its input', () => {
    const moves = [move(null, 1, '2026-01-01T00:00:00.000Z'), move(1, 2, '2026-02-01T00:00:00.000Z')];
    expect(newestFirst(moves).map((m) => m.to_version)).toEqual([2, 1]);
    expect(moves[0].to_version).toBe(1);
  });

  it('offers the policy aliases first, then the current ones', () => {
    expect(aliasChoices(['production'], ['canary', 'production'])).toEqual(['production', 'canary']);
    expect(aliasChoices([], [])).toEqual(['production', 'staging']);
  });
});

describe('audit payloads', () => {
  it('reads an object payload as pairs and shortens hashes', () => {
    const sha = 'ab'.repeat(32);
    expect(payloadPairs({ payload: `{"alias":"production","passed":false,"sha256":"${sha}"}` })).toEqual([
      { key: 'alias', value: 'production', full: 'production' },
      { key: 'passed', value: 'false', full: 'false' },
      { key: 'sha256', value: 'abababababab…', full: sha },
    ]);
  });

  it('cuts long values and keeps them whole for a tooltip', () => {
    const [pair] = payloadPairs({ payload: '{"m":{"test_accuracy":0.9823008849557522,"test_brier":0.015}}' }, 20);
    expect(pair.value).toBe('{"test_accuracy":0.…');
    expect(pair.full).toBe('{"test_accuracy":0.9823008849557522,"test_brier":0.015}');
  });

  it('shows anything else as it is', () => {
    expect(payloadPairs({ payload: '[1,2]' })).toEqual([{ key: '', value: '[1,2]', full: '[1,2]' }]);
    expect(payloadPairs({ payload: 'not json' })).toEqual([{ key: '', value: 'not json', full: 'not json' }]);
  });
});

describe('gate check facts in the window\'s language', () => {
  const metric: GateCheck = {
    check: 'metric:test_accuracy.min_absolute_change', value: '0.982301', threshold: '≥ 0.992301 (…)', passed: false,
    detail: "test_accuracy = 0.982301 does not beat v1's 0.982301 by 0.01 (needs ≥ 0.992301)",
    facts: { ...noFacts, code: 'no_improvement', metric: 'test_accuracy', value: 0.9823008849557522, bound: 0.9923008849557522,
      greater_is_better: true, baseline_version: 1, baseline: 0.9823008849557522, min_change: 0.01, relative: false },
  };
  it('says why a metric fails in English and in Chinese, with the numbers of the report', () => {
    const d = checkPhrases(metric).detail!;
    expect(translate('en', d.key, d.params)).toBe(metric.detail);
    const th = checkPhrases(metric).threshold!;
    expect(translate('en', th.key, th.params)).toBe("≥ 0.992301 (v1's 0.982301 + 0.01)");
    expect(translate('zh-CN', d.key, d.params)).toBe('test_accuracy = 0.982301，未比 v1 的 0.982301 提升 0.01（需要 ≥ 0.992301）');
  });
  it('counts approvals and names why one did not count', () => {
    const approvals: GateCheck = {
      check: 'approvals', value: '1 of 2', threshold: '2 approvals', passed: false, detail: '…',
      facts: { ...noFacts, code: 'approvals', counted: 1, required: 2, requester_excluded: true, stale: 0, needs_requester: false },
    };
    const said = checkPhrases(approvals);
    expect(translate('zh-CN', said.value!.key, said.value!.params)).toBe('1 / 2');
    expect(translate('en', said.detail!.key, said.detail!.params)).toContain("the requester's own approval does not count");
  });
  it('keeps the English text where the facts add nothing', () => {
    expect(checkPhrases(check('metric:test_accuracy', true))).toEqual({ value: null, threshold: null, detail: null });
    expect(gateNumber(0.98230088)).toBe('0.982301');
    expect(gateNumber(2)).toBe('2');
  });
});

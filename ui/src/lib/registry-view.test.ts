import { describe, expect, it } from 'vitest';
import type { AliasMoveView, GateCheck } from './bindings';
import { aliasChoices, checkLabel, failingChecks, moveKind, newestFirst, payloadPairs } from './registry-view';

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
const check = (name: string, passed: boolean): GateCheck => ({ check: name, value: null, threshold: '', passed, detail: '' });

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

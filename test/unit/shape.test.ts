import { describe, expect, it } from 'vitest';
import { boolean, duration, integer, list, object, oneOf, optional, parseShape, record, string } from '../../src/vault/shape.js';

const Plan = object({
  name: string(),
  keep: optional(integer(1, 10)),
  mode: optional(oneOf(['a', 'b'])),
  rpo: optional(duration()),
  backups: optional(
    object({
      repo: string(),
      rpo: optional(duration()),
      restore: optional(list(object({ component: string(), into: string(), fast: optional(boolean) }))),
    }),
  ),
  labels: optional(record(string())),
});

describe('user documents are strict at every depth', () => {
  it('parses a good document, typed, leaving out absent optional fields', () => {
    const p = parseShape({ name: 'x', rpo: '15m', backups: { repo: '/r', restore: [{ component: 'c', into: 'd' }] } }, Plan, 'plan.yaml');
    expect(p.name).toBe('x');
    expect(p.rpo?.text).toBe('15m');
    expect(p.backups?.restore?.[0]).toEqual({ component: 'c', into: 'd' });
    expect('keep' in p).toBe(false);
  });

  it.each([
    [{ name: 'x', extra: 1 }, 'plan.yaml: extra: unknown field (expected name, keep, mode, rpo, backups, labels)'],
    [{ name: 'x', backups: { repo: '/r', rpoo: '1h' } }, 'plan.yaml: backups.rpoo: unknown field (expected repo, rpo, restore)'],
    [{ name: 'x', backups: { repo: '/r', restore: [{ component: 'c', into: 'd', fats: true }] } }, 'plan.yaml: backups.restore[0].fats: unknown field'],
    [{ name: 'x', backups: { repo: '/r', restore: [{ component: 'c' }] } }, 'plan.yaml: backups.restore[0].into: missing'],
    [{}, 'plan.yaml: name: missing'],
    [[], 'plan.yaml: the document: expected a map with name'],
    [{ name: 'x', keep: 0 }, 'plan.yaml: keep: expected a whole number from 1 to 10'],
    [{ name: 'x', mode: 'c' }, 'plan.yaml: mode: expected one of a, b'],
    [{ name: 'x', rpo: '15 minutes' }, 'plan.yaml: rpo: expected a number and one of the units'],
    [{ name: 'x', backups: { repo: '/r', restore: [{ component: 'c', into: 'd', fast: 'yes' }] } }, 'backups.restore[0].fast: expected true or false'],
    [{ name: 'x', labels: { a: 1 } }, 'plan.yaml: labels.a: expected a string'],
  ])('%j → %s', (doc, message) => {
    expect(() => parseShape(doc, Plan, 'plan.yaml')).toThrow(message);
  });

  it('errors are invalid (exit 11)', () => {
    try {
      parseShape({}, Plan, 'p');
    } catch (e) {
      expect((e as { kind: string }).kind).toBe('invalid');
    }
    expect.assertions(1);
  });
});

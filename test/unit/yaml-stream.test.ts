import { describe, expect, it } from 'vitest';
import { yamlStreamError } from '../../src/vault/yaml.js';

async function* pieces(text: string, size: number): AsyncGenerator<Buffer> {
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

const doc = (i: number) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s${i}\n  namespace: apps\ndata:\n  v: ${'QUJD'.repeat(20)}\ntype: Opaque\n`;

/**
 * The full read of a Kubernetes backup: a stream of YAML documents checked
 * one document at a time (a backup of large Secrets is larger than any
 * string Node can hold), with the same verdicts as a parse of the whole.
 */
describe('yamlStreamError', () => {
  it('passes many documents whatever the chunks, a marker or a character cut between two', async () => {
    const text = Array.from({ length: 40 }, (_, i) => doc(i)).join('---\n') + '---\nkind: ConfigMap\ndata:\n  é: "ü — 😀"\n';
    for (const size of [1, 3, 7, 64, 1 << 20]) expect(await yamlStreamError(pieces(text, size))).toBeNull();
  });

  it('names the error of a document after the first, and of the last', async () => {
    const bad = `${doc(1)}---\n${doc(2)}---\nmetadata:\n  name: [unclosed\n---\n${doc(3)}`;
    expect(await yamlStreamError(pieces(bad, 5))).toMatch(/flow sequence|unclosed|Missing|expected/i);
    const last = `${doc(1)}---\nkey: "never closed\n`;
    expect(await yamlStreamError(pieces(last, 4))).toMatch(/quote|closed|Missing/i);
  });

  it('a marker only at the start of a line ends a document; an empty stream is no error', async () => {
    expect(await yamlStreamError(pieces('a: "x --- y"\nb: |\n  ---not a marker\n', 2))).toBeNull();
    expect(await yamlStreamError(pieces('---\na: 1\n--- \nb: 2\n---', 3))).toBeNull();
    expect(await yamlStreamError(pieces('', 1))).toBeNull();
  });

  it('holds one document at a time: a bad document is reported when it ends, not after the whole stream is read', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from(`${doc(0)}---\nmetadata: [unclosed\n`);
      for (;;) {
        pulled++;
        yield Buffer.from(`---\n${doc(pulled)}`);
      }
    }
    expect(await yamlStreamError(endless())).toBeTruthy();
    expect(pulled).toBe(1);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';

/** The C2SP CCTV age vectors, carried in test/vectors/age (test/vectors/README.md says where they came from). */
export const VECTOR_DIR = resolve(import.meta.dirname, '../vectors/age');

export interface AgeVector {
  name: string;
  expect: string;
  payload?: string;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  unknownKeys: string[];
  file: Buffer;
}

const KNOWN = new Set(['expect', 'payload', 'identity', 'passphrase', 'armored', 'compressed', 'file key', 'comment']);

export function loadVectors(): AgeVector[] {
  return readdirSync(VECTOR_DIR)
    .filter((n) => !n.endsWith('.md'))
    .sort()
    .map((name) => {
      const raw = readFileSync(join(VECTOR_DIR, name));
      const split = raw.indexOf('\n\n');
      const headerText = raw.subarray(0, split).toString('utf8');
      let file = raw.subarray(split + 2);
      const v: AgeVector = { name, expect: '', identities: [], passphrases: [], armored: false, unknownKeys: [], file };
      for (const line of headerText.split('\n')) {
        const i = line.indexOf(': ');
        const key = line.slice(0, i);
        const value = line.slice(i + 2);
        if (!KNOWN.has(key)) v.unknownKeys.push(key);
        if (key === 'expect') v.expect = value;
        if (key === 'payload') v.payload = value;
        if (key === 'identity') v.identities.push(value);
        if (key === 'passphrase') v.passphrases.push(value);
        if (key === 'armored') v.armored = value === 'yes';
        if (key === 'compressed' && value === 'zlib') file = inflateSync(file);
      }
      v.file = file;
      return v;
    });
}

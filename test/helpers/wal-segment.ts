import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { X25519Identity } from '../../src/age/x25519.js';
import { loadSigningKey } from '../../src/backup/keys.js';
import type { Repo } from '../../src/backup/repo.js';
import type { PushContext } from '../../src/backup/wal/push.js';
import { parseDestination } from '../../src/dest/index.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { fetchToFile, readArchived, type ReadOptions, walFetch } from '../../src/backup/wal/fetch.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { openPool } from '../../src/backup/wal/open-pool.js';

/** WAL segments as PostgreSQL writes them, made in memory, and every way vault-tool reads one back from an archive. */
export const MB = 1 << 20;
export const WAL_SYSID = 7716302269993762727n;
export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A 1 MiB segment of timeline 1 (page headers of this segment, the cluster WAL_SYSID); `fill` varies its records. */
export function walSegment(segno: bigint, fill: number): Buffer {
  const b = Buffer.alloc(MB);
  for (let p = 0; p < 3; p++) {
    const off = p * 8192;
    b.writeUInt16LE(0xd110, off);
    b.writeUInt16LE(p === 0 ? 2 : 0, off + 2);
    b.writeUInt32LE(1, off + 4);
    b.writeBigUInt64LE(segno * BigInt(MB) + BigInt(off), off + 8);
    if (p === 0) {
      b.writeBigUInt64LE(WAL_SYSID, 24);
      b.writeUInt32LE(MB, 32);
      b.writeUInt32LE(8192, 36);
    }
    b.fill(fill, off + 40, off + 200);
  }
  return b;
}

export type ReadOutcome = string | { bytes: number; sha256: string };

/**
 * Every way a file of cluster `main` is read back: wal-fetch, `readArchived`
 * with each of `options` (a restore's read, the drill's feed, a
 * verification's), and the prefetcher's worker (which the restore's first
 * segments take too). Each gives the plaintext's size and SHA-256, or the
 * error's message; a refused worker read leaves no file behind.
 */
export async function everyRead(repo: Repo, name: string, keys: ReadKeys, dir: string, options: ReadOptions[]): Promise<ReadOutcome[]> {
  const out: ReadOutcome[] = [];
  const got = (b: Buffer) => out.push({ bytes: b.length, sha256: sha256Hex(b) });
  const failed = (e: Error) => out.push(e.message);
  const target = join(dir, `fetched-${name}`);
  await walFetch(repo, 'main', name, target, keys).then(() => got(readFileSync(target)), failed);
  for (const o of options) await readArchived(repo, 'main', name, keys, o).then((r) => got(r.plaintext!), failed);
  const pool = openPool(1);
  const tmp = join(dir, `tmp-${name}`);
  try {
    await fetchToFile(repo, 'main', name, keys, pool, tmp).then(() => got(readFileSync(tmp)), failed);
  } finally {
    await pool.close();
  }
  if (typeof out.at(-1) === 'string') expect(existsSync(tmp)).toBe(false);
  rmSync(tmp, { force: true });
  rmSync(target, { force: true });
  return out;
}

/**
 * An archive of cluster `main` in DIR/repo, as the unit tests push into it: host db1's push context (its signing key made at
 * DIR/signing.key, sealing to `id`'s recipient), and the keys that read it back (`id`, with db1 trusted).
 */
export function walArchive(dir: string, id: { identity: X25519Identity }): { repo: Repo; ctx: PushContext; keys: ReadKeys } {
  const repo: Repo = { dest: parseDestination(join(dir, 'repo'), dir, { env: {} }) };
  const signing = loadSigningKey(join(dir, 'signing.key'));
  const recipient = { recipient: id.identity.recipient, keyId: keyIdOf(id.identity.recipient) };
  const ctx: PushContext = { repo, cluster: 'main', recipient, signing, machine: 'db1', now: () => new Date() };
  const keys: ReadKeys = {
    identities: [{ keyId: recipient.keyId, identity: id.identity }],
    signers: [{ id: signing.id, publicKey: signing.publicKey, label: 'db1', addedAt: '' }],
  };
  return { repo, ctx, keys };
}

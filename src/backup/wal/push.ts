import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import {
  CHUNK,
  decodeB64,
  encodeB64,
  encodeHeader,
  NONCE_SIZE,
  newFileKey,
  parseRecipient,
  payloadKey,
  readHeader,
  type Stanza,
  wrapX25519,
} from '../../age/index.js';
import { sealChunks } from '../../age/kernel.js';
import { release } from '../../age/release.js';
import { VaultError, type ErrorCode } from '../../errors/errors.js';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fsError } from '../../fs/errors.js';
import { LIMITS } from '../../fs/read.js';
import { signBytes, verifyBytes, type SigningKey } from '../keys.js';
import { manifestName, signManifest, type BackupManifest } from '../manifest.js';
import type { Repo } from '../repo.js';
import { ensureArchiveInfo, readArchiveInfo, type ArchiveInfo } from './archive.js';
import { parseHistory } from './history.js';
import { formatLsn, looksLikeWalName, MAX_SEGMENT_SIZE, parseWalName } from './names.js';
import { checkSegment, PAGE_MAGIC, readSegmentHeader } from './page.js';
import { isThere, putNew, readIfThere, readWhole, segmentsDest, WAL_KIND } from './store.js';
import { completedMarkName, parseWalManifest, walManifestRefusal } from './catalog.js';
import { identityOf } from './spool.js';

/**
 * `wal-push`: one file PostgreSQL hands its archive_command, encrypted to
 * the backup recipient and stored in the archive with a signed manifest.
 *
 * The order is the commit protocol: the age file goes first (a temp name,
 * fsync, then into place only when whole), the manifest last; a file
 * without its manifest is not archived yet, and no reader uses it. The age
 * header carries a `vault-tool-wal` stanza (name, size, plaintext SHA-256
 * and the SHA-256 of the payload nonce and payload, signed by the pushing
 * host with the wrapped file key; identities skip it and its MAC covers
 * it), so a push that finds the file of a push killed before its manifest
 * can tell, without the key, whether its own host wrote these very bytes
 * for this segment: then it completes it; otherwise (another writer, or
 * the file cut short or damaged since) it refuses.
 *
 * A file already archived with the same bytes is success (PostgreSQL
 * retries what it does not know succeeded), on the word of a manifest this
 * host signed over a stored file that matches it (archivedAlready); with
 * other bytes it is refused and never overwritten; a manifest that does not
 * prove it (unsigned, altered, another host's, its file missing or other)
 * is refused too (exit 4), never taken for success and never replaced.
 */
export interface PushContext {
  repo: Repo;
  cluster: string;
  recipient: { recipient: string; keyId: string };
  signing: SigningKey;
  machine: string;
  now: () => Date;
  /** A long-lived pusher's memory of the archive's description, read once (it never changes once written). */
  cache?: { info?: ArchiveInfo };
}

export interface PushResult {
  name: string;
  /** archived: written now; already-archived: the same bytes were there; completed: a killed push's file, its manifest written now. */
  status: 'archived' | 'already-archived' | 'completed';
  bytes: number;
  location: string;
  /** The file read, as `stat -c %d:%i:%s:%.9Y:%.9Z` prints it (unchanged while it was read): what an acknowledgement names. */
  identity: string;
  /** Where the time went, in milliseconds: read, check (page headers), hash, encrypt, store (written and synced), manifest (signed, written, synced). */
  timings: Record<string, number>;
}

export const WAL_STANZA = 'vault-tool-wal';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * The memory one push works in: the file read, and its STREAM payload.
 * A long-lived pusher keeps one per job and reuses it for every file, so
 * its memory stays what one push of each job needs: 16 MiB buffers made
 * afresh per segment are freed only when V8 next collects, and a pusher
 * held three or four segments' worth of them.
 */
export interface PushScratch {
  plain?: Buffer;
  sealed?: Buffer;
}

/** A buffer of `scratch` at least `size` bytes long, reused while it is large enough (grown, never shrunk). */
function room(scratch: PushScratch, which: keyof PushScratch, size: number): Buffer {
  const have = scratch[which];
  if (have && have.length >= size) return have;
  // Not from Buffer's shared pool: these are owned whole, and kept.
  const b = Buffer.allocUnsafeSlow(Math.max(size, 1));
  scratch[which] = b;
  return b;
}

/** What a file's `vault-tool-wal` stanza says of its plaintext. */
export interface WalStanzaClaim {
  cluster: string;
  name: string;
  size: number;
  sha256: string;
}

/**
 * The bytes the pushing host signs into the stanza: the cluster, the name,
 * the plaintext's size and SHA-256, the SHA-256 of the stored bytes after
 * the header (the payload nonce and the STREAM payload: `payload`), and the
 * header's recipient stanzas (the file key wrapped to the backup recipient).
 * So the signature vouches for every byte of the file but the header's MAC
 * line (which covers the stanza, so it cannot be signed in it, and which
 * only the file key checks), and a push that finds the file without its
 * manifest can tell, without the key, that its own host wrote these very
 * bytes for this name: a payload cut short or damaged in storage is not
 * completed. docs/FORMAT.md, "WAL archive".
 */
function stanzaSigned(c: WalStanzaClaim, payload: string, recipients: Stanza[]): Buffer {
  const lines = ['vault-tool-wal stanza v2', c.cluster, c.name, String(c.size), c.sha256, payload];
  for (const r of recipients) lines.push(`${r.type} ${r.args.join(' ')} ${encodeB64(r.body)}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

/**
 * The `vault-tool-wal` stanza: `<name> <size> <plaintext SHA-256> <nonce and payload SHA-256> <signer id> <signature>` (the
 * signature over stanzaSigned).
 */
function walStanza(c: WalStanzaClaim, payload: string, recipients: Stanza[], signing: SigningKey): Stanza {
  const sig = encodeB64(Buffer.from(signBytes(signing, stanzaSigned(c, payload, recipients)), 'base64'));
  return { type: WAL_STANZA, args: [c.name, String(c.size), c.sha256, payload, signing.id, sig], body: new Uint8Array(0) };
}

/**
 * The age file of `data` as its pieces (header and nonce, then the STREAM
 * payload), never joined into one buffer: a segment is 16 MiB, and each
 * copy of it costs time and memory the database host needs. The payload is
 * sealed into the scratch buffer, each chunk's cipher output released at
 * once (release.ts) rather than left to the garbage collector. Its header
 * carries the stanza `claim` makes, signed by `signing`.
 */
export function sealWal(data: Uint8Array, recipient: string, claim: WalStanzaClaim, signing: SigningKey, scratch: PushScratch = {}): Uint8Array[] {
  const fileKey = newFileKey();
  const nonce = randomBytes(NONCE_SIZE);
  const chunks = Math.max(1, Math.ceil(data.byteLength / CHUNK));
  const out = room(scratch, 'sealed', data.byteLength + 16 * chunks);
  const n = sealChunks(crypto, payloadKey(fileKey, nonce), 0, data, true, out, release);
  const sealed = out.subarray(0, n);
  // Sealed before the header is made: the stanza signs the very bytes that follow it.
  const payload = createHash('sha256').update(nonce).update(sealed).digest('hex');
  const wrapped = [wrapX25519(parseRecipient(recipient), fileKey)];
  return [encodeHeader([walStanza(claim, payload, wrapped, signing), ...wrapped], fileKey), nonce, sealed];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads the plaintext's name, size and SHA-256 from an archived file's
 * header (no key needed), and whether `signing` signed them for `cluster`
 * over this header's recipient stanzas and the SHA-256 of the bytes after
 * it (`payload`; `signer`: the key id the stanza names; none in a file of
 * an earlier vault-tool, whose three-argument stanza is not signed).
 */
export function stanzaOf(
  file: Uint8Array,
  cluster: string,
  signing: Pick<SigningKey, 'publicKey'>,
): { name: string; size: number; sha256: string; payload?: string; signer?: string; signed: boolean } | null {
  try {
    const { header } = readHeader(file.subarray(0, Math.min(file.length, 64 << 10)));
    const s = header.stanzas.find((x) => x.type === WAL_STANZA);
    if (!s || (s.args.length !== 3 && s.args.length !== 6) || !/^[0-9]+$/.test(s.args[1]!) || !HEX64.test(s.args[2]!)) return null;
    const claim = { cluster, name: s.args[0]!, size: Number(s.args[1]), sha256: s.args[2]! };
    if (s.args.length === 3) return { ...claim, signed: false };
    const [payload, signer, signature] = [s.args[3]!, s.args[4]!, s.args[5]!];
    if (!HEX64.test(payload)) return null;
    const recipients = header.stanzas.filter((x) => x !== s);
    let sig: string;
    try {
      sig = Buffer.from(decodeB64(signature, 'signature')).toString('base64');
    } catch {
      return { ...claim, payload, signer, signed: false };
    }
    return { ...claim, payload, signer, signed: verifyBytes(signing.publicKey, stanzaSigned(claim, payload, recipients), sig) };
  } catch {
    return null;
  }
}

/**
 * The start of a stored age file that `ciphertext.headerSha256` covers: the
 * header through its MAC line, and the 16-byte payload nonce (null when it
 * does not parse). docs/FORMAT.md, "WAL archive".
 */
export function headOf(file: Uint8Array): Uint8Array | null {
  try {
    const { header, binary } = readHeader(file.subarray(0, Math.min(file.length, 64 << 10)));
    if (binary.buffer !== file.buffer || binary.byteOffset !== file.byteOffset || binary.length < header.length + NONCE_SIZE) return null;
    return file.subarray(0, header.length + NONCE_SIZE);
  } catch {
    return null;
  }
}

/** Whether `whole` is the pieces `parts` end to end (compared in place: no joined copy). */
function sameBytes(whole: Buffer, parts: Uint8Array[]): boolean {
  let off = 0;
  for (const p of parts) {
    if (off + p.byteLength > whole.length || !whole.subarray(off, off + p.byteLength).equals(p)) return false;
    off += p.byteLength;
  }
  return off === whole.length;
}

const refused = (name: string, why: string, code: ErrorCode = 'wal-conflict', data: Record<string, string> = {}) =>
  new VaultError('backup-failed', `${name}: ${why}; nothing was archived`, { code, data: { name, ...data } });

/** What a file must look like before it is archived, by kind; returns what the manifest records of it. */
function checkContent(
  name: string,
  data: Buffer,
  info: ArchiveInfo | null,
): { source: Record<string, string>; message: string; header?: ReturnType<typeof readSegmentHeader> } {
  const h = readSegmentHeader(data);
  const segSize = info?.segmentSize ?? (typeof h === 'string' ? 16 << 20 : h.segmentSize);
  const f = parseWalName(name, segSize);
  if (!f) throw refused(name, 'not a name PostgreSQL archives', 'wal-name');
  if (f.kind === 'segment' || f.kind === 'partial') {
    const c = checkSegment(name, data, info ? { systemId: info.systemId, segmentSize: info.segmentSize, magic: info.pageMagic } : {});
    if (typeof c === 'string') throw refused(name, `not a WAL segment of this archive: ${c}`, 'wal-bad-segment');
    return {
      source: {
        timeline: String(f.timeline),
        lsn: formatLsn(f.segno * BigInt(c.header.segmentSize)),
        systemId: c.header.systemId,
        postgres: String(PAGE_MAGIC.get(c.header.magic)),
      },
      message: `${c.pages} page(s) of WAL; page headers checked (magic, timeline, addresses, segment size, system identifier)`,
      header: c.header,
    };
  }
  if (f.kind === 'history') {
    try {
      const entries = parseHistory(data.toString('utf8'), f.timeline, name);
      return { source: { timeline: String(f.timeline) }, message: `a history of ${entries.length} earlier timeline(s)` };
    } catch (e) {
      throw refused(name, `not a timeline history: ${(e as Error).message}`, 'wal-bad-segment');
    }
  }
  const text = data.toString('utf8');
  if (!/^START WAL LOCATION: [0-9A-F]+\/[0-9A-F]+ \(file [0-9A-F]{24}\)$/m.test(text))
    throw refused(name, 'not a backup history file (no START WAL LOCATION line)', 'wal-bad-segment');
  return { source: { timeline: String(f.timeline) }, message: 'a backup history file' };
}

/**
 * The file PostgreSQL names, read in one go: a regular file of at most a
 * segment's largest size, unchanged while it was read (its identity the same
 * before and after).
 */
function readWalFile(path: string, scratch: PushScratch): { data: Buffer; identity: string } {
  let fd: number;
  try {
    // Without blocking: a named pipe given by mistake is refused below, never waited on.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fsError(e, 'read', path);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw new VaultError('usage', `${path} is not a regular file`);
    if (st.size > BigInt(MAX_SEGMENT_SIZE)) throw new VaultError('invalid', `${path} is ${st.size} bytes, larger than any WAL file`);
    const b = room(scratch, 'plain', Number(st.size)).subarray(0, Number(st.size));
    let off = 0;
    while (off < b.length) {
      const n = readSync(fd, b, off, b.length - off, off);
      if (n === 0) throw new VaultError('io', `${path} was cut short while it was read`);
      off += n;
    }
    const identity = identityOf(st);
    if (identityOf(fstatSync(fd, { bigint: true })) !== identity) throw new VaultError('io', `${path} changed while it was read`);
    return { data: b, identity };
  } finally {
    closeSync(fd);
  }
}

/**
 * What a push may take as proof that `name` is archived already: the
 * manifest beside it, signed by this host (the one signing key a push holds;
 * it has neither the vault nor its list of trusted hosts), naming this
 * cluster and name, over a stored file whose size and SHA-256 are the
 * manifest's. The file is read whole to be hashed: this runs only when a
 * push finds its name archived (PostgreSQL's retry of a file whose success
 * it did not see, or a pusher's file pushed by archive_command too), and a
 * size or header check would pass a file cut or altered past its header,
 * which the signed SHA-256 does not. Anything short of that is refused, and
 * loudly: whoever can write the repository could otherwise make the archive
 * skip a segment by planting a manifest that names its SHA-256. What is
 * there is never replaced; the error names the files.
 */
async function archivedAlready(ctx: PushContext, name: string, raw: Buffer, digest: { size: number; sha256: string }): Promise<void> {
  const d = segmentsDest(ctx.repo, ctx.cluster);
  const file = `${name}.age`;
  const where = d.locate(manifestName(file));
  const unproven = (why: string) =>
    new VaultError('integrity', `${name}: ${why}: it is not taken as archived; nothing was archived, and nothing in the archive was replaced`, {
      code: 'wal-archived-unproven',
      data: { name, cluster: ctx.cluster, manifest: where, file: d.locate(file) },
    });
  let m: BackupManifest;
  try {
    m = parseWalManifest(raw.toString('utf8'), where);
  } catch (e) {
    throw unproven(`the manifest in the archive cannot be read (${(e as Error).message})`);
  }
  // The judgment every reader makes (walManifestRefusal), with this host's signing key the one signer a push can check.
  const no = walManifestRefusal(m, [{ id: ctx.signing.id, publicKey: ctx.signing.publicKey, label: 'this host', addedAt: '' }], {
    name,
    cluster: ctx.cluster,
  });
  if (no?.why === 'moved') throw unproven(`${where}: ${no.message}`);
  // Other content claimed: refused as a conflict whoever signed it (a split brain's other server has a key of its own, and its
  // segment must never be moved aside for this one to take its name); the claim is only said to be unverified. A manifest whose
  // signature does not verify was written by no push: no server to tell apart, and a hint of its own.
  if (m.plaintext.sha256 !== digest.sha256 || m.plaintext.size !== digest.size) {
    const claimed = `already archived with other content (${m.plaintext.size} bytes, SHA-256 ${m.plaintext.sha256.slice(0, 16)}…; this one ${digest.size} bytes, ${digest.sha256.slice(0, 16)}…`;
    if (no?.why === 'altered')
      throw refused(
        name,
        `${claimed}; its manifest's signature does not verify: it was altered, or planted): an archived file is never overwritten`,
        'wal-planted-claim',
        { cluster: ctx.cluster, manifest: where, file: d.locate(file) },
      );
    throw refused(
      name,
      `${claimed}${no ? `; its manifest is signed by host key ${m.signer.id}, not this host's` : ''}): an archived file is never overwritten`,
    );
  }
  if (no)
    throw unproven(
      no.why === 'altered'
        ? `${where}: its signature does not verify (it was altered, or written by no push)`
        : `${where} is signed by host key ${m.signer.id}, not by this host's signing key (${ctx.signing.id}), the one signer a push can check`,
    );
  const stored = await readIfThere(ctx.repo, d, file, m.ciphertext.size + 1, 'WAL file').catch((e: unknown) => {
    // Larger than its manifest says: the read's limit refuses it, which is the answer.
    if (e instanceof VaultError && e.kind === 'invalid') return 'larger' as const;
    throw e;
  });
  if (stored === null) throw unproven(`its signed manifest is in the archive, but its file ${d.locate(file)} is not`);
  if (stored === 'larger' || stored.length !== m.ciphertext.size || sha256(stored) !== m.ciphertext.sha256)
    throw unproven(`the stored ${d.locate(file)} is not the file its signed manifest describes (its size or SHA-256 differs): it was altered or damaged`);
}

/** `scratch`: the buffers to work in, reused from one push to the next (a pusher's job); by default, this push's own. */
export async function walPush(ctx: PushContext, path: string, scratch: PushScratch = {}): Promise<PushResult> {
  const name = basename(path);
  if (!looksLikeWalName(name))
    throw new VaultError('usage', `${JSON.stringify(name)} is not a file PostgreSQL archives (a segment, a .history, .backup or .partial file)`, {
      code: 'wal-name',
    });
  const started = ctx.now();
  const timings: Record<string, number> = {};
  let t = performance.now();
  const lap = (phase: string) => {
    const now = performance.now();
    timings[phase] = Math.round((now - t) * 10) / 10 + (timings[phase] ?? 0);
    t = now;
  };
  const { data, identity } = readWalFile(path, scratch);
  lap('read');
  let info = ctx.cache?.info ?? (await readArchiveInfo(ctx.repo, ctx.cluster));
  lap('archive');
  const checked = checkContent(name, data, info);
  lap('check');
  if (!info && checked.header && typeof checked.header !== 'string')
    info = await ensureArchiveInfo(ctx.repo, ctx.cluster, checked.header, ctx.signing, started);
  if (info && ctx.cache) ctx.cache.info = info;
  if (info && checked.source.systemId && checked.source.systemId !== info.systemId)
    throw refused(
      name,
      `it belongs to the cluster with system identifier ${checked.source.systemId}, the archive holds ${info.systemId}'s`,
      'wal-other-cluster',
    );
  const digest = { size: data.length, sha256: sha256(data) };
  lap('hash');
  const d = segmentsDest(ctx.repo, ctx.cluster);
  const file = `${name}.age`;
  for (let attempt = 0; ; attempt++) {
    // Archived already (a retry, or a second push of the same file): the same bytes are success, others are refused; and only
    // on the word of a manifest this host signed, over the stored file it describes (archivedAlready).
    const have = await readIfThere(ctx.repo, d, manifestName(file), LIMITS.text, 'manifest');
    if (have) {
      await archivedAlready(ctx, name, have, digest);
      return { name, status: 'already-archived', bytes: digest.size, location: `${d.spec}/${file}`, identity, timings };
    }
    let stored: { size: number; sha256: string; headerSha256: string };
    let status: PushResult['status'] = 'archived';
    if (await isThere(ctx.repo, d, file)) {
      // A push killed between its file and its manifest: complete it if its stanza names these bytes and this host signed it.
      // The signature proves nothing against whoever holds the signing key, and this push has no key to decrypt the file: the
      // manifest says so (`completed`), and every read of the file hashes its plaintext against this push's SHA-256 (fetch.ts,
      // plaintextHeld).
      const orphan = await readWhole(ctx.repo, d, file, MAX_SEGMENT_SIZE + (8 << 20), 'WAL file');
      const s = stanzaOf(orphan, ctx.cluster, ctx.signing);
      if (!s) throw refused(name, `${file} is in the archive without a manifest and was not written by a push: it is not replaced`);
      if (s.name !== name || s.sha256 !== digest.sha256 || s.size !== digest.size)
        throw refused(name, `${file} is in the archive (without its manifest) with other content: it is not replaced`);
      // Its stanza names these bytes; only this host's signature over it (and over the key it is encrypted under) says this host
      // wrote it: otherwise anyone who can write the repository could plant other data under the right stanza, and PostgreSQL,
      // told "archived", would drop the only copy of the segment.
      const unproven = (why: string) =>
        new VaultError(
          'integrity',
          `${name}: ${d.locate(file)} is in the archive without a manifest, and ${why}: it is not taken as archived; nothing was archived, and nothing in the archive was replaced`,
          { code: 'wal-archived-unproven', data: { name, cluster: ctx.cluster, file: d.locate(file) } },
        );
      if (!s.signed)
        throw unproven(
          `its header is not signed by this host's signing key (${ctx.signing.id}${s.signer === undefined ? '; it carries no signature: written by a push of an earlier vault-tool, or planted' : s.signer === ctx.signing.id ? '; the signature does not verify' : `; it names host key ${s.signer}`})`,
        );
      const head = headOf(orphan);
      if (!head) throw refused(name, `${file} is in the archive without a manifest and its header does not parse: it is not replaced`);
      // The bytes after the header must be those this host signed: a file cut short or damaged in storage, completed, would be
      // the only copy once PostgreSQL is told "archived", and unreadable. Refused, the server keeps its segment.
      if (sha256(orphan.subarray(head.length - NONCE_SIZE)) !== s.payload)
        throw unproven(`its payload is not the one this host signed in its header (it was cut short or damaged in storage)`);
      stored = { size: orphan.length, sha256: sha256(orphan), headerSha256: sha256(head) };
      status = 'completed';
    } else {
      const parts = sealWal(data, ctx.recipient.recipient, { cluster: ctx.cluster, name, ...digest }, ctx.signing, scratch);
      const size = parts.reduce((n, p) => n + p.byteLength, 0);
      const headerSha256 = createHash('sha256').update(parts[0]!).update(parts[1]!).digest('hex');
      lap('encrypt');
      try {
        await putNew(ctx.repo, d, file, parts);
        lap('store');
      } catch (e) {
        // Another push of the same name got there first: judge what it wrote.
        if (e instanceof VaultError && e.kind === 'exists' && attempt === 0) continue;
        throw e;
      }
      if (d.kind === 'folder') {
        // Written and synced here: reading it back would read this host's page cache, not the disk.
        const h = createHash('sha256');
        for (const p of parts) h.update(p);
        stored = { size, sha256: h.digest('hex'), headerSha256 };
        lap('hash');
      } else {
        // Through rclone to a remote: what it stored, read back, must be what was sent.
        const back = await readWhole(ctx.repo, d, file, size + 1, 'WAL file');
        if (back.length !== size || !sameBytes(back, parts))
          throw new VaultError(
            'backup-failed',
            `the stored ${d.spec}/${file} differs from what was written; it is left without a manifest, so it does not count`,
          );
        stored = { size, sha256: sha256(back), headerSha256 };
        lap('store');
      }
    }
    const finished = ctx.now();
    const manifest: BackupManifest = signManifest(
      {
        format: 'vault-tool/backup-manifest',
        version: 1,
        id: randomBytes(4).toString('hex'),
        component: `${WAL_KIND}/${ctx.cluster}`,
        kind: 'postgres-wal',
        file,
        source: { cluster: ctx.cluster, wal: name, ...checked.source, machine: ctx.machine },
        tool: { name: 'postgres', version: info ? `PostgreSQL ${info.postgres}` : '', args: ['archive_command'] },
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        plaintext: digest,
        ciphertext: stored,
        // A completed file's key is not known here (the stanza does not say it, and a rotation may lie between the killed push
        // and this one): none is claimed, and its readers try every identity they hold (fetch.ts, idsFor).
        ...(status === 'completed' ? { recipient: '', keyId: '' } : { recipient: ctx.recipient.recipient, keyId: ctx.recipient.keyId }),
        verification: {
          at: finished.toISOString(),
          ok: true,
          check:
            status === 'completed'
              ? "WAL file checks before encryption; the stored file, a killed push's, held by its stanza (the signed SHA-256 of its payload; its plaintext hashed when read)"
              : 'WAL file checks before encryption; the stored file read back',
          message: checked.message,
        },
        ...(status === 'completed' ? { completed: true as const } : {}),
      },
      ctx.signing,
    );
    if (status === 'completed') {
      // Before the manifest: a completed file is never committed without the mark `wal-status` shows it by until a full read
      // passes it (a mark left by a push killed here is the next one's).
      try {
        await putNew(
          ctx.repo,
          d,
          completedMarkName(name),
          Buffer.from(`${name}: completed by a push at ${finished.toISOString()}; removed by the first full read that passes it\n`),
        );
      } catch (e) {
        if (!(e instanceof VaultError && e.kind === 'exists')) throw e;
      }
    }
    try {
      await putNew(ctx.repo, d, manifestName(file), Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
    } catch (e) {
      if (e instanceof VaultError && e.kind === 'exists' && attempt === 0) continue;
      throw e;
    }
    lap('manifest');
    return { name, status, bytes: digest.size, location: `${d.spec}/${file}`, identity, timings };
  }
}

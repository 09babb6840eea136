import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { VaultError } from '../errors/errors.js';
import type { Verdict } from '../errors/verdict.js';
import type { VaultDocument } from '../vault/document.js';
import { requireEntry } from '../vault/entries.js';
import { entryType, valueFromSource } from '../vault/types.js';
import { readSource, type Against, type SourceContext } from './sources.js';

/**
 * Does production still run the escrowed key? Each value is compared through
 * an HMAC under a key made for this run and then forgotten, never by a bare
 * hash (a low-entropy secret's SHA-256 can be brute-forced) and never by
 * printing it.
 */
export type DriftStatus = 'match' | 'older-version' | 'never-escrowed' | 'missing' | 'unreadable';

/**
 * What each status concludes: production holds the escrowed value (ok); it
 * holds another, or nothing where the plan says it keeps it (failed); the
 * source could not be reached from here (inconclusive: a cluster or a remote
 * out of reach, a permission refused).
 */
export function driftVerdict(status: DriftStatus): Verdict {
  return status === 'match' ? 'ok' : status === 'unreadable' ? 'inconclusive' : 'failed';
}

export interface DriftFinding {
  entry: string;
  source: string;
  status: DriftStatus;
  /** The entry's current version. */
  current?: number;
  /** The escrowed version production holds (older-version). */
  heldVersion?: number;
  message: string;
}

/** The deployed value as the entry would store it: the one rule for values from a source (a value that breaks the type's rule simply differs). */
function asStored(type: string, raw: Buffer): Buffer {
  try {
    return valueFromSource(entryType(type), raw);
  } catch {
    return raw;
  }
}

export async function checkDrift(doc: VaultDocument, against: Against[], ctx: SourceContext): Promise<DriftFinding[]> {
  const runKey = randomBytes(32);
  const mac = (v: Uint8Array) => createHmac('sha256', runKey).update(v).digest();
  const out: DriftFinding[] = [];
  for (const a of against) {
    let entry;
    try {
      entry = requireEntry(doc, a.entry);
    } catch (e) {
      out.push({ entry: a.entry, source: a.spec, status: 'missing', message: (e as Error).message });
      continue;
    }
    const current = entry.versions[entry.versions.length - 1]!.version;
    let deployed: Buffer;
    try {
      deployed = asStored(entry.type, await readSource(a.source, a.spec, ctx));
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      // Not there (a variable, a key, a Secret, a file the plan names): production does not hold it there. Anything else: out of reach from here.
      const missing = e.kind === 'not-found';
      out.push({
        entry: a.entry,
        source: a.spec,
        status: missing ? 'missing' : 'unreadable',
        current,
        message: missing ? e.message : `could not be read from here: ${e.message}`,
      });
      continue;
    }
    const h = mac(deployed);
    const held = [...entry.versions].reverse().find((v) => timingSafeEqual(mac(Buffer.from(v.value, 'base64')), h));
    if (held?.version === current)
      out.push({
        entry: a.entry,
        source: a.spec,
        status: 'match',
        current,
        heldVersion: current,
        message: `production holds ${a.entry}@${current}, the current version`,
      });
    else if (held) {
      out.push({
        entry: a.entry,
        source: a.spec,
        status: 'older-version',
        current,
        heldVersion: held.version,
        message: `production holds ${a.entry}@${held.version}, but the vault's current version is ${current}: a rotation was never deployed, or production was rolled back`,
      });
    } else {
      out.push({
        entry: a.entry,
        source: a.spec,
        status: 'never-escrowed',
        current,
        message: `production holds a value of ${a.entry} the vault never had: a key rotated in production and never escrowed`,
      });
    }
  }
  return out;
}

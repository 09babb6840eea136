import { hostname } from 'node:os';
import type { BackupKind, Component, Env } from '../kind.js';
import { defineKind } from './loaded.js';
import { redactArgs } from '../redact.js';

/**
 * `exec`: what any command writes to stdout (mongodump --archive, kc.sh
 * export…). Nothing is known of its format: the full read is a complete
 * decryption; it is restored into a file. Its arguments are recorded, but
 * the value of any that looks like a credential is not.
 */
export interface ExecOptions {
  /** The component's name: exec/NAME. */
  name: string;
  command: string;
  args: string[];
}

async function dump(o: ExecOptions, env: Env): Promise<Component> {
  const { shown, redacted } = redactArgs(o.args);
  return {
    component: `exec/${o.name}`,
    kind: 'exec',
    producer: { kind: 'process', command: o.command, args: o.args, env },
    tool: { name: o.command, version: '', args: shown },
    source: { command: o.command, machine: hostname() },
    ...(redacted
      ? {
          warnings: [
            'the command line holds what looks like a password or token: the manifest records it redacted, but while the backup runs any user of this host can read it (ps, /proc); give it to the command in its environment or a file instead',
          ],
        }
      : {}),
  };
}

export const exec: BackupKind<ExecOptions> = defineKind({
  name: 'exec',
  folder: 'exec',
  label: 'exec',
  ext: 'bin',
  dump,
  shape: (_h, size) => (size === 0 ? 'its output was empty' : null),
  verifier: () => ({ kind: 'discard', label: 'decrypt' }),
  drill: { scratch: 'folder', tools: [], checks: [] },
});

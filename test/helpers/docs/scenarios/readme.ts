import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from '../../cli.js';
import { ageKey, clusters, hex, secret, secretValue } from '../lab.js';
import type { Scenario } from '../scenario.js';

/**
 * The README's first steps in a copy of the working tree: `npm install`
 * (no registry: the dependencies are in place, as hard links; it builds
 * dist/), the demo, `npx`, and a global install into a prefix of the
 * scratch folder.
 */
export const clone: Scenario = {
  name: 'clone',
  cli: false,
  terminal: true,
  async setup(stage) {
    const copy = join(stage.dir, 'vault-tool');
    const files = execFileSync('git', ['ls-files', '-z', '-c', '-o', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of files) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      try {
        copyFileSync(join(ROOT, f), join(copy, f));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted in the working tree, not yet in git
      }
    }
    execFileSync('cp', ['-al', join(ROOT, 'node_modules'), join(copy, 'node_modules')]);
    // npm rewrites its hidden lockfile in place: a file of its own, not a link into the tree under test.
    rmSync(join(copy, 'node_modules/.package-lock.json'), { force: true });
    copyFileSync(join(ROOT, 'node_modules/.package-lock.json'), join(copy, 'node_modules/.package-lock.json'));
    const prefix = join(stage.dir, 'npm-global');
    Object.assign(stage.env, {
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      npm_config_prefix: prefix,
      PATH: `${join(prefix, 'bin')}:${stage.env.PATH}`,
    });
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    return {
      prepare: `cd ${JSON.stringify(copy)}\n! command -v vault-tool`,
      after: {
        'npm install -g .': (s) => {
          expect(realpathSync(s.sh('command -v vault-tool').trim())).toBe(join(copy, 'bin/vault-tool.js'));
          expect(s.sh('vault-tool --version').trim()).toBe(version);
          expect(s.sh('ls dist/lib/index.js dist/types/lib/index.d.ts')).toContain('index.js');
        },
      },
    };
  },
};

/** The README's tour, line by line at a terminal as a reader types it, then the proof that a copy opens. */
export const tour: Scenario = {
  name: 'tour',
  terminal: true,
  async setup(stage) {
    const k = await clusters(stage, ['prod', 'new-cluster'], 'prod');
    const fromFile = hex(16);
    const fromEnv = hex(16);
    const inCluster = hex(16);
    secret(k.prod!, 'infisical', 'infisical-bootstrap-secret', { ENCRYPTION_KEY: inCluster, AUTH_SECRET: 'not imported' });
    writeFileSync(join(stage.dir, 'key.txt'), `${fromFile}\n`, { mode: 0o600 });
    writeFileSync(join(stage.dir, 'infisical.env'), `ENCRYPTION_KEY=${fromEnv}\nSITE_URL=https://infisical.example\n`, { mode: 0o600 });
    writeFileSync(
      join(stage.dir, 'rewrap.sh'),
      '#!/bin/sh\n# stands in for a script that rewraps data keys: it needs the KEK in its environment\ntest -n "$KEK"\nprintf %s "$KEK" | sha256sum > rewrap.seen\n',
    );
    chmodSync(join(stage.dir, 'rewrap.sh'), 0o755);
    return {
      bind: {
        'age1…': ageKey(join(stage.dir, 'escrow.key')),
        '/backup/secrets.vault': 'backup/secrets.vault',
        '/secure/vault.key': 'secure/vault.key',
      },
      before: {
        // "production" holds the key the vault holds now.
        'vault-tool fingerprint platform/kek --compare deployed.txt': 'vault-tool get platform/kek --out deployed.txt',
        'vault-tool list --vault-file': 'mkdir -p backup secure && cp secrets.vault backup/ && cp vault.key secure/',
      },
      after: {
        'vault-tool run --env KEK=platform/kek': (s) => {
          expect(s.sh('cat rewrap.seen')).toBe(s.sh('vault-tool get platform/kek | sha256sum'));
        },
        'vault-tool k8s restore': (s) => {
          expect(s.sh('vault-tool get infisical/encryption-key')).toBe(inCluster);
          expect(s.sh('vault-tool get infisical/encryption-key@1')).toBe(fromFile);
          expect(secretValue(k['new-cluster']!, 'infisical', 'infisical-bootstrap-secret', 'ENCRYPTION_KEY')).toBe(inCluster);
          expect(s.sh('ls shares')).toContain('share-05-erin.share');
          expect(s.sh('vault-tool export env --redacted --prefix-path')).toContain('PLATFORM_KEK=***REDACTED***');
        },
      },
    };
  },
};

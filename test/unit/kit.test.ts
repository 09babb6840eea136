import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { formatKeyFile, newVaultKey, protectKeyFile } from '../../src/vault/keyfile.js';
import { openKeyFile, protectedKeyFile } from '../../src/kit/recover.js';
import { encryptWithPassphrase } from '../../src/kit/age.js';
import { decrypt } from '../../src/age/index.js';
import { openKeyFile as nodeOpenKeyFile } from '../../src/vault/keyfile.js';
import { readKit } from '../../src/escrow/kit-file.js';
// @ts-expect-error: a build script, plain JavaScript
import { buildKit } from '../../build-kit.mjs';

/** Every source file the page's bundle is made of, from its entry point. */
function kitSources(): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (fileName.startsWith('.')) visit(resolve(dirname(file), fileName).replace(/\.js$/, '.ts'));
    }
  };
  visit(join(ROOT, 'src/kit/ui.ts'));
  return [...seen].map((f) => relative(ROOT, f)).sort();
}

describe("the recovery kit shares the CLI's code and runs in a browser", () => {
  it('is made of browser-safe files only: no node:* import, no Buffer, no process', () => {
    const files = kitSources();
    expect(files).toContain('src/escrow/combine.ts');
    expect(files).toContain('src/escrow/files.ts');
    expect(files).toContain('src/age/parse.ts');
    expect(files).toContain('src/vault/keytext.ts');
    expect(files).toContain('src/vault/payload.ts');
    const offenders = files.filter((f) => {
      const src = readFileSync(join(ROOT, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      return /from 'node:|\bBuffer\b|\bprocess\./.test(src);
    });
    expect(offenders).toEqual([]);
  });

  it('builds to the same bytes every time, under 300 KB, with a CSP that forbids every connection and allows its own script and style by hash', async () => {
    const a: string = await buildKit();
    const b: string = await buildKit();
    expect(a).toBe(b);
    const shipped = readKit();
    expect(shipped.bytes.toString('utf8')).toBe(a);
    expect(shipped.bytes.length).toBeLessThan(300 * 1024);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(a)![1]!;
    const script = /<script>([\s\S]*)<\/script>/.exec(a)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(a)![1]!;
    const h = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
    expect(csp.split('; ')).toEqual([
      "default-src 'none'",
      `script-src ${h(script)}`,
      `style-src ${h(style)}`,
      "img-src 'none'",
      "connect-src 'none'",
      "media-src 'none'",
      "form-action 'none'",
      "base-uri 'none'",
    ]);
    // One script and one stylesheet, nothing loaded from elsewhere, readable (not minified).
    expect(a.match(/<script/g)).toHaveLength(1);
    expect(a).not.toMatch(/<(link|iframe|img|object|embed)\b|\bsrc="/);
    expect(script.split('\n').length).toBeGreaterThan(2000);
  });
});

describe('the kit opens key files as the CLI writes them', () => {
  it('a plain and a passphrase-protected vault.key give the same key; a wrong passphrase is named', async () => {
    const key = newVaultKey();
    const text = formatKeyFile(key);
    const plain = await openKeyFile(new TextEncoder().encode(text));
    expect({ keyId: plain.keyId, recipient: plain.recipient, secret: plain.secret, protected: plain.protected }).toEqual({
      keyId: key.keyId,
      recipient: key.recipient,
      secret: key.secret,
      protected: false,
    });
    const prot = protectKeyFile(text, Buffer.from('correct horse'), 10);
    const opened = await openKeyFile(prot, new TextEncoder().encode('correct horse'));
    expect(opened.keyId).toBe(key.keyId);
    expect(opened.protected).toBe(true);
    await expect(openKeyFile(prot, new TextEncoder().encode('wrong'))).rejects.toThrow('wrong passphrase for the key file');
    await expect(openKeyFile(prot)).rejects.toThrow('the key file is passphrase-protected: type its passphrase');
    await expect(openKeyFile(new TextEncoder().encode(text.replace(/# key id: .*/, '# key id: 0000000000000000')))).rejects.toThrow(
      'key file comments do not match its identity',
    );
  });
});

describe('what the kit writes, the CLI reads', () => {
  it('a passphrase-protected file of one chunk, of several chunks, and of nothing decrypts on the node:crypto path', async () => {
    const pass = new TextEncoder().encode('kit passphrase');
    for (const size of [0, 1, 64 * 1024, 64 * 1024 + 1, 200_000]) {
      const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
      const armored = await encryptWithPassphrase(data, pass, 10);
      expect(armored.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n'), `size ${size}`).toBe(true);
      expect(Buffer.from(decrypt(Buffer.from(armored), { passphrase: pass }).plaintext).equals(Buffer.from(data)), `size ${size}`).toBe(true);
      expect(() => decrypt(Buffer.from(armored), { passphrase: new TextEncoder().encode('other') })).toThrow('no identity matched any of the recipients');
    }
  });

  it('a protected vault.key from the kit opens with the CLI, with work factor 18 as the CLI writes', async () => {
    const key = await openKeyFile(new TextEncoder().encode(formatKeyFile(newVaultKey())));
    const file = await protectedKeyFile(key, new TextEncoder().encode('kit passphrase'));
    expect(/^-> scrypt \S{22} 18$/m.test(Buffer.from(file.split('\n').slice(1, -2).join(''), 'base64').toString('latin1'))).toBe(true);
    const opened = await nodeOpenKeyFile(Buffer.from(file), async () => new TextEncoder().encode('kit passphrase'));
    expect({ keyId: opened.keyId, secret: opened.secret }).toEqual({ keyId: key.keyId, secret: key.secret });
  }, 60_000);
});

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultError } from '../../src/errors/errors.js';
import { createAtomicWriteStream } from '../../src/fs/atomic-stream.js';
import { sweepTempFiles } from '../../src/fs/atomic.js';
import { bundleChild } from '../helpers/bundle.js';
import { tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeAll(() => ({ dir, cleanup } = tempDir('vt-atomic-stream-')));
afterAll(() => cleanup());

const temps = (d: string) => readdirSync(d).filter((n) => n.endsWith('.tmp'));

function pieces(data: Buffer, size: number, failAt?: number): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (failAt !== undefined && off >= failAt) return void this.destroy(new Error('source broke'));
      if (off >= data.length) return void this.push(null);
      this.push(data.subarray(off, off + size));
      off += size;
    },
  });
}

describe('createAtomicWriteStream', () => {
  it('writes the whole stream under the final name, mode 0600, leaving no temp file', async () => {
    const path = join(dir, 'whole.bin');
    const data = randomBytes(5 * 1024 * 1024 + 7);
    await pipeline(pieces(data, 100_003), createAtomicWriteStream(path));
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(temps(dir)).toEqual([]);
  });

  it('replaces an existing file only when the stream completes; a failed stream leaves the old file and no temp', async () => {
    const path = join(dir, 'replace.bin');
    writeFileSync(path, 'old');
    await expect(pipeline(pieces(randomBytes(3 << 20), 65536, 2 << 20), createAtomicWriteStream(path))).rejects.toThrow('source broke');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(temps(dir)).toEqual([]);
    await pipeline(pieces(Buffer.from('new'), 10), createAtomicWriteStream(path));
    expect(readFileSync(path, 'utf8')).toBe('new');
  });

  it('refuses an existing file when exclusive, before writing anything', () => {
    const path = join(dir, 'exists.bin');
    writeFileSync(path, 'x');
    expect(() => createAtomicWriteStream(path, { exclusive: true })).toThrow(VaultError);
    expect(() => createAtomicWriteStream(path, { exclusive: true })).toThrow(`${path} already exists; refusing to overwrite it`);
    expect(() => createAtomicWriteStream(join(dir, 'nope', 'x'))).toThrow(/does not exist/);
    expect(temps(dir)).toEqual([]);
  });

  it('an abort mid-stream removes the temp file, and nothing appears under the final name', async () => {
    const path = join(dir, 'aborted.bin');
    const ac = new AbortController();
    const w = createAtomicWriteStream(path, { signal: ac.signal });
    let sent = 0;
    const src = new Readable({
      read() {
        sent += 65536;
        if (sent === 1 << 20) setImmediate(() => ac.abort());
        setImmediate(() => this.push(Buffer.alloc(65536, 1)));
      },
    });
    await expect(pipeline(src, w)).rejects.toThrow(/abort/i);
    expect(temps(dir)).toEqual([]);
    expect(readdirSync(dir)).not.toContain('aborted.bin');
  });

  it('destroyed by the writer, it removes the temp file', async () => {
    const path = join(dir, 'destroyed.bin');
    const w = createAtomicWriteStream(path);
    await new Promise((r) => w.write(Buffer.alloc(1000), r));
    expect(temps(dir)).toHaveLength(1);
    const errors: Error[] = [];
    w.on('error', (e) => errors.push(e));
    const closed = new Promise((r) => w.on('close', r));
    w.destroy(new Error('changed my mind'));
    await closed;
    expect(errors.map((e) => e.message)).toEqual(['changed my mind']);
    expect(temps(dir)).toEqual([]);
    expect(readdirSync(dir)).not.toContain('destroyed.bin');
  });

  const runChild = async (signal: NodeJS.Signals, path: string): Promise<number | null> => {
    const script = bundleChild(join(import.meta.dirname, '../helpers/children/atomic-writer.ts'), dir);
    const p = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => p.stdout.on('data', (c: Buffer) => c.toString().includes('writing') && res()));
    p.kill(signal);
    return new Promise((res) => p.on('exit', (code) => res(code)));
  };

  it('SIGTERM (exit through the signal handler) removes the temp file', async () => {
    const sub = join(dir, 'term');
    (await import('node:fs')).mkdirSync(sub);
    expect(await runChild('SIGTERM', join(sub, 'backup.age'))).toBe(130);
    expect(readdirSync(sub)).toEqual([]);
  });

  it('SIGKILL leaves only a temp file, never a partial file under the final name, and the next sweep removes it', async () => {
    const sub = join(dir, 'kill');
    (await import('node:fs')).mkdirSync(sub);
    const path = join(sub, 'backup.age');
    await runChild('SIGKILL', path);
    const left = readdirSync(sub);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.backup\.age\.\d+\.[0-9a-f]{8}\.tmp$/);
    expect(statSync(join(sub, left[0]!)).size).toBeGreaterThan(0);
    sweepTempFiles(path);
    expect(readdirSync(sub)).toEqual([]);
  });
});

import { VaultError } from '../../errors/errors.js';

/**
 * A streaming reader of the tar archives pg_basebackup writes (ustar, with
 * GNU base-256 sizes for files over 8 GiB; pax and GNU long-name headers
 * understood): it calls `onFile` for each member and `onData` with its
 * bytes, and knows whether the archive ended properly (two zero blocks), so
 * a stream cut short is never taken for a whole one.
 */
export interface TarMember {
  path: string;
  type: 'file' | 'dir' | 'link' | 'symlink' | 'other';
  size: number;
}

const BLOCK = 512;

function octal(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte set.
    let n = 0;
    for (let i = off; i < off + len; i++) n = n * 256 + (i === off ? b[i]! & 0x7f : b[i]!);
    return n;
  }
  const s = b
    .subarray(off, off + len)
    .toString('latin1')
    .replace(/\0.*$/s, '')
    .trim();
  if (!s) return 0;
  if (!/^[0-7]+$/.test(s)) throw new VaultError('verify-failed', `a tar header holds ${JSON.stringify(s)} where a number belongs: not a tar archive`);
  return parseInt(s, 8);
}

const cstr = (b: Buffer, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
};

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === octal(h, 148, 8);
}

export class TarReader {
  private buf = Buffer.alloc(0);
  /** Bytes of the current member still to come, and the padding after them. */
  private remaining = 0;
  private padding = 0;
  private zeroBlocks = 0;
  private current: TarMember | null = null;
  private pending: 'pax' | 'longname' | null = null;
  private meta: Buffer[] = [];
  private nextPath: string | null = null;
  private nextSize: number | null = null;
  ended = false;
  members = 0;

  constructor(
    private readonly onFile: (m: TarMember) => void,
    private readonly onData: (m: TarMember, chunk: Buffer) => void,
    private readonly onEnd: (m: TarMember) => void,
  ) {}

  push(chunk: Buffer): void {
    let c = chunk;
    while (c.length) {
      if (this.ended) {
        // After the end marker only zeros may follow (tar pads to a record).
        if (c.some((x) => x !== 0)) throw new VaultError('verify-failed', 'data after the end of the tar archive');
        return;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, c.length);
        const part = c.subarray(0, n);
        // Copied: the caller may reuse the chunk once push returns.
        if (this.pending) this.meta.push(Buffer.from(part));
        else if (this.current) this.onData(this.current, part);
        this.remaining -= n;
        c = c.subarray(n);
        if (this.remaining === 0) this.finishMember();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, c.length);
        this.padding -= n;
        c = c.subarray(n);
        continue;
      }
      const need = BLOCK - this.buf.length;
      this.buf = Buffer.concat([this.buf, c.subarray(0, need)]);
      c = c.subarray(Math.min(need, c.length));
      if (this.buf.length < BLOCK) return;
      const h = this.buf;
      this.buf = Buffer.alloc(0);
      this.header(h);
    }
  }

  private finishMember(): void {
    this.padding = (BLOCK - (this.lastSize % BLOCK)) % BLOCK;
    if (this.pending) {
      const text = Buffer.concat(this.meta);
      this.meta = [];
      if (this.pending === 'longname') this.nextPath = text.toString('utf8').replace(/\0+$/, '');
      else this.readPax(text);
      this.pending = null;
      return;
    }
    if (this.current) this.onEnd(this.current);
    this.current = null;
  }

  private lastSize = 0;

  private readPax(text: Buffer): void {
    let i = 0;
    while (i < text.length) {
      const sp = text.indexOf(0x20, i);
      if (sp < 0) break;
      const len = Number(text.subarray(i, sp).toString('latin1'));
      if (!Number.isSafeInteger(len) || len <= 0) throw new VaultError('verify-failed', 'a malformed pax header in the tar archive');
      const rec = text.subarray(sp + 1, i + len - 1).toString('utf8');
      const eq = rec.indexOf('=');
      const k = rec.slice(0, eq);
      const v = rec.slice(eq + 1);
      if (k === 'path') this.nextPath = v;
      if (k === 'size') this.nextSize = Number(v);
      i += len;
    }
  }

  private header(h: Buffer): void {
    if (h.every((x) => x === 0)) {
      if (++this.zeroBlocks === 2) this.ended = true;
      return;
    }
    if (this.zeroBlocks) throw new VaultError('verify-failed', 'a zero block in the middle of the tar archive');
    if (!checksumOk(h)) throw new VaultError('verify-failed', 'a tar header fails its checksum: the archive is damaged');
    const type = String.fromCharCode(h[156]!);
    const size = this.nextSize ?? octal(h, 124, 12);
    const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? cstr(h, 345, 155) : '';
    const name = this.nextPath ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    this.lastSize = size;
    if (type === 'x' || type === 'L') {
      this.pending = type === 'x' ? 'pax' : 'longname';
      this.remaining = size;
      if (size === 0) this.finishMember();
      return;
    }
    this.nextPath = null;
    this.nextSize = null;
    if (type === 'g') {
      this.pending = 'pax';
      this.remaining = size;
      if (size === 0) this.finishMember();
      return;
    }
    const kind: TarMember['type'] =
      type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '1' ? 'link' : type === '2' ? 'symlink' : 'other';
    const m: TarMember = { path: name.replace(/^\.\//, '').replace(/\/$/, ''), type: kind, size: kind === 'file' ? size : 0 };
    this.members++;
    this.current = m;
    this.onFile(m);
    this.remaining = m.size;
    this.lastSize = m.size;
    if (m.size === 0) this.finishMember();
  }
}

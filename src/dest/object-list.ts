/**
 * A bucket's listing held compactly: every key and modification time as
 * UTF-8 bytes end to end in one growing buffer, sizes in a Float64Array,
 * MD5s as 16 raw bytes each. An object costs its key's and time's bytes
 * and about 50 more, where a JavaScript object with three strings cost
 * about 250 (and the garbage collector's slack over a million of them as
 * much again): a bucket of a million objects is listed in about 100 MB, not
 * half a gigabyte.
 */
export interface ObjectListed {
  /** Relative to the listed prefix, as rclone names it. */
  key: string;
  size: number;
  modTime: string;
  md5?: string;
}

/** Strings appended one after another into one growing UTF-8 buffer, each read back by its index. */
export class StringTable {
  private bytes = Buffer.allocUnsafeSlow(16 << 10);
  private used = 0;
  private ends = new Float64Array(256);
  private n = 0;

  get length(): number {
    return this.n;
  }

  push(s: string): number {
    const need = Buffer.byteLength(s);
    if (this.used + need > this.bytes.length) {
      const b = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.used + need));
      this.bytes.copy(b, 0, 0, this.used);
      this.bytes = b;
    }
    this.bytes.write(s, this.used, 'utf8');
    this.used += need;
    if (this.n === this.ends.length) this.ends = grown(this.ends);
    this.ends[this.n] = this.used;
    return this.n++;
  }

  get(i: number): string {
    return this.bytes.toString('utf8', this.start(i), this.ends[i]);
  }

  /** String i against string j as JavaScript's `<` orders them (UTF-16 code units), without decoding either while both are ASCII. */
  compare(i: number, j: number): number {
    const a = this.start(i);
    const b = this.start(j);
    const al = this.ends[i]! - a;
    const bl = this.ends[j]! - b;
    const n = Math.min(al, bl);
    for (let k = 0; k < n; k++) {
      const x = this.bytes[a + k]!;
      const y = this.bytes[b + k]!;
      if (x === y) continue;
      // Past ASCII, UTF-8's byte order and UTF-16's can differ (a character above U+E000 against one beyond U+FFFF): decoded.
      if (x >= 0x80 || y >= 0x80) {
        const s = this.get(i);
        const t = this.get(j);
        return s < t ? -1 : s > t ? 1 : 0;
      }
      return x - y;
    }
    return al - bl;
  }

  /** The memory it holds, in bytes. */
  heldBytes(): number {
    return this.bytes.length + this.ends.byteLength;
  }

  private start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1]!;
  }
}

function grown<T extends Float64Array | Uint8Array | Uint32Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** Objects in the order they were added, or by key once sorted. */
export class ObjectList implements Iterable<ObjectListed> {
  private readonly keys = new StringTable();
  private readonly times = new StringTable();
  private sizes = new Float64Array(256);
  private md5s = new Uint8Array(256 * 16);
  private hasMd5 = new Uint8Array(256);
  /** SHA-256s, for a list of objects read (an archive's check); 32 raw bytes each. */
  private shas: Uint8Array | null = null;
  /** Index i's object, once sorted. */
  private order: Uint32Array | null = null;
  /** The listed bytes of every object. */
  bytes = 0;

  get length(): number {
    return this.keys.length;
  }

  push(o: ObjectListed & { sha256?: string }): void {
    const i = this.keys.length;
    if (i === this.sizes.length) {
      this.sizes = grown(this.sizes);
      this.md5s = grown(this.md5s);
      this.hasMd5 = grown(this.hasMd5);
      if (this.shas) this.shas = grown(this.shas);
    }
    if (o.sha256 !== undefined) {
      this.shas ??= new Uint8Array(this.sizes.length * 32);
      this.shas.set(Buffer.from(o.sha256, 'hex'), i * 32);
    }
    this.keys.push(o.key);
    this.times.push(o.modTime);
    this.sizes[i] = o.size;
    this.bytes += o.size;
    if (o.md5 !== undefined && /^[0-9a-f]{32}$/.test(o.md5)) {
      this.md5s.set(Buffer.from(o.md5, 'hex'), i * 16);
      this.hasMd5[i] = 1;
    }
    this.order = null;
  }

  /** Sorted by key, as JavaScript orders strings. */
  sortByKey(): this {
    const idx = Array.from({ length: this.length }, (_, i) => i);
    idx.sort((a, b) => this.keys.compare(a, b));
    this.order = Uint32Array.from(idx);
    return this;
  }

  private at(i: number): number {
    if (i < 0 || i >= this.length) throw new RangeError(`no object ${i} in a listing of ${this.length}`);
    return this.order ? this.order[i]! : i;
  }

  key(i: number): string {
    return this.keys.get(this.at(i));
  }

  size(i: number): number {
    return this.sizes[this.at(i)]!;
  }

  modTime(i: number): string {
    return this.times.get(this.at(i));
  }

  md5(i: number): string | undefined {
    const j = this.at(i);
    return this.hasMd5[j] ? Buffer.from(this.md5s.buffer, this.md5s.byteOffset + j * 16, 16).toString('hex') : undefined;
  }

  /** The SHA-256 pushed with object i (hex). */
  sha256(i: number): string {
    const j = this.at(i);
    return this.shas ? Buffer.from(this.shas.buffer, this.shas.byteOffset + j * 32, 32).toString('hex') : '';
  }

  /** Object i as a plain object (made afresh: keep it only as long as it is needed). */
  get(i: number): ObjectListed {
    const md5 = this.md5(i);
    return { key: this.key(i), size: this.size(i), modTime: this.modTime(i), ...(md5 ? { md5 } : {}) };
  }

  /** The memory it holds, in bytes. */
  heldBytes(): number {
    return (
      this.keys.heldBytes() +
      this.times.heldBytes() +
      this.sizes.byteLength +
      this.md5s.byteLength +
      this.hasMd5.byteLength +
      (this.shas?.byteLength ?? 0) +
      (this.order?.byteLength ?? 0)
    );
  }

  *[Symbol.iterator](): Iterator<ObjectListed> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }
}

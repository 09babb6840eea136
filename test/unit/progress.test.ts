import { describe, expect, it } from 'vitest';
import { formatBytes, ProgressReporter, progressMode, type ProgressEvent } from '../../src/cli/progress.js';
import { counter } from '../../src/fs/progress.js';

/**
 * The command line's progress reporter, on a clock the test moves: a line
 * rewritten in place on a terminal (throttled, erased before other output),
 * JSON events of one shape with --json, nothing in a pipe.
 */
function reporter(mode: 'tty' | 'json' | 'off', columns = 120) {
  let now = 0;
  const written: string[] = [];
  const stderr = { write: (c: string | Uint8Array) => written.push(String(c)), columns };
  const r = new ProgressReporter({ stderr }, mode, () => now);
  return {
    r,
    written,
    tick: (ms: number) => {
      now += ms;
    },
    events: () =>
      written
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ProgressEvent),
    /** What a terminal shows last: the text after the last carriage return, escapes removed. */
    screen: () => {
      const all = written.join('');
      return all.slice(all.lastIndexOf('\r') + 1).replace(/\u001b\[K/g, '');
    },
  };
}

const MiB = 1024 * 1024;

describe('on a terminal', () => {
  it('shows the step, its phase, bytes of the total, rate, elapsed time and an ETA; erased when the step ends', () => {
    const t = reporter('tty');
    t.r.begin('restore', 'postgres/app/20261206T020000Z-3eb473c0.pgdump.age');
    t.r.update('restore', { phase: 'checking in full (pg_restore)', bytes: 0, total: 100 * MiB });
    t.tick(2000);
    t.r.update('restore', { bytes: 40 * MiB });
    // The backup file is named when chosen: the line names its component.
    expect(t.screen()).toBe('restore postgres/app: checking in full (pg_restore): 40.0 MiB of 100.0 MiB, 20.0 MiB/s, 2s, ETA 3s');
    t.r.end(true);
    expect(t.screen()).toBe('');
    expect(t.written.at(-1)).toBe('\r\u001b[K');
  });

  it('draws at most four times a second, and a new phase at once', () => {
    const t = reporter('tty');
    t.r.begin('backup', 'files/data');
    t.r.update('backup', { phase: 'tar', bytes: 1 });
    const drawn = t.written.length;
    for (let i = 2; i < 20; i++) {
      t.tick(10);
      t.r.update('backup', { bytes: i * MiB });
    }
    // 180 ms of updates: no redraw yet.
    expect(t.written.length).toBe(drawn);
    t.tick(100);
    t.r.update('backup', { bytes: 30 * MiB });
    expect(t.written.length).toBe(drawn + 1);
    t.r.update('backup', { phase: 'reading back the stored file', bytes: 0, total: 30 * MiB });
    expect(t.screen()).toMatch(/^backup files\/data: reading back the stored file: 0 bytes of 30\.0 MiB/);
  });

  it('estimates from the last backup of the component (~), and says when it is passed', () => {
    const t = reporter('tty');
    t.r.begin('backup', 'redis/default', { estimate: 10 * MiB });
    t.r.update('backup', { phase: 'waiting for Redis BGSAVE' });
    t.tick(4000);
    t.r.update('backup', {});
    expect(t.screen()).toBe('backup redis/default: waiting for Redis BGSAVE: 4s');
    t.r.update('backup', { phase: 'redis-cli', bytes: 0 });
    t.tick(1000);
    t.r.update('backup', { bytes: 5 * MiB });
    expect(t.screen()).toBe('backup redis/default: redis-cli: 5.0 MiB of ~10.0 MiB, 5.0 MiB/s, 5s, ETA 1s');
    t.tick(1000);
    t.r.update('backup', { bytes: 12 * MiB });
    expect(t.screen()).toMatch(/12\.0 MiB of ~10\.0 MiB, .*, more than the last backup$/);
  });

  it('work counted in items: how many of how many, with an ETA', () => {
    const t = reporter('tty');
    t.r.update('k8s restore', { item: 'Secrets', phase: 'applying', count: 0, of: 10 });
    t.tick(1000);
    t.r.update('k8s restore', { count: 5 });
    expect(t.screen()).toBe('k8s restore Secrets: applying: 5 of 10, 1s, ETA 1s');
  });

  it('a line longer than the terminal is cut to its width', () => {
    const t = reporter('tty', 40);
    t.r.begin('copy', 'vault copy');
    t.r.update('copy', { phase: `writing it to ${'/very/long/path/'.repeat(8)}` });
    expect(t.screen().length).toBeLessThan(40);
    expect(t.screen().endsWith('…')).toBe(true);
  });

  it('a name holding control characters is shown escaped: it cannot move the cursor or rewrite the line', () => {
    const t = reporter('tty');
    t.r.begin('restore', 'files/a/x.tar.age');
    t.r.update('restore', { phase: 'restoring into /srv/\u001b[2J\rhalf\nline', bytes: 0, total: 10 });
    expect(t.screen()).toBe('restore files/a/x.tar.age: restoring into /srv/\\e[2J\\rhalf\\nline: 0 bytes of 10 bytes, 0s');
  });

  it('clear() erases the line before other output, and the next update draws it again', () => {
    const t = reporter('tty');
    t.r.begin('verify', 'files/a/x.tar.age');
    t.r.update('verify', { phase: 'reading in full (tar)', bytes: 1, total: 2 });
    t.r.clear();
    expect(t.screen()).toBe('');
    t.r.update('verify', { bytes: 2 });
    expect(t.screen()).toMatch(/^verify files\/a\/x\.tar\.age: reading in full/);
  });
});

describe('with --json', () => {
  it('start, running at each new phase and at most once a second, then done: every event of one shape', () => {
    const t = reporter('json');
    t.r.begin('backup', 'files/data', { estimate: 1000 });
    t.r.update('backup', { phase: 'tar', bytes: 0 });
    for (let i = 1; i <= 30; i++) {
      t.tick(100);
      t.r.update('backup', { bytes: i * 100 });
    }
    t.r.update('backup', { phase: 'reading back the stored file', bytes: 0, total: 3000 });
    t.r.end(true);
    const ev = t.events();
    expect(ev.map((e) => e.state)).toEqual(['start', 'running', 'running', 'running', 'running', 'running', 'done']);
    expect(ev.map((e) => e.phase)).toEqual([null, 'tar', 'tar', 'tar', 'tar', 'reading back the stored file', 'reading back the stored file']);
    for (const e of ev)
      expect(Object.keys(e).sort()).toEqual(
        ['bytes', 'count', 'estimate', 'eta', 'item', 'of', 'phase', 'rate', 'seconds', 'state', 'step', 'total', 'type'].sort(),
      );
    expect(ev[2]).toMatchObject({ type: 'progress', step: 'backup', item: 'files/data', bytes: 1000, estimate: 1000, rate: 1000, seconds: 1 });
    expect(ev.at(-1)).toMatchObject({ state: 'done', total: 3000, seconds: 3 });
  });

  it('a name with control characters (C1, line and direction marks) is escaped in the event, as on a terminal', () => {
    const t = reporter('json');
    t.r.begin('restore', 'files/a\u009b2Jb\u202ec');
    t.r.update('restore', { phase: 'into /srv/x\u2028y\u0085z\u001b', bytes: 0 });
    t.r.end(true);
    const text = t.written.join('');
    expect(text).not.toMatch(/[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    const ev = t.events();
    expect(ev[0]!.item).toBe('files/a\\x9b2Jb\\u202ec');
    expect(ev.at(-1)!.phase).toBe('into /srv/x\\u2028y\\x85z\\e');
  });

  it('a phase ends where it got to: its last bytes are said before the next phase starts', () => {
    const t = reporter('json');
    t.r.begin('restore', 'files/a/x.tar.age');
    t.r.update('restore', { phase: 'checking in full (tar -t)', bytes: 0, total: 500 });
    t.tick(300);
    t.r.update('restore', { bytes: 500 });
    t.r.update('restore', { phase: 'restoring into /srv', bytes: 0, total: 500 });
    t.r.end(true);
    expect(t.events().map((e) => [e.state, e.phase, e.bytes])).toEqual([
      ['start', null, null],
      ['running', 'checking in full (tar -t)', 0],
      ['running', 'checking in full (tar -t)', 500],
      ['running', 'restoring into /srv', 0],
      ['done', 'restoring into /srv', 0],
    ]);
  });

  it('a new item ends the one before; a failure ends with failed', () => {
    const t = reporter('json');
    t.r.update('drill', { item: 'vault', phase: 'planning' });
    t.r.update('drill', { item: 'restore postgres/app', phase: 'running' });
    t.r.update('drill', { item: 'restore postgres/app', failed: true });
    t.r.update('drill', { item: 'run the checks', phase: 'running' });
    t.r.end(false);
    expect(t.events().map((e) => `${e.item}:${e.state}`)).toEqual([
      'vault:start',
      'vault:running',
      'vault:done',
      'restore postgres/app:start',
      'restore postgres/app:running',
      'restore postgres/app:failed',
      'run the checks:start',
      'run the checks:running',
      'run the checks:failed',
    ]);
  });
});

describe('in a pipe', () => {
  it('nothing is written', () => {
    const t = reporter('off');
    t.r.begin('backup', 'files/data');
    t.r.update('backup', { phase: 'tar', bytes: 5 });
    t.r.end(true);
    expect(t.written).toEqual([]);
  });

  it('the mode: --json wins, then a terminal on stderr, else off', () => {
    expect(progressMode({ stderrIsTTY: true }, true)).toBe('json');
    expect(progressMode({ stderrIsTTY: true }, false)).toBe('tty');
    expect(progressMode({ stderrIsTTY: false }, false)).toBe('off');
  });
});

describe('the library side', () => {
  it('counter tells the running total from zero; without a receiver it does nothing', () => {
    const seen: number[] = [];
    const add = counter((p) => seen.push(p.bytes!), { phase: 'x' });
    add(3);
    add(4);
    expect(seen).toEqual([0, 3, 7]);
    expect(() => counter(undefined, { phase: 'x' })(5)).not.toThrow();
  });

  it('sizes read as people write them', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(3.4 * 1024)).toBe('3.4 KiB');
    expect(formatBytes(172.1 * MiB)).toBe('172.1 MiB');
  });
});

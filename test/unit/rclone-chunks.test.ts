import { describe, expect, it } from 'vitest';
import { chunkFor, hintOf } from '../../src/dest/rclone.js';

/** Uploads of unknown size to S3: at most 10,000 parts, so the part size grows with the size hint. */
describe('the S3 part size of a streamed upload', () => {
  const GiB = 2 ** 30;
  it("keeps rclone's default (5 MiB parts, 48.8 GiB at most) up to 40 GiB, and without a hint", () => {
    expect(chunkFor(undefined)).toEqual([]);
    expect(chunkFor(0)).toEqual([]);
    expect(chunkFor(40 * GiB)).toEqual([]);
  });
  it('past 40 GiB, fits 1.5 times the hint in 9,000 parts', () => {
    for (const hint of [41 * GiB, 100 * GiB, 5 * 1024 * GiB]) {
      const [flag, value] = chunkFor(hint);
      expect(flag).toBe('--s3-chunk-size');
      const mib = Number(/^(\d+)M$/.exec(value!)![1]);
      expect(mib).toBeGreaterThan(5);
      expect((1.5 * hint) / (mib * 2 ** 20)).toBeLessThanOrEqual(9000);
    }
  });
});

describe("rclone's errors", () => {
  it('name AWS_CA_BUNDLE when the S3 backend cannot load it, and the remote otherwise', () => {
    expect(hintOf('Failed to create file system: LoadCustomCABundleError: unable to load custom CA bundle')).toContain('unset AWS_CA_BUNDLE');
    expect(hintOf("couldn't connect")).toContain('check the remote name');
  });
});

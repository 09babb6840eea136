import { sha256 as noble } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { sha256 as node } from '../../src/fs/node-sha2.js';

// The CLI bundle swaps @noble/hashes' sha256 for node:crypto's (build-cli.mjs); the recovery kit keeps noble's: they must agree.
it('the CLI bundle SHA-256 and the recovery kit SHA-256 give the same digests', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (data) => {
      expect(node(data)).toEqual(noble(data));
    }),
  );
});

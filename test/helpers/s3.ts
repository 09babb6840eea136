import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: s3rver ships no types
import S3rver from 's3rver';

/**
 * An S3-protocol server on the loopback (s3rver, a development dependency),
 * and the environment that names it to rclone as the remote `s3:`
 * (RCLONE_CONFIG_S3_*: rclone's S3 backend, path-style, the server's fixed
 * credentials). AWS_CA_BUNDLE is left out: rclone 1.60's S3 backend fails
 * at once when it is set.
 */
export interface S3 {
  port: number;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<S3> {
  const dir = mkdtempSync(join(tmpdir(), 'vt-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = (await server.run()) as { port: number };
  return {
    port,
    env: {
      RCLONE_CONFIG_S3_TYPE: 's3',
      RCLONE_CONFIG_S3_PROVIDER: 'Other',
      RCLONE_CONFIG_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      RCLONE_CONFIG_S3_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_S3_FORCE_PATH_STYLE: 'true',
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

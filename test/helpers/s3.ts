import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * An S3-protocol server on the loopback (s3rver, a development dependency,
 * in a child process: test/helpers/s3rver.mjs), and the environment that
 * names it to rclone as the remote `s3:` (RCLONE_CONFIG_S3_*: rclone's S3
 * backend, path-style, the server's fixed credentials). AWS_CA_BUNDLE is
 * left out: rclone 1.60's S3 backend fails at once when it is set.
 */
export interface S3 {
  port: number;
  env: Record<string, string>;
  /** The multipart uploads the server completed: bucket, key and number of parts. */
  multipart: { bucket: string; key: string; parts: number }[];
  close(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<S3> {
  const dir = mkdtempSync(join(tmpdir(), 'vt-s3-'));
  const child = spawn(process.execPath, [join(import.meta.dirname, 's3rver.mjs'), dir, ...buckets], { stdio: ['pipe', 'pipe', 'inherit'] });
  const multipart: S3['multipart'] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      let nl = out.indexOf('\n');
      while (nl >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (/^\d+$/.test(line)) resolve(Number(line));
        else multipart.push((JSON.parse(line) as { multipart: S3['multipart'][number] }).multipart);
        nl = out.indexOf('\n');
      }
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before it listened`)));
    child.once('error', reject);
  });
  return {
    port,
    multipart,
    env: {
      RCLONE_CONFIG_S3_TYPE: 's3',
      RCLONE_CONFIG_S3_PROVIDER: 'Other',
      RCLONE_CONFIG_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      RCLONE_CONFIG_S3_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_S3_FORCE_PATH_STYLE: 'true',
    },
    async close() {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

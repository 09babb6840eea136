// An S3-protocol server (s3rver) on the loopback, in a process of its own: a
// test that waits on rclone synchronously must not stop the server answering.
// argv: DIR BUCKET…; prints the port once it listens; stops on SIGTERM or when stdin closes.
import { createRequire } from 'node:module';
import S3rver from 's3rver';

// s3rver 3.7.1 lists a prefix with a delimiter by walking its folders, and
// stops one level down: a common prefix whose objects all lie two levels
// or more below it (vault/ holding only vault/bucket/p/FILE) is not
// returned, where S3 returns it. Listed here in full, then grouped as S3
// groups keys: every key with the delimiter past the prefix is one common
// prefix, the others are objects (at most max-keys of them).
const FilesystemStore = createRequire(import.meta.url)('s3rver/lib/stores/filesystem.js');
const listAll = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const { delimiter = '', prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
  if (!delimiter) return listAll.call(this, bucket, options);
  const all = await listAll.call(this, bucket, { ...options, delimiter: '', maxKeys: Number.POSITIVE_INFINITY });
  const commonPrefixes = new Set();
  const objects = [];
  let isTruncated = false;
  for (const o of all.objects) {
    const at = o.key.slice(prefix.length).indexOf(delimiter);
    if (at !== -1) commonPrefixes.add(o.key.slice(0, prefix.length + at + 1));
    else if (objects.length < maxKeys) objects.push(o);
    else {
      isTruncated = true;
      break;
    }
  }
  return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
};

// Each multipart upload completed, as a line on stdout: a test sees that a stream went up in parts.
const completeMultipart = FilesystemStore.prototype.putObjectMultipart;
FilesystemStore.prototype.putObjectMultipart = async function putObjectMultipart(bucket, uploadId, parts) {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const key = readFileSync(join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, 'key'), 'utf8');
  const result = await completeMultipart.call(this, bucket, uploadId, parts);
  process.stdout.write(`${JSON.stringify({ multipart: { bucket, key, parts: parts.length } })}\n`);
  return result;
};

const [dir, ...buckets] = process.argv.slice(2);
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
const { port } = await server.run();
process.stdout.write(`${port}\n`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();

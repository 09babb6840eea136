#!/usr/bin/env node
'use strict';
// The installed entry point. The CLI is one CommonJS file, dist/cli.cjs, and
// dist/cli.cjs.cache holds V8's compiled code for it, made when vault-tool
// was built (build-cli.mjs): compiling with it spares most of the start-up.
// The cache is used only when it was made from these very bytes: it begins
// with the SHA-256 of the bundle and of the V8 data after it (V8 itself
// checks no more than the source's length, its version and its flags, and
// does not checksum the data). Any other cache, or none, is a plain compile.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const BUNDLE = join(__dirname, '..', 'dist', 'cli.cjs');
const DIGEST = 32;
/** Far more than any cache the build makes (under 1 MiB): a larger file is not one. */
const MAX_CACHE = 64 << 20;

/** The bundle's text as compiled: the CommonJS wrapper around the file. */
const wrap = (code) => `(function (exports, require, module, __filename, __dirname) {${code}\n})`;

/**
 * The cache file's bytes when it is a regular file of a cache's size, else
 * undefined. Opened without blocking: a named pipe there would otherwise
 * hang every start, and a device (a link to /dev/zero) be read forever.
 */
function readCache(cacheFile) {
  const fs = require('node:fs');
  let fd;
  try {
    fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    return st.isFile() && st.size <= MAX_CACHE ? fs.readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The cache file's V8 data when its digest is that of `code` and the data; else undefined. */
function cacheFor(code, cacheFile) {
  const cache = readCache(cacheFile);
  if (cache === undefined || cache.length <= DIGEST) return undefined;
  const data = cache.subarray(DIGEST);
  const digest = require('node:crypto').createHash('sha256').update(code).update(data).digest();
  return digest.equals(cache.subarray(0, DIGEST)) ? data : undefined;
}

/**
 * Compiles and runs the bundle as a CommonJS module: its exports, the
 * script (build-cli.mjs makes the cache from it), and what became of the
 * cache: 'used', 'refused' (not this bundle's), 'rejected' (by V8) or
 * 'absent'.
 */
function load(file = BUNDLE, cacheFile = file + '.cache', useCache = true) {
  const vm = require('node:vm');
  const code = readFileSync(file);
  const cachedData = useCache ? cacheFor(code, cacheFile) : undefined;
  // The bundle has no import(): what it loads from outside, it loads with require() (build-cli.mjs).
  const script = new vm.Script(wrap(code.toString('utf8')), { filename: file, cachedData });
  const cache =
    cachedData === undefined ? (useCache && require('node:fs').existsSync(cacheFile) ? 'refused' : 'absent') : script.cachedDataRejected ? 'rejected' : 'used';
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require('node:module').createRequire(file), mod, file, join(file, '..'));
  return { exports: mod.exports, script, cache };
}

/** The bundle's exports; a bundle that is not there (a clone installed without its build) is said in one line, exit 5, no stack. */
function loadOrSay() {
  try {
    return load().exports;
  } catch (e) {
    if (e.code !== 'ENOENT' || e.path !== BUNDLE) throw e;
    process.stderr.write(
      `vault-tool: error: vault-tool is not built: ${BUNDLE} is missing\n` +
        'vault-tool: hint: run `npm run build` in its folder (npm install builds it, unless install scripts were turned off); a copy of bin/vault-tool.js alone does not run: link to it (ln -s) instead\n',
    );
    process.exit(5);
  }
}

function main() {
  const { run } = loadOrSay();
  // A closed pipe (vault-tool list | head) is not an error worth a stack.
  process.stdout.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1));
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(130));
  // As when run() was awaited at the top level of an ES module: a run that never settles (the event loop emptied under it) exits 13.
  const unsettled = () => {
    process.exitCode ??= 13;
  };
  process.on('exit', unsettled);
  run(process.argv.slice(2))
    .finally(() => process.off('exit', unsettled))
    .then((code) => {
      process.exitCode = code;
    });
}

if (require.main === module) main();
else module.exports = { load, BUNDLE };

#!/usr/bin/env node
// The installed entry point: the bundled CLI in dist/ (built by `npm run build`, run on install).
import { run } from '../dist/cli.js';

// A closed pipe (vault-tool list | head) is not an error worth a stack.
process.stdout.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(130));
process.exitCode = await run(process.argv.slice(2));

// Run as the first process of a PID namespace of its own (the test starts it
// under unshare), where this process may choose the next pid: starts tools in
// their own groups (startTool) and waits for them to exit, then has the
// kernel give an exited tool's id to a new process leading a group of its
// own, and exits the way bin/vault-tool.js does on SIGTERM (process.exit runs
// the cleanups). Prints the tool's pid, the new process's pid and the pid of
// what another tool left running in its group, with that one's state once
// the tool had exited (Z: killed, not yet reaped).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { startTool } from '../../../src/tool/run.js';

const env = { PATH: process.env.PATH };
const state = (pid: string) => /^State:\s*(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

// A tool that leaves a process of its own in its group.
const leaves = startTool('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], { env, stdoutSays: true });
await leaves.exited;
const left = leaves.said().trim();
await new Promise((r) => setTimeout(r, 100));
const leftState = state(left);

// A tool that leaves nothing: once it has exited its id is free.
const run = startTool('sh', ['-c', 'exit 0'], { env });
await run.exited;
const tool = run.child.pid!;
writeFileSync('/proc/sys/kernel/ns_last_pid', String(tool - 1));
const other = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
process.stdout.write(`${tool} ${other.pid} ${left} ${leftState}\n`);
process.exit(130);

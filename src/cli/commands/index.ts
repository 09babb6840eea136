import type { CommandSpec } from '../lazy.js';

/** Every top-level command, in help order. Each file is loaded only when its command runs. */
export const COMMANDS: CommandSpec[] = [
  { name: 'init', summary: 'create a new vault key (vault.key) and an empty vault (secrets.vault)', load: () => import('./init.js') },
  { name: 'add', args: '<name>', summary: 'add an entry (or, with --update, a new version of one)', load: () => import('./add.js') },
  {
    name: 'get',
    args: '<ref>',
    summary: 'write an entry value (NAME or NAME@VERSION) to a file, a pipe, or with --reveal the terminal',
    load: () => import('./get.js'),
  },
  {
    name: 'run',
    args: '<command...>',
    summary:
      "run a command with entries in its environment (--env NAME=ENTRY) or on a descriptor (--fd N=ENTRY), never on its command line; exits with the command's code",
    load: () => import('./run.js'),
  },
  {
    name: 'list',
    aliases: ['ls'],
    summary: 'open and fully authenticate the vault, then list entries (names, types, versions, fingerprints, dates; never values)',
    load: () => import('./list.js'),
  },
  { name: 'history', args: '<name>', summary: 'list every version of an entry (values are kept for old backups)', load: () => import('./history.js') },
  { name: 'rotate', args: '<name>', summary: 'store a newly generated value as the next version (the old version is kept)', load: () => import('./rotate.js') },
  { name: 'rm', args: '<name>', summary: 'remove an entry; its history is kept unless --purge', load: () => import('./rm.js') },
  { name: 'rekey', summary: 'replace the vault key in two steps: rekey writes <key>.new, rekey --confirm switches to it', load: () => import('./rekey.js') },
  { name: 'recipients', summary: 'extra age recipients the vault is also encrypted to (escrow copies)', load: () => import('./recipients.js') },
  { name: 'import', summary: 'import secrets from other formats', load: () => import('./import.js') },
  { name: 'export', summary: 'export secrets to other formats', load: () => import('./export.js') },
  {
    name: 'fingerprint',
    args: '<ref>',
    summary: 'compare an entry with a deployed value without printing it, or print its SHA-256 for sha256sum',
    load: () => import('./fingerprint.js'),
  },
  { name: 'types', summary: 'list the entry types, their rules and whether they can be generated', load: () => import('./types.js') },
  { name: 'escrow', summary: 'split the vault key among custodians (Shamir), check shares, recover the key', load: () => import('./escrow.js') },
  { name: 'evidence', summary: 'the evidence log kept next to the vault (ceremonies, restores, verifications)', load: () => import('./evidence.js') },
  {
    name: 'copy',
    summary: 'make a dated copy of the vault (and, elsewhere, of its key), verified and registered for later checks',
    load: () => import('./copy.js'),
  },
  {
    name: 'verify',
    summary: 'the quarterly verification: entries, evidence, copies, production drift, canaries, backups, shares; a report and an evidence record',
    load: () => import('./verify.js'),
  },
  {
    name: 'canary',
    summary: 'test messages encrypted with the key as production holds it, which verify decrypts with the escrowed key',
    load: () => import('./canary.js'),
  },
  { name: 'status', summary: 'last verification and drill, next due date, copies, escrow; Prometheus metrics', load: () => import('./status.js') },
  {
    name: 'schedule',
    summary: 'print every recurring job of a schedule plan (backups, prune, the full read, verify, the drill, metrics) for cron, systemd or Kubernetes',
    load: () => import('./schedule.js'),
  },
  {
    name: 'drill',
    summary: "the disaster-recovery drill: from custodians' shares to secrets and data restored into scratch targets and checked, timed against the RTO",
    load: () => import('./drill.js'),
  },
  {
    name: 'backup',
    summary: 'encrypted, verified, retained backups of PostgreSQL, Redis, files, Kubernetes and any dump command, whose keys the vault holds',
    load: () => import('./backup/index.js'),
  },
  {
    name: 'kit',
    summary: 'write the recovery kit: one HTML file that rebuilds the vault key from shares and opens the vault in a browser, offline',
    load: () => import('./kit.js'),
  },
  { name: 'k8s', summary: 'Kubernetes Secrets: import, export, restore by plan, compare, RBAC', load: () => import('./k8s/index.js') },
  {
    name: 'completion',
    args: '[shell]',
    summary: 'print the shell completion script for bash, zsh or fish (commands, options, entry names; never values)',
    load: () => import('./completion.js'),
  },
  { name: 'demo', summary: 'run a self-contained demonstration in a temporary folder', load: () => import('./demo.js') },
];

import type { BuildOptions } from 'esbuild';

/** esbuild's options for the CLI bundle (build-cli.mjs). */
export function cliOptions(outfile: string, options?: { minify?: boolean }): BuildOptions;
/** Runs the training commands with the bundle and writes its code cache; returns the V8 data's length. */
export function makeCodeCache(bundle: string, cacheFile: string, steps?: { args: string[]; optional?: boolean }[]): number;
export function buildCli(): Promise<void>;

import type { BuildOptions } from 'esbuild';

/** esbuild's options for the CLI bundle (build-cli.mjs). */
export function cliOptions(outfile: string, options?: { minify?: boolean }): BuildOptions;
export interface Step {
  args: string[];
  optional?: boolean;
}
/** Runs the set-up, then the training commands with the bundle and writes its code cache; returns the V8 data's length. */
export function makeCodeCache(bundle: string, cacheFile: string, steps?: { setup?: Step[]; training?: Step[] }): number;
export function buildCli(): Promise<void>;

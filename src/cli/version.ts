import pkg from '../../package.json' with { type: 'json' };

/** The package's version, bundled from package.json at build time: the one place it is written. */
export const VERSION: string = pkg.version;

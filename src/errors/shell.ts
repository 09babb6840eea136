/**
 * A word as sh reads it: left as it is when sh would read it so, else in
 * single quotes. Every command a message or a hint gives to copy (a path
 * with a space, a database named "my db") and every script vault-tool
 * writes quotes its words with this one function.
 */
const SAFE = /^[A-Za-z0-9_./:=@+,-]+$/;

export const shellWord = (a: string): string => (SAFE.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);

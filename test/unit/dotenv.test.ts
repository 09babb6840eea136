import { describe, expect, it } from 'vitest';
import { envNameFor, formatDotenvValue, parseDotenv } from '../../src/vault/dotenv.js';

describe('dotenv', () => {
  it('parses the forms .env files use', () => {
    const text = [
      '# comment',
      '',
      'A=plain',
      'export B=exported',
      'C = spaced  # trailing comment',
      "D='single $literal \\n kept'",
      'E="double\\nescaped \\"q\\" \\\\ \\$HOME"',
      'F="multi',
      'line"',
      'G=',
      'H=a#b',
      'I="x" # ok',
      'J=value\r',
    ].join('\n');
    expect(parseDotenv(text).map((p) => [p.key, p.value, p.line])).toEqual([
      ['A', 'plain', 3],
      ['B', 'exported', 4],
      ['C', 'spaced', 5],
      ['D', 'single $literal \\n kept', 6],
      ['E', 'double\nescaped "q" \\ $HOME', 7],
      ['F', 'multi\nline', 8],
      ['G', '', 10],
      ['H', 'a#b', 11],
      ['I', 'x', 12],
      ['J', 'value', 13],
    ]);
  });

  it('reports the line of a malformed entry', () => {
    expect(() => parseDotenv('A=1\nnot a pair\n')).toThrow('dotenv line 2: expected KEY=value');
    expect(() => parseDotenv('A=1\nB="open\n\n')).toThrow('dotenv line 2: unterminated double-quoted value for B');
    expect(() => parseDotenv('1A=x')).toThrow('dotenv line 1: invalid variable name "1A"');
    expect(() => parseDotenv('A="x" trailing')).toThrow('unexpected text after the closing quote of A');
  });

  it('formats values that parse back exactly', () => {
    for (const v of ['plain', 'with space', "it's", 'multi\nline', 'tab\tand "quotes" and \\ and $VAR', '', 'a#b', ' lead']) {
      expect(parseDotenv(`K=${formatDotenvValue(v)}\n`)[0]!.value, JSON.stringify(v)).toBe(v);
    }
  });

  it('derives variable names from entry names', () => {
    expect(envNameFor('infisical/encryption-key')).toBe('ENCRYPTION_KEY');
    expect(envNameFor('x/9lives')).toBe('_9LIVES');
    expect(envNameFor('anything', 'AUTH_SECRET')).toBe('AUTH_SECRET');
  });
});

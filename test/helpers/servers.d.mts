export interface Postgres {
  env: Record<string, string>;
  bin: string;
  sql(sql: string, db?: string): string;
  stop(): void;
}
export interface Redis {
  port: number;
  dir: string;
  cli(...args: string[]): string;
  stop(): void;
}
export function freePort(): Promise<number>;
export function havePostgres(): boolean;
export const haveRedis: () => boolean;
export function startPostgres(): Promise<Postgres>;
export function startRedis(dir?: string): Promise<Redis>;

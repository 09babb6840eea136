export interface Postgres {
  env: Record<string, string>;
  bin: string;
  dir: string;
  data: string;
  port: number;
  log(): string;
  sql(sql: string, db?: string): string;
  stop(): void;
}
export interface PostgresOn {
  env: Record<string, string>;
  bin: string;
  port: number;
  data: string;
  log(): string;
  sql(sql: string, db?: string): string;
  stop(): void;
}
export interface Redis {
  port: number;
  dir: string;
  cli(...args: string[]): string;
  fill(n: number): void;
  stop(): void;
}
export function freePort(): Promise<number>;
export function havePostgres(): boolean;
export const haveRedis: () => boolean;
export function startPostgres(opts?: { initdb?: string[]; conf?: Record<string, string | number>; env?: NodeJS.ProcessEnv }): Promise<Postgres>;
export function startRedis(dir?: string): Promise<Redis>;
export function startPostgresOn(data: string, socketDir: string, opts?: { wait?: boolean }): Promise<PostgresOn>;
export function asPostgres(cmd: string, args: string[], opts?: { input?: string | Buffer }): Buffer;
export function postgresOwner(): { uid: number; gid: number } | null;
export function postgresFolder(path: string): string;

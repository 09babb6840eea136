/// <reference lib="dom" />
/** The recovery kit's small DOM helpers: elements by id, messages, files in and out. Nothing here keeps state. */
import { VaultError } from '../errors/errors.js';

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

export const message = (e: unknown) =>
  e instanceof VaultError ? e.message + (e.hint ? `\nhint: ${e.hint}` : '') : e instanceof Error ? `unexpected error: ${e.message}` : String(e);
export const setText = (id: string, text: string) => {
  $(id).textContent = text;
};

export async function fileBytes(input: HTMLInputElement, index = 0): Promise<{ name: string; bytes: Uint8Array } | null> {
  const f = input.files?.[index];
  return f ? { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) } : null;
}

export function download(name: string, bytes: Uint8Array | string, type = 'application/octet-stream') {
  const blob = new Blob([typeof bytes === 'string' ? bytes : (bytes as Uint8Array<ArrayBuffer>)], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

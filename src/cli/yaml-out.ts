import { stringify } from 'yaml';

/** A command's result as YAML (-o yaml): block style, long strings never folded. Loaded only when asked for. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

import { VaultError } from '../errors/errors.js';

/** A component's own name (the part after its folder): no `.` or `..`, no leading dot, no `/`, at most 100 characters. */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Whether `name` may follow the folder in a component name. */
export const isComponentName = (name: string): boolean => NAME.test(name) && name.length <= 100;

/**
 * A component name as a path in a repository: `FOLDER/NAME`, both parts
 * names as above, so no write reaches outside the component's folder, hides
 * or nests deeper than listing looks. (Which folders exist is the kinds'
 * registry's to say: `component.ts`, checked before anything runs.)
 */
export function checkComponentPath(c: string): string {
  const parts = c.split('/');
  if (parts.length !== 2 || !parts.every(isComponentName)) throw new VaultError('usage', `invalid component path ${JSON.stringify(c)}`);
  return c;
}

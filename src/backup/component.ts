import { VaultError } from '../errors/errors.js';
import { FOLDERS } from './kinds/folders.js';
import { isComponentName } from './names.js';

export { isComponentName } from './names.js';

/**
 * The one check of a component name, FOLDER/NAME (postgres/app,
 * files/config), FOLDER one of the kinds' folders: every folder a backup
 * writes goes through it before anything runs, so no name reaches outside
 * its kind's folder, hides (a leading dot) or nests deeper than listing
 * looks.
 */
export function checkComponent(c: string): string {
  const [kind, name, ...more] = c.split('/');
  if (more.length || !kind || !FOLDERS.includes(kind) || name === undefined || !isComponentName(name)) {
    throw new VaultError(
      'usage',
      `invalid component name ${JSON.stringify(c)}: KIND/NAME, KIND one of ${FOLDERS.join(', ')}, NAME of lowercase letters, digits, . _ - starting with a letter or a digit (as postgres/app)`,
    );
  }
  return c;
}

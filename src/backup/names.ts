/** A component's own name (the part after its folder): no `.` or `..`, no leading dot, no `/`, at most 100 characters. */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Whether `name` may follow the folder in a component name. */
export const isComponentName = (name: string): boolean => NAME.test(name) && name.length <= 100;

/**
 * Freezes an object and everything reachable from it (plain objects and arrays): a
 * validated config is read, never changed, by the code it is passed down to.
 */
export function deepFreeze<T>(value: T): Readonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

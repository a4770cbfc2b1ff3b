/** True for a JSON object (not null, not an array): the first check of every untrusted JSON value npad reads. */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Type guards for untrusted JSON, shared by every module that validates input at the boundary. */

/** True for a plain JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A value found where another was expected, for messages (`must be a string, not …`): `missing`,
 * `null`, `the string "x"`, `the number 3`, `the boolean true`, `an array`, `the date …` (TOML),
 * `an object`.
 */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v)}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'an invalid date' : `the date ${v.toISOString()}`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

/**
 * `JSON.stringify(v)` for messages, for any value: one that JSON cannot write (a BigInt, a cycle,
 * `undefined`, a function) is described by {@link describeValue} instead, so building a message
 * about bad input never throws.
 */
export function jsonText(v: unknown): string {
  try {
    return JSON.stringify(v) ?? describeValue(v);
  } catch {
    return describeValue(v);
  }
}

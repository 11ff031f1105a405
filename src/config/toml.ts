/**
 * TOML for the host configuration files (storage.conf, registries.conf): parsing with smol-toml
 * into plain tables, errors as `CONFIG` naming the file (with line and column), and the type
 * checks both readers share.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { OcikitError } from '../errors.js';
import { describeValue } from '../internal/guards.js';

/** A parsed TOML table. */
export type TomlTable = Record<string, unknown>;

/**
 * Parses `text`, the content of `file`.
 * @throws OcikitError `CONFIG`: `FILE: line L, column C: invalid TOML: REASON`.
 */
export function parseTomlDocument(text: string, file: string): TomlTable {
  try {
    return parseToml(text) as TomlTable;
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
      throw new OcikitError('CONFIG', `${file}: line ${err.line}, column ${err.column}: invalid TOML: ${reason}`, {
        cause: err,
      });
    }
    throw new OcikitError('CONFIG', `${file}: invalid TOML: ${String(err)}`, { cause: err });
  }
}

/** True for a TOML table (not an array, a date or another value). */
export function isTomlTable(v: unknown): v is TomlTable {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype; // smol-toml makes tables without a prototype
}

/** `FILE: KEY must be WANT, not GOT` as a `CONFIG` error. */
export function tomlTypeError(file: string, key: string, want: string, got: unknown): OcikitError {
  return new OcikitError('CONFIG', `${file}: ${key} must be ${want}, not ${describeValue(got)}`);
}

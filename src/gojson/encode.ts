/**
 * Go `encoding/json` encoding: `json.Marshal` of a value decoded by ./decode.ts, for the same type
 * declarations, byte for byte as Go 1.19 (skopeo 1.9.3) writes it (the rules are in the TSDoc of
 * {@link encodeGo}).
 */
import { GoJSONError } from './parse.js';
import { type GoStruct, type GoTime, type GoType, ZERO_TIME } from './decode.js';

const HEX = '0123456789abcdef';

/** Encodes `s` as a JSON string exactly as Go 1.19's `json.Marshal` does (HTML-safe escaping). */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      if (c === 0x22) rep = '\\"';
      else if (c === 0x5c) rep = '\\\\';
      else if (c === 0x0a) rep = '\\n';
      else if (c === 0x0d) rep = '\\r';
      else if (c === 0x09) rep = '\\t';
      else rep = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    } else if (c === 0x2028 || c === 0x2029) {
      rep = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: kept as is
        continue;
      }
      rep = '\ufffd';
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return `${out}${s.slice(start)}"`;
}

/** Formats a time as Go's `time.RFC3339Nano` (what `MarshalJSON` writes, without the quotes). */
export function formatGoTime(t: GoTime): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  let s = `${p(t.year, 4)}-${p(t.month)}-${p(t.day)}T${p(t.hour)}:${p(t.minute)}:${p(t.second)}`;
  if (t.nanos !== 0) s += `.${p(t.nanos, 9).replace(/0+$/, '')}`;
  if (t.offset === 0) return `${s}Z`;
  const a = Math.abs(t.offset);
  return `${s}${t.offset < 0 ? '-' : '+'}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Encodes `value` (as ./decode.ts represents a value of Go type `type`; `undefined` is the zero
 * value) the way `json.Marshal` does:
 * - struct fields in declaration order; `omitempty` drops `""`, `false`, `0`, nil pointers and
 *   interfaces, and nil or empty slices and maps, but never a struct (so `"config":{}` stays) and
 *   never a field without the option (so a nil slice is written `null`);
 * - map keys sorted by their UTF-8 bytes;
 * - strings escaped as Go does with HTML escaping on: `<`, `>`, `&` become `\u003c` `\u003e`
 *   `\u0026`, U+2028/U+2029 become `\u2028`/`\u2029`, control characters other than `\n` `\r`
 *   `\t` become `\u00XX`, a lone surrogate becomes U+FFFD;
 * - `time.Time` as its `MarshalJSON`: RFC 3339 with nanoseconds, trailing zeros of the fraction
 *   trimmed, a zero offset as `Z`, and an error for a year outside 0–9999;
 * - `[]byte` as standard padded base64.
 * `interface{}` and `json.RawMessage` values are not encoded (ocikit never writes them).
 * @throws GoJSONError `type` where Go fails (a time whose year is outside 0–9999).
 */
export function encodeGo(value: unknown, type: GoType): string {
  switch (type.kind) {
    case 'string':
      return goJsonString(typeof value === 'string' ? value : '');
    case 'bool':
      return value === true ? 'true' : 'false';
    case 'int':
      return String(typeof value === 'bigint' ? value : 0n);
    case 'time': {
      const t = (value as GoTime | undefined) ?? ZERO_TIME;
      if (t.year < 0 || t.year > 9999) {
        throw new GoJSONError('type', `Time.MarshalJSON: year ${t.year} outside of range [0,9999]`);
      }
      return `"${formatGoTime(t)}"`;
    }
    case 'bytes':
      return value instanceof Uint8Array ? `"${Buffer.from(value).toString('base64')}"` : 'null';
    case 'ptr':
      return value === undefined ? 'null' : encodeGo(value, type.elem);
    case 'slice':
      if (!Array.isArray(value)) return 'null';
      return `[${value.map((e: unknown) => encodeGo(e, type.elem)).join(',')}]`;
    case 'map': {
      if (!(value instanceof Map)) return 'null';
      const m = value as Map<string, unknown>;
      const keys = [...m.keys()].sort(compareUtf8);
      return `{${keys.map((k) => `${goJsonString(k)}:${encodeGo(m.get(k), type.elem)}`).join(',')}}`;
    }
    case 'struct': {
      const obj = (value ?? {}) as GoStruct;
      const parts: string[] = [];
      for (const [name, fieldType] of Object.entries(type.fields)) {
        const v = obj[name];
        if (type.omitEmpty.has(name) && isEmptyValue(v, fieldType)) continue;
        parts.push(`${goJsonString(name)}:${encodeGo(v, fieldType)}`);
      }
      return `{${parts.join(',')}}`;
    }
    case 'any':
    case 'raw':
      throw new Error(`encoding a Go ${type.kind === 'any' ? 'interface{}' : 'json.RawMessage'} is not implemented`);
  }
}

/** Go's `isEmptyValue`, which `omitempty` consults: structs (and so `time.Time`) are never empty. */
function isEmptyValue(v: unknown, type: GoType): boolean {
  switch (type.kind) {
    case 'string':
      return v === undefined || v === '';
    case 'bool':
      return v !== true;
    case 'int':
      return v === undefined || v === 0n;
    case 'slice':
      return !Array.isArray(v) || v.length === 0;
    case 'map':
      return !(v instanceof Map) || v.size === 0;
    case 'bytes':
      return !(v instanceof Uint8Array) || v.length === 0;
    case 'ptr':
    case 'any':
    case 'raw':
      return v === undefined;
    case 'struct':
    case 'time':
      return false;
  }
}

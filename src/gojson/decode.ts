/**
 * Go `encoding/json` decoding: `json.Unmarshal` of a parsed tree (./parse.ts) into the Go types
 * ocikit needs, described with the small type language {@link T}, as Go 1.19 (skopeo 1.9.3)
 * does. The rules where Go differs from a plain JSON reading are in the TSDoc of {@link decodeGo}.
 */
import { GoJSONError, type GoNode, NULL_NODE } from './parse.js';
import { STD_ALPHABET, goBase64Decode } from './base64.js';

/** The Go types ocikit decodes into. */
export type GoType =
  | { readonly kind: 'string' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'int' } // int / int64
  | { readonly kind: 'time' } // time.Time
  | { readonly kind: 'any' } // interface{}: any value; numbers must fit float64
  | { readonly kind: 'raw' } // json.RawMessage: any value, kept as a node (null included)
  | { readonly kind: 'bytes' } // []byte
  | { readonly kind: 'slice'; readonly elem: GoType }
  | { readonly kind: 'map'; readonly elem: GoType } // map[string]T
  | GoStructType
  | { readonly kind: 'ptr'; readonly elem: GoType };

/** A Go struct: its fields by JSON name, in declaration order, and which of them are `omitempty`. */
export interface GoStructType {
  readonly kind: 'struct';
  readonly fields: Readonly<Record<string, GoType>>;
  readonly omitEmpty: ReadonlySet<string>;
}

/**
 * Declares a struct. Each key is a Go JSON tag: the field name, optionally followed by
 * `,omitempty` (only encoding reads it). Keys keep declaration order, which is the order
 * `json.Marshal` writes; so a name that is an array index (which JavaScript would reorder) is refused.
 */
function struct(tagged: Record<string, GoType>): GoStructType {
  const fields: Record<string, GoType> = {};
  const omitEmpty = new Set<string>();
  for (const [tag, type] of Object.entries(tagged)) {
    const [name = '', ...options] = tag.split(',');
    if (/^(0|[1-9][0-9]*)$/.test(name) || options.some((o) => o !== 'omitempty')) {
      throw new Error(`unsupported Go JSON field tag ${JSON.stringify(tag)}`);
    }
    fields[name] = type;
    if (options.length > 0) omitEmpty.add(name);
  }
  return { kind: 'struct', fields, omitEmpty };
}

/** Type constructors, for readable type declarations. */
export const T = {
  string: { kind: 'string' } as const,
  bool: { kind: 'bool' } as const,
  int: { kind: 'int' } as const,
  time: { kind: 'time' } as const,
  any: { kind: 'any' } as const,
  raw: { kind: 'raw' } as const,
  bytes: { kind: 'bytes' } as const,
  slice: (elem: GoType): GoType => ({ kind: 'slice', elem }),
  map: (elem: GoType): GoType => ({ kind: 'map', elem }),
  struct,
  ptr: (elem: GoType): GoType => ({ kind: 'ptr', elem }),
};

/**
 * A decoded struct: the fields that were set, by their Go JSON name. A missing field has Go's zero
 * value. Field values are: `string`; `boolean`; `bigint` for ints; {@link GoTime}; a
 * {@link GoNode} for `any` and `raw`; `Uint8Array` for bytes; arrays for slices (an element may be
 * `undefined`: its zero value); `Map` for maps; {@link GoStruct} for structs and non-nil pointers.
 * A nil slice, map, pointer or interface is absent.
 */
export type GoStruct = { [field: string]: unknown };

/** A decoded Go `time.Time`: the wall clock as written and its offset. */
export interface GoTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** Nanoseconds, 0..999999999. */
  readonly nanos: number;
  /** Offset east of UTC in minutes. */
  readonly offset: number;
}

/** Go's zero `time.Time` (`0001-01-01T00:00:00Z`). */
export const ZERO_TIME: GoTime = { year: 1, month: 1, day: 1, hour: 0, minute: 0, second: 0, nanos: 0, offset: 0 };

/**
 * Decodes `node` into a value of Go type `type`, as `json.Unmarshal` into a zero value would:
 * - Struct fields match object keys exactly first, then case-insensitively (ASCII folding plus the
 *   two non-ASCII letters that fold onto ASCII: U+017F `ſ` onto `S` and U+212A Kelvin onto `K`).
 *   Unknown keys are ignored. Repeated keys are decoded in order into what is already there: a
 *   struct or map merges, a slice decodes element by element into its old elements (including the
 *   ones past its length that an earlier, longer array left in the backing array), so the last
 *   key wins only where it sets something.
 * - `null` leaves a string, bool, int, struct or `time.Time` as it was and clears a slice, map,
 *   pointer or interface.
 * - Any type mismatch is an error. Go keeps decoding after one and reports it at the end; every
 *   caller in ocikit (like every caller in c/image and libtrust) discards the result on error, so
 *   the first mismatch is thrown at once.
 * - `[]byte` targets take standard base64 with padding, skipping CR and LF, like `encoding/base64`.
 * - `time.Time` is its `UnmarshalJSON`: `time.Parse` of the *raw* literal with the layout
 *   `"RFC3339"`, so a string with an escape fails, a one-digit hour and a `,` before the fraction
 *   are accepted, fraction digits beyond nanoseconds are dropped, and the offset is any `±hh:mm`
 *   of two-digit fields (not range-checked).
 * @throws GoJSONError `type` on any mismatch Go reports.
 */
export function decodeGo(node: GoNode, type: GoType): unknown {
  return decodeInto(node, type, undefined, '');
}

function mismatch(node: GoNode, type: GoType, path: string): never {
  const what = node.kind === 'number' ? `number ${node.text}` : node.kind;
  const target = type.kind === 'int' ? 'int64' : type.kind === 'bytes' ? '[]byte' : type.kind;
  throw new GoJSONError(
    'type',
    `cannot unmarshal ${what} into Go ${path ? `value ${path} of type` : 'value of type'} ${target}`,
  );
}

/**
 * The backing array of each decoded slice, when it is longer than the slice: Go decodes a repeated
 * array key into the old backing array, so elements an earlier, longer array set show through.
 */
const BACKING = new WeakMap<readonly unknown[], readonly unknown[]>();

function decodeInto(node: GoNode, type: GoType, current: unknown, path: string): unknown {
  switch (type.kind) {
    case 'string':
      if (node.kind === 'null') return current;
      if (node.kind !== 'string') mismatch(node, type, path);
      return node.value;
    case 'bool':
      if (node.kind === 'null') return current;
      if (node.kind !== 'bool') mismatch(node, type, path);
      return node.value;
    case 'int':
      if (node.kind === 'null') return current;
      if (node.kind !== 'number') mismatch(node, type, path);
      return parseInt64(node, type, path);
    case 'time':
      if (node.kind === 'null') return current;
      // time.Parse sees the raw literal: anything but an unescaped string fails to parse.
      if (node.kind !== 'string' || node.escaped) {
        throw new GoJSONError('type', `${path || 'value'}: parsing time: not an RFC 3339 time string`);
      }
      return parseGoTime(node.value, path || 'value');
    case 'any':
      if (node.kind === 'null') return undefined;
      checkFloats(node, path);
      return node;
    case 'raw':
      return node;
    case 'bytes':
      if (node.kind === 'null') return undefined;
      if (node.kind === 'string') {
        try {
          return goBase64Decode(node.value, STD_ALPHABET);
        } catch (err) {
          throw new GoJSONError('type', `${path}: ${(err as Error).message}`);
        }
      }
      if (node.kind === 'array') {
        return Uint8Array.from(node.items, (item, k) => {
          if (item.kind === 'null') return 0;
          if (item.kind !== 'number' || !/^(0|[1-9][0-9]{0,2})$/.test(item.text) || Number(item.text) > 255) {
            mismatch(item, T.int, `${path}[${k}]`);
          }
          return Number(item.text);
        });
      }
      return mismatch(node, type, path);
    case 'slice': {
      if (node.kind === 'null') return undefined;
      if (node.kind !== 'array') mismatch(node, type, path);
      if (node.items.length === 0) return []; // Go makes a new, empty slice
      const old = Array.isArray(current) ? (BACKING.get(current) ?? current) : [];
      const backing = [...old];
      node.items.forEach((item, k) => {
        backing[k] = decodeInto(item, type.elem, backing[k], `${path}[${k}]`);
      });
      const out = backing.slice(0, node.items.length);
      if (backing.length > out.length) BACKING.set(out, backing);
      return out;
    }
    case 'map': {
      if (node.kind === 'null') return undefined;
      if (node.kind !== 'object') mismatch(node, type, path);
      // Go reuses a non-nil map, so a repeated key adds to it.
      const m = current instanceof Map ? new Map(current) : new Map<string, unknown>();
      for (const { key, value } of node.members) {
        m.set(key, decodeInto(value, type.elem, undefined, `${path}.${key}`));
      }
      return m;
    }
    case 'struct': {
      if (node.kind === 'null') return current;
      if (node.kind !== 'object') mismatch(node, type, path);
      const out: GoStruct = current && typeof current === 'object' ? { ...(current as GoStruct) } : {};
      for (const { key, value } of node.members) {
        const field = matchField(type.fields, key);
        if (field === undefined) continue;
        const v = decodeInto(value, type.fields[field]!, out[field], path ? `${path}.${field}` : field);
        if (v === undefined) delete out[field];
        else out[field] = v;
      }
      return out;
    }
    case 'ptr':
      if (node.kind === 'null') return undefined;
      return decodeInto(node, type.elem, current, path);
  }
}

function parseInt64(node: { readonly kind: 'number'; readonly text: string }, type: GoType, path: string): bigint {
  // strconv.ParseInt(text, 10, 64): optional sign, decimal digits only, within int64.
  if (!/^-?[0-9]+$/.test(node.text)) mismatch(node, type, path);
  const v = BigInt(node.text);
  if (v > 0x7fffffffffffffffn || v < -0x8000000000000000n) mismatch(node, type, path);
  return v;
}

/** What decoding into interface{} checks: every number must parse as a finite float64. */
function checkFloats(node: GoNode, path: string): void {
  const todo: GoNode[] = [node];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    if (n.kind === 'number') {
      if (!Number.isFinite(Number(n.text))) mismatch(n, { kind: 'any' }, path);
    } else if (n.kind === 'array') {
      todo.push(...n.items);
    } else if (n.kind === 'object') {
      for (const m of n.members) todo.push(m.value);
    }
  }
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses a timestamp as Go 1.19 `time.Parse(time.RFC3339, s)` does (the rules in the module
 * comment; `where` names the value in the message).
 * @throws GoJSONError `type` where Go fails (it is an OcikitError `INVALID_INPUT`).
 */
export function parseGoTime(s: string, where: string): GoTime {
  const m = TIME_RE.exec(s);
  if (!m) throw new GoJSONError('type', `${where}: ${JSON.stringify(s)} is not an RFC 3339 time`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = month === 2 && leap ? 29 : DAYS[month - 1];
  if (dim === undefined || day < 1 || day > dim || hour > 23 || minute > 59 || second > 59) {
    throw new GoJSONError('type', `${where}: ${JSON.stringify(s)} is out of range`);
  }
  const nanos = Number((m[7] ?? '').slice(0, 9).padEnd(9, '0'));
  const offset = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  return { year, month, day, hour, minute, second, nanos, offset };
}

/**
 * The struct field a JSON object key selects: the exact name if there is one, else the first name
 * equal under Go's case folding.
 */
export function matchField(fields: Readonly<Record<string, unknown>>, key: string): string | undefined {
  if (Object.hasOwn(fields, key)) return key;
  const folded = foldKey(key);
  for (const name of Object.keys(fields)) {
    if (foldKey(name) === folded) return name;
  }
  return undefined;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the class is all of ASCII, control characters included.
const ASCII_RE = /^[\x00-\x7f]*$/;

/** Go's key folding for field names: ASCII upper case, and ſ → S, K (Kelvin) → K. */
export function foldKey(key: string): string {
  // Fast path: plain ASCII keys (nearly all real ones) fold by upper-casing.
  if (ASCII_RE.test(key)) return key.toUpperCase();
  return key.replace(/[a-z\u017f\u212a]/g, (c) => (c === '\u017f' ? 'S' : c === '\u212a' ? 'K' : c.toUpperCase()));
}

/**
 * Decodes a JSON object into Go's `map[string]interface{}`: a `null` document gives an empty map
 * (Go leaves the map nil), repeated keys keep the last value.
 * @throws GoJSONError `type` for a non-object or a number that overflows float64.
 */
export function decodeGoObjectMap(node: GoNode): Map<string, GoNode> {
  const m = decodeGo(node, T.map(T.any)) as Map<string, GoNode | undefined> | undefined;
  const out = new Map<string, GoNode>();
  for (const [k, v] of m ?? []) out.set(k, v ?? NULL_NODE);
  return out;
}

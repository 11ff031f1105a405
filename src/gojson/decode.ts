/**
 * Go `encoding/json` decoding semantics, as far as ocikit needs them to agree with skopeo.
 *
 * containers/image decides whether a manifest is signed Docker schema 1 (and so whether its digest
 * strips signatures) by unmarshalling it with Go's `encoding/json`; libtrust then rebuilds the
 * signed payload with the same package. `JSON.parse` differs from Go in ways that change digests,
 * so this module reproduces Go (1.19, the toolchain of skopeo 1.9.3) instead:
 *
 * - Syntax is checked over the whole input first (RFC 8259 grammar; whitespace is only space, tab,
 *   CR, LF, so a UTF-8 BOM is a syntax error; nothing but whitespace may follow the value; at most
 *   10000 nested arrays/objects).
 * - Number literals keep their text, so an `int` target can reject `1.0`, `1e0` and values outside
 *   int64, as `strconv.ParseInt` does, and an `interface{}` target can reject values that overflow
 *   float64.
 * - Strings are unquoted like Go's `unquote`: invalid UTF-8 bytes become U+FFFD one byte at a time
 *   (never an error), a lone or mismatched surrogate escape becomes U+FFFD.
 * - Struct fields match object keys exactly first, then case-insensitively (ASCII folding plus the
 *   two non-ASCII letters that fold onto ASCII: U+017F `ſ` onto `S` and U+212A Kelvin onto `K`).
 *   Repeated keys are decoded in order, so the last one wins; `null` leaves a string or int field
 *   as it was and clears a slice, map, pointer or interface.
 * - Any type mismatch is an error. Go keeps decoding after one and reports it at the end; every
 *   caller in ocikit (like every caller in c/image and libtrust) discards the result on error, so
 *   the first mismatch is thrown at once.
 * - `[]byte` targets take standard base64 with padding, skipping CR and LF, like `encoding/base64`.
 */

/** A parsed JSON value that keeps what Go can see and `JSON.parse` cannot (number text, key order, duplicates). */
export type GoNode =
  | { readonly kind: 'null' }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'array'; readonly items: readonly GoNode[] }
  | { readonly kind: 'object'; readonly members: readonly GoMember[] };

/** One `key: value` pair of an object, in document order (duplicates kept). */
export interface GoMember {
  readonly key: string;
  readonly value: GoNode;
}

/** Why Go would fail: `syntax` (json.SyntaxError) or `type` (json.UnmarshalTypeError and friends). */
export class GoJSONError extends Error {
  override readonly name = 'GoJSONError';
  readonly kind: 'syntax' | 'type';
  constructor(kind: 'syntax' | 'type', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Go's `maxNestingDepth` in encoding/json's scanner. */
export const MAX_NESTING_DEPTH = 10000;

const NULL_NODE: GoNode = { kind: 'null' };

/**
 * Parses `bytes` as one JSON value with Go's syntax rules (see the module comment).
 * @throws GoJSONError `syntax` where Go's `json.Unmarshal` reports a syntax error.
 */
export function parseGoJSON(bytes: Uint8Array): GoNode {
  const p = new Parser(bytes);
  const node = p.parseDocument();
  return node;
}

// An explicit stack instead of recursion: Go accepts 10000 levels, more than a JS stack may hold.
interface Frame {
  readonly isObject: boolean;
  readonly items: GoNode[];
  readonly members: GoMember[];
  key: string;
}

class Parser {
  #b: Uint8Array;
  #i = 0;
  constructor(bytes: Uint8Array) {
    this.#b = bytes;
  }

  #fail(what: string): never {
    if (this.#i >= this.#b.length) throw new GoJSONError('syntax', 'unexpected end of JSON input');
    throw new GoJSONError('syntax', `invalid character ${describeByte(this.#b[this.#i]!)} ${what} (offset ${this.#i})`);
  }

  #ws(): void {
    const b = this.#b;
    let i = this.#i;
    while (i < b.length) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
    this.#i = i;
  }

  parseDocument(): GoNode {
    const stack: Frame[] = [];
    let value: GoNode;
    // Parse a value; containers push a frame and loop until closed.
    for (;;) {
      this.#ws();
      const c = this.#b[this.#i];
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        if (stack.length >= MAX_NESTING_DEPTH) throw new GoJSONError('syntax', 'exceeded max depth');
        this.#i++;
        const frame: Frame = { isObject: c === 0x7b, items: [], members: [], key: '' };
        stack.push(frame);
        this.#ws();
        const close = frame.isObject ? 0x7d : 0x5d;
        if (this.#b[this.#i] === close) {
          this.#i++;
          stack.pop();
          value = frame.isObject ? { kind: 'object', members: frame.members } : { kind: 'array', items: frame.items };
        } else {
          if (frame.isObject) frame.key = this.#objectKey();
          continue;
        }
      } else {
        value = this.#scalar();
      }
      // Attach `value` to enclosing containers, closing as many as end here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          this.#ws();
          if (this.#i < this.#b.length) this.#fail('after top-level value');
          return value;
        }
        if (top.isObject) top.members.push({ key: top.key, value });
        else top.items.push(value);
        this.#ws();
        const d = this.#b[this.#i];
        if (d === 0x2c /* , */) {
          this.#i++;
          if (top.isObject) {
            this.#ws();
            top.key = this.#objectKey();
          }
          break;
        }
        if (d === (top.isObject ? 0x7d : 0x5d)) {
          this.#i++;
          stack.pop();
          value = top.isObject ? { kind: 'object', members: top.members } : { kind: 'array', items: top.items };
          continue;
        }
        this.#fail(top.isObject ? 'after object key:value pair' : 'after array element');
      }
    }
  }

  #objectKey(): string {
    if (this.#b[this.#i] !== 0x22) this.#fail('looking for beginning of object key string');
    const key = this.#string();
    this.#ws();
    if (this.#b[this.#i] !== 0x3a /* : */) this.#fail('after object key');
    this.#i++;
    return key;
  }

  #scalar(): GoNode {
    const b = this.#b;
    const c = b[this.#i];
    if (c === 0x22) return { kind: 'string', value: this.#string() };
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.#number();
    if (c === 0x74) return this.#literal('true', { kind: 'bool', value: true });
    if (c === 0x66) return this.#literal('false', { kind: 'bool', value: false });
    if (c === 0x6e) return this.#literal('null', NULL_NODE);
    this.#fail('looking for beginning of value');
  }

  #literal(word: string, node: GoNode): GoNode {
    for (let k = 0; k < word.length; k++) {
      if (this.#b[this.#i] !== word.charCodeAt(k)) this.#fail(`in literal ${word}`);
      this.#i++;
    }
    return node;
  }

  #number(): GoNode {
    const b = this.#b;
    const start = this.#i;
    const digit = (x: number | undefined) => x !== undefined && x >= 0x30 && x <= 0x39;
    if (b[this.#i] === 0x2d) this.#i++;
    if (b[this.#i] === 0x30) this.#i++;
    else if (digit(b[this.#i])) while (digit(b[this.#i])) this.#i++;
    else this.#fail('in numeric literal');
    if (b[this.#i] === 0x2e) {
      this.#i++;
      if (!digit(b[this.#i])) this.#fail('after decimal point in numeric literal');
      while (digit(b[this.#i])) this.#i++;
    }
    if (b[this.#i] === 0x65 || b[this.#i] === 0x45) {
      this.#i++;
      if (b[this.#i] === 0x2b || b[this.#i] === 0x2d) this.#i++;
      if (!digit(b[this.#i])) this.#fail('in exponent of numeric literal');
      while (digit(b[this.#i])) this.#i++;
    }
    return { kind: 'number', text: latin1(b, start, this.#i) };
  }

  /** Scans a string starting at its opening quote and returns it unquoted the way Go does. */
  #string(): string {
    const b = this.#b;
    this.#i++; // opening quote
    let out = '';
    let run = this.#i; // start of a run of plain ASCII copied in one go
    for (;;) {
      const c = b[this.#i];
      if (c === undefined) this.#fail('in string literal');
      if (c === 0x22) {
        out += latin1(b, run, this.#i);
        this.#i++;
        return out;
      }
      if (c < 0x20) this.#fail('in string literal');
      if (c < 0x80 && c !== 0x5c) {
        this.#i++;
        continue;
      }
      out += latin1(b, run, this.#i);
      if (c === 0x5c) out += this.#escape();
      else out += this.#utf8Rune();
      run = this.#i;
    }
  }

  #escape(): string {
    const b = this.#b;
    this.#i++; // backslash
    const e = b[this.#i];
    this.#i++;
    switch (e) {
      case 0x22:
        return '"';
      case 0x5c:
        return '\\';
      case 0x2f:
        return '/';
      case 0x62:
        return '\b';
      case 0x66:
        return '\f';
      case 0x6e:
        return '\n';
      case 0x72:
        return '\r';
      case 0x74:
        return '\t';
      case 0x75: {
        const r = this.#hex4();
        if (r >= 0xd800 && r < 0xe000) {
          // Go: a high surrogate followed by a `\u` low surrogate makes one rune; anything else is U+FFFD.
          if (r < 0xdc00 && b[this.#i] === 0x5c && b[this.#i + 1] === 0x75) {
            const save = this.#i;
            this.#i += 2;
            const r2 = this.#hex4();
            if (r2 >= 0xdc00 && r2 < 0xe000) return String.fromCharCode(r, r2);
            this.#i = save; // the second escape is decoded on its own
          }
          return '\ufffd';
        }
        return String.fromCharCode(r);
      }
      default:
        this.#i--;
        this.#fail('in string escape code');
    }
  }

  #hex4(): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.#b[this.#i];
      let d: number;
      if (c !== undefined && c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c !== undefined && c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c !== undefined && c >= 0x41 && c <= 0x46) d = c - 0x37;
      else this.#fail('in \\u hexadecimal character escape');
      v = v * 16 + d;
      this.#i++;
    }
    return v;
  }

  /** Decodes one UTF-8 sequence like Go's utf8.DecodeRune: an invalid byte is U+FFFD and consumes 1 byte. */
  #utf8Rune(): string {
    const b = this.#b;
    const i = this.#i;
    const c0 = b[i]!;
    const cont = (x: number | undefined, lo = 0x80, hi = 0xbf) => x !== undefined && x >= lo && x <= hi;
    let cp = -1;
    let n = 1;
    if (c0 >= 0xc2 && c0 <= 0xdf) {
      if (cont(b[i + 1])) {
        cp = ((c0 & 0x1f) << 6) | (b[i + 1]! & 0x3f);
        n = 2;
      }
    } else if (c0 >= 0xe0 && c0 <= 0xef) {
      const lo = c0 === 0xe0 ? 0xa0 : 0x80;
      const hi = c0 === 0xed ? 0x9f : 0xbf;
      if (cont(b[i + 1], lo, hi) && cont(b[i + 2])) {
        cp = ((c0 & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
        n = 3;
      }
    } else if (c0 >= 0xf0 && c0 <= 0xf4) {
      const lo = c0 === 0xf0 ? 0x90 : 0x80;
      const hi = c0 === 0xf4 ? 0x8f : 0xbf;
      if (cont(b[i + 1], lo, hi) && cont(b[i + 2]) && cont(b[i + 3])) {
        cp = ((c0 & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
        n = 4;
      }
    }
    this.#i = i + n;
    return cp < 0 ? '\ufffd' : String.fromCodePoint(cp);
  }
}

function latin1(b: Uint8Array, start: number, end: number): string {
  if (end <= start) return '';
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

function describeByte(c: number): string {
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `0x${c.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Decoding into Go types.

/** The Go types ocikit decodes into. */
export type GoType =
  | { readonly kind: 'string' }
  | { readonly kind: 'int' } // int / int64
  | { readonly kind: 'any' } // interface{}: any value; numbers must fit float64
  | { readonly kind: 'raw' } // json.RawMessage: any value, kept as a node (null included)
  | { readonly kind: 'bytes' } // []byte
  | { readonly kind: 'slice'; readonly elem: GoType }
  | { readonly kind: 'map'; readonly elem: GoType } // map[string]T
  | { readonly kind: 'struct'; readonly fields: Readonly<Record<string, GoType>> }
  | { readonly kind: 'ptr'; readonly elem: GoType };

/** Type constructors, for readable type declarations. */
export const T = {
  string: { kind: 'string' } as const,
  int: { kind: 'int' } as const,
  any: { kind: 'any' } as const,
  raw: { kind: 'raw' } as const,
  bytes: { kind: 'bytes' } as const,
  slice: (elem: GoType): GoType => ({ kind: 'slice', elem }),
  map: (elem: GoType): GoType => ({ kind: 'map', elem }),
  struct: (fields: Record<string, GoType>): GoType => ({ kind: 'struct', fields }),
  ptr: (elem: GoType): GoType => ({ kind: 'ptr', elem }),
};

/**
 * A decoded struct: the fields that were set, by their Go JSON name. A missing field has Go's zero
 * value. Field values are: `string`; `bigint` for ints; a {@link GoNode} for `any` and `raw`;
 * `Uint8Array` for bytes; arrays for slices; `Map` for maps; {@link GoStruct} for structs and
 * non-nil pointers. A nil slice, map, pointer or interface is absent.
 */
export type GoStruct = { [field: string]: unknown };

/**
 * Decodes `node` into a value of Go type `type`, as `json.Unmarshal` into a zero value would.
 * @throws GoJSONError `type` on any mismatch Go reports (see the module comment).
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

function decodeInto(node: GoNode, type: GoType, current: unknown, path: string): unknown {
  switch (type.kind) {
    case 'string':
      if (node.kind === 'null') return current;
      if (node.kind !== 'string') mismatch(node, type, path);
      return node.value;
    case 'int':
      if (node.kind === 'null') return current;
      if (node.kind !== 'number') mismatch(node, type, path);
      return parseInt64(node, type, path);
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
      // Go decodes each element into the existing element at that index (so a repeated key merges).
      const old = Array.isArray(current) ? current : [];
      return node.items.map((item, k) => decodeInto(item, type.elem, old[k], `${path}[${k}]`));
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

// ---------------------------------------------------------------------------------------------
// base64 as Go's encoding/base64 (padded encodings).

/** The standard base64 alphabet (`base64.StdEncoding`). */
export const STD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** The URL-safe base64 alphabet (`base64.URLEncoding`). */
export const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Decodes `s` like Go's padded `Encoding.DecodeString`: CR and LF are skipped anywhere, input must
 * come in 4-character groups, `=` padding may only end the last group, and non-zero trailing bits
 * are accepted (the encodings are not `Strict`).
 * @throws Error on input Go rejects.
 */
export function goBase64Decode(s: string, alphabet: string): Uint8Array {
  const out: number[] = [];
  const len = s.length;
  let si = 0;
  const isNewline = (k: number) => s.charCodeAt(k) === 0x0a || s.charCodeAt(k) === 0x0d;
  const corrupt = (at: number): never => {
    throw new Error(`illegal base64 data at input byte ${at}`);
  };
  for (;;) {
    const q = [0, 0, 0, 0];
    let dlen = 4;
    for (let j = 0; j < 4; j++) {
      if (si === len) {
        if (j === 0) return Uint8Array.from(out);
        corrupt(si - j);
      }
      const ch = s[si]!;
      si++;
      const v = alphabet.indexOf(ch);
      if (v >= 0 && ch.length === 1) {
        q[j] = v;
        continue;
      }
      if (ch === '\n' || ch === '\r') {
        j--;
        continue;
      }
      if (ch !== '=') corrupt(si - 1);
      if (j < 2) corrupt(si - 1);
      if (j === 2) {
        while (si < len && isNewline(si)) si++;
        if (si === len) corrupt(len);
        if (s[si] !== '=') corrupt(si - 1);
        si++;
      }
      while (si < len && isNewline(si)) si++;
      if (si < len) corrupt(si);
      dlen = j;
      break;
    }
    const val = (q[0]! << 18) | (q[1]! << 12) | (q[2]! << 6) | q[3]!;
    out.push((val >> 16) & 0xff);
    if (dlen >= 3) out.push((val >> 8) & 0xff);
    if (dlen === 4) out.push(val & 0xff);
    if (dlen < 4) return Uint8Array.from(out);
  }
}

/**
 * Go `encoding/json` syntax: parsing bytes into a tree that keeps what Go can see and `JSON.parse`
 * cannot, as Go 1.19 (the toolchain of skopeo 1.9.3) reads them. ./decode.ts decodes the tree into
 * Go types; ./encode.ts writes Go's `json.Marshal` output.
 *
 * containers/image decides whether a manifest is signed Docker schema 1 (and so whether its digest
 * strips signatures) by unmarshalling it with Go's `encoding/json`; libtrust then rebuilds the
 * signed payload with the same package. `JSON.parse` differs from Go in ways that change digests;
 * the syntax rules are in the TSDoc of {@link parseGoJSON}, the decoding rules at ./decode.ts.
 */
import { OcikitError } from '../errors.js';

/** A parsed JSON value that keeps what Go can see and `JSON.parse` cannot (number text, key order, duplicates). */
export type GoNode =
  | { readonly kind: 'null' }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'number'; readonly text: string }
  | {
      readonly kind: 'string';
      readonly value: string;
      /** True when the literal held a backslash escape (so its raw bytes are not `"value"`). */
      readonly escaped?: true;
    }
  | { readonly kind: 'array'; readonly items: readonly GoNode[] }
  | { readonly kind: 'object'; readonly members: readonly GoMember[] };

/** One `key: value` pair of an object, in document order (duplicates kept). */
export interface GoMember {
  readonly key: string;
  readonly value: GoNode;
}

/**
 * Why Go would fail: `syntax` (a `json.SyntaxError`) or `type` (any error decoding into the Go
 * value: `json.UnmarshalTypeError`, an `Unmarshaler`'s error such as `time.ParseError`, a base64
 * `CorruptInputError`). It is an {@link OcikitError} `INVALID_INPUT`; callers that know what the
 * JSON was (a manifest, a config) wrap it with their own code and context.
 */
export class GoJSONError extends OcikitError {
  readonly kind: 'syntax' | 'type';
  constructor(kind: 'syntax' | 'type', message: string) {
    super('INVALID_INPUT', message);
    this.kind = kind;
  }
}

/** Go's `maxNestingDepth` in encoding/json's scanner. */
export const MAX_NESTING_DEPTH = 10000;

/** The `null` node (one shared instance). */
export const NULL_NODE: GoNode = { kind: 'null' };

/**
 * Parses `bytes` as one JSON value with Go's syntax rules, where they differ from `JSON.parse`:
 * - Syntax is checked over the whole input first (RFC 8259 grammar; whitespace is only space, tab,
 *   CR, LF, so a UTF-8 BOM is a syntax error; nothing but whitespace may follow the value; at most
 *   10000 nested arrays/objects).
 * - Number literals keep their text, so an `int` target can reject `1.0`, `1e0` and values outside
 *   int64, as `strconv.ParseInt` does, and an `interface{}` target can reject values that overflow
 *   float64.
 * - Strings are unquoted like Go's `unquote`: invalid UTF-8 bytes become U+FFFD one byte at a time
 *   (never an error), a lone or mismatched surrogate escape becomes U+FFFD. A string literal that
 *   held a backslash escape is marked, because a `json.Unmarshaler` (such as `time.Time`) sees the
 *   raw literal, not the unquoted value.
 * - Object members keep document order and duplicates: Go decodes repeated keys one after another.
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
  /** Whether the last string {@link Parser.#string} scanned held an escape. */
  #escaped = false;
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
    if (c === 0x22) {
      const value = this.#string();
      return this.#escaped ? { kind: 'string', value, escaped: true } : { kind: 'string', value };
    }
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
    this.#escaped = false;
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
      if (c === 0x5c) {
        this.#escaped = true;
        out += this.#escape();
      } else out += this.#utf8Rune();
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

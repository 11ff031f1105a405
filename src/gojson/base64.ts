/**
 * base64 decoding as Go's `encoding/base64` does it with its padded encodings: `StdEncoding` (what
 * `encoding/json` uses for `[]byte`) and `URLEncoding` (what libtrust's JOSE helpers pad up to).
 */

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

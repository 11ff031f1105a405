/**
 * Text from untrusted sources (a registry's error body, header values, names) made safe to put
 * into a message or onto a terminal.
 *
 * Guarantee: the result of {@link escapeControl} contains no C0 control (U+0000–U+001F), no DEL
 * (U+007F) and no C1 control (U+0080–U+009F), so no terminal escape sequence (ESC `[`, the
 * single-character CSI U+009B, OSC …) and no carriage return that would overwrite a line survives.
 * Each is written as an escape a person can read: `\r`, `\n`, `\t`, `\x1b` (C0 and DEL), `\u009b`
 * (C1). Everything else, a backslash included, is kept as it is, so escaping twice changes nothing
 * more than escaping once.
 */

/** The short escapes of the common C0 controls; every other control is written in hex. */
const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `s` with every C0, DEL and C1 control character escaped (see the module header). */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => {
    const short = SHORT[c];
    if (short !== undefined) return short;
    const code = c.charCodeAt(0);
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

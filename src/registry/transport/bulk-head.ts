/**
 * HTTP/1.1 message heads for bulk GETs (`bulk.ts`), RFC 9112: the request head written, and the
 * response head parsed (status line; header lines as undici shapes them, repeated ones as
 * arrays; control characters refused as llhttp refuses them; the body's framing and whether the
 * connection may be kept).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** An error with a code (the codes of undici's errors, so that `http.ts` classifies them alike). */
export function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The request head; header values with CR or LF are refused (they would split the request). */
export function requestHead(url: URL, headers: Record<string, string>): string {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (!TOKEN.test(k) || CTL.test(v))
      throw coded(`invalid request header ${JSON.stringify(k)}`, 'UND_ERR_INVALID_ARG');
    head += `${k}: ${v}\r\n`;
  }
  return `${head}\r\n`;
}

export interface Head {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly keepAlive: boolean;
  /** Body framing: a length, `chunked`, or until the connection closes. */
  readonly framing: number | 'chunked' | 'close';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are what it finds
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Parses a response head (status line and header lines, without the blank line). */
export function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!status) throw coded('invalid HTTP response status line', 'HPE_INVALID_CONSTANT');
  const statusCode = Number(status[2]);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // A token, a colon, a value of visible characters, spaces and tabs (RFC 9110 section 5.5):
    // control characters (ESC, a bare CR) are refused, as llhttp refuses them for undici.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon)) || CTL.test(line))
      throw coded('invalid HTTP response header', 'HPE_INVALID_HEADER_TOKEN');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  const connection = String(headers.connection ?? '').toLowerCase();
  let keepAlive = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  let framing: Head['framing'];
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (statusCode === 204 || statusCode === 304 || (statusCode >= 100 && statusCode < 200)) {
    framing = 0;
  } else if (te !== undefined) {
    const codings = String(te)
      .toLowerCase()
      .split(',')
      .map((s) => s.trim());
    if (codings.at(-1) !== 'chunked')
      throw coded(`unsupported transfer-encoding ${String(te)}`, 'HPE_INVALID_TRANSFER_ENCODING');
    framing = 'chunked';
    if (cl !== undefined) keepAlive = false;
  } else if (cl !== undefined) {
    if (typeof cl !== 'string' || !/^\d+$/.test(cl))
      throw coded('invalid content-length', 'HPE_INVALID_CONTENT_LENGTH');
    framing = Number(cl);
  } else {
    framing = 'close';
    keepAlive = false;
  }
  return { statusCode, headers, keepAlive, framing };
}

/**
 * Authentication challenges: the `WWW-Authenticate` header of a `401` (RFC 7235 section 4.1:
 * `Scheme k=v, k="quoted", ...`, several challenges in one header or in several headers). The
 * registry client reads `Bearer realm=…,service=…,scope=…` and `Basic realm=…` from them (the
 * distribution spec's token authentication, as containers/image `docker/docker_client.go`).
 */

/** One authentication challenge from a `WWW-Authenticate` header. */
export interface Challenge {
  /** The scheme, lowercased (`bearer`, `basic`). */
  readonly scheme: string;
  /** Parameters with lowercased names (`realm`, `service`, `scope`, `error`). */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses `WWW-Authenticate` header values into challenges. Unparseable trailing text is ignored
 * (a malformed header yields fewer challenges, never an exception).
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const out: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    const s = value;
    const skipWs = () => {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    };
    const token = () => {
      const m = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(s.slice(i));
      if (!m) return '';
      i += m[0].length;
      return m[0];
    };
    let current: { scheme: string; params: Record<string, string> } | undefined;
    while (i < s.length) {
      skipWs();
      if (s[i] === ',') {
        i++;
        continue;
      }
      const start = i;
      const word = token();
      if (word === '') break;
      skipWs();
      if (s[i] === '=' && current) {
        // A parameter (or a token68 ending in '=' — treated as a parameter with an empty name).
        i++;
        skipWs();
        let val = '';
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === '\\' && i + 1 < s.length) i++;
            val += s[i];
            i++;
          }
          i++;
        } else {
          const m = /^[^,\s]*/.exec(s.slice(i));
          val = m ? m[0] : '';
          i += val.length;
        }
        current.params[word.toLowerCase()] = val;
      } else if (s[i] === '=' && !current) {
        i = start;
        break;
      } else {
        current = { scheme: word.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

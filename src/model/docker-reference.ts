/**
 * Docker references (`[host[:port]/]path[:tag][@digest]`), parsed and normalised the way
 * containers/image's `docker/reference` package does for `docker://` images.
 *
 * Grammar (distribution `reference` regexp): the name is `/`-separated components; the first one is
 * a registry domain when it contains `.` or `:`, is `localhost`, or has an uppercase letter;
 * otherwise the registry is `docker.io`. On `docker.io` a one-component path gets the `library/`
 * prefix, and `index.docker.io` is spelled `docker.io`. Path components are lowercase
 * `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`; a path with uppercase letters is refused
 * (as "repository name must be lowercase"). The whole name is at most 255 characters. A tag is
 * `[\w][\w.-]{0,127}`; a digest must be a sha256 digest (the only kind ocikit handles).
 */
import { isDigest, type Digest } from './digest.js';
import { OcikitError } from '../errors.js';
import { jsonText } from '../internal/guards.js';

/**
 * A parsed, normalised docker reference.
 * @category Model
 */
export interface DockerReference {
  /** Registry domain as written (with `:port`), normalised: `docker.io` for Docker Hub. */
  readonly domain: string;
  /** Repository path below the domain, e.g. `library/fedora`. */
  readonly path: string;
  /** The tag after `:`, as written; absent when the reference has none (no `latest` is implied here). */
  readonly tag?: string;
  /** The digest after `@`; absent when the reference has none. A reference may carry both. */
  readonly digest?: Digest;
}

/** Docker Hub's canonical domain, the one references are normalised to. */
export const DOCKER_HUB_DOMAIN = 'docker.io';
/** The host Docker Hub's registry API really lives on. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const MAX_NAME = 255;

function bad(value: string, why: string): OcikitError {
  return new OcikitError(
    'INVALID_INPUT',
    `image name ${JSON.stringify(value)} is not a valid docker reference: ${why}`,
  );
}

/** Splits `name` into domain and remainder as containers/image's `splitDockerDomain` does. */
function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  const first = i < 0 ? '' : name.slice(0, i);
  let domain: string;
  let rest: string;
  if (
    i < 0 ||
    (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first)
  ) {
    domain = DOCKER_HUB_DOMAIN;
    rest = name;
  } else {
    domain = first;
    rest = name.slice(i + 1);
  }
  if (domain === 'index.docker.io') domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !rest.includes('/')) rest = `library/${rest}`;
  return [domain, rest];
}

/**
 * Parses and normalises a docker reference (without the `docker://` prefix).
 * @param what names the value in error messages.
 * @throws OcikitError `INVALID_INPUT` naming the value and what is wrong with it.
 * @category Model
 */
export function parseDockerReference(value: unknown, what = 'image name'): DockerReference {
  if (typeof value !== 'string' || value === '') {
    throw new OcikitError('INVALID_INPUT', `${what} ${jsonText(value)} is not a non-empty string`);
  }
  let rest = value;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(value, `${JSON.stringify(d)} is not a sha256 digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    if (!TAG_RE.test(tag)) throw bad(value, `invalid tag ${JSON.stringify(tag)}`);
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw bad(value, 'empty name');
  if (HEX64_RE.test(rest)) throw bad(value, 'a 64-character hex string is an image ID, not a repository name');
  if (rest.length > MAX_NAME) throw bad(value, `name longer than ${MAX_NAME} characters`);
  const [domain, path] = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) throw bad(value, `invalid registry domain ${JSON.stringify(domain)}`);
  if (path.toLowerCase() !== path) throw bad(value, 'repository name must be lowercase');
  for (const comp of path.split('/')) {
    if (!PATH_COMPONENT.test(comp)) throw bad(value, `invalid path component ${JSON.stringify(comp)}`);
  }
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * The canonical string of a reference: `domain/path[:tag][@digest]`.
 * @category Model
 */
export function formatDockerReference(ref: DockerReference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The host (with port) whose `/v2/` API serves `domain`: Docker Hub's API host for `docker.io`. */
export function registryApiHost(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/**
 * containers-policy.json(5) parsed exactly as strictly as containers/image 5.23
 * (`signature/policy_config.go` with `signature/internal/json.go`'s "paranoid" object decoder):
 * every object refuses unknown keys (matched case-sensitively) and repeated keys, `default` is
 * required, a requirement list must not be empty, each requirement and `signedIdentity` has its
 * exact set of fields, and a scope must be valid for its transport (./policy-scopes.ts). Values
 * are decoded with Go's rules (gojson/decode.ts): `null` leaves a string empty, `keyData` is
 * base64. Any violation makes the whole policy invalid, as it makes skopeo refuse every image.
 *
 * containers/image 5.23 knows no `fulcio`, `rekorPublicKeyPath` or `rekorPublicKeyData`
 * (they came with 5.24): in a `sigstoreSigned` requirement they are unknown keys here too.
 */
import { OcikitError } from '../errors.js';
import { decodeGo, T } from '../gojson/decode.js';
import { GoJSONError, type GoNode, parseGoJSON } from '../gojson/parse.js';
import { type ReferenceMatch, parseNormalizedNamed, remapPrefixProblem } from './identity.js';
import { scopeProblem } from './policy-scopes.js';

/**
 * A `signedBy` key type (`GPGKeys` is the only one containers/image, and ocikit, implements).
 * @category Trust
 */
export type SignedByKeyType = 'GPGKeys' | 'signedByGPGKeys' | 'X509Certificates' | 'signedByX509CAs';

/**
 * One requirement of a policy; every requirement of a scope's list must hold.
 * @category Trust
 */
export type PolicyRequirement =
  | { readonly type: 'insecureAcceptAnything' }
  | { readonly type: 'reject' }
  | {
      readonly type: 'signedBy';
      readonly keyType: SignedByKeyType;
      /** Exactly one of `keyPath`, `keyPaths` and `keyData` is set. */
      readonly keyPath?: string;
      readonly keyPaths?: readonly string[];
      readonly keyData?: Uint8Array;
      readonly signedIdentity: ReferenceMatch;
    }
  | { readonly type: 'signedBaseLayer'; readonly baseLayerIdentity: ReferenceMatch }
  | {
      readonly type: 'sigstoreSigned';
      /** At most one of `keyPath` and `keyData` is set (`keyData: null` sets neither; every signature then fails). */
      readonly keyPath?: string;
      readonly keyData?: Uint8Array;
      readonly signedIdentity: ReferenceMatch;
    };

/**
 * A parsed trust policy.
 * @category Trust
 */
export interface Policy {
  /** The file it was read from, or null (an `insecurePolicy` or a policy given as bytes without a name). */
  readonly file: string | null;
  /** The `default` requirements (never empty). */
  readonly default: readonly PolicyRequirement[];
  /** `transports`: transport name → scope → requirements (never empty). */
  readonly transports: ReadonlyMap<string, ReadonlyMap<string, readonly PolicyRequirement[]>>;
}

/** An invalid-policy reason (containers/image `InvalidPolicyFormatError` / `JSONFormatError`). */
class FormatError extends Error {}

/** How Go's `%s` prints a `json.Decoder` token (the "JSON object expected" message). */
function tokenText(node: GoNode): string {
  switch (node.kind) {
    case 'array':
      return '[';
    case 'string':
      return node.value;
    case 'number':
      return `%!s(float64=${node.text})`;
    case 'bool':
      return `%!s(bool=${node.value})`;
    case 'null':
      return '%!s(<nil>)';
    default:
      return '{';
  }
}

/**
 * `ParanoidUnmarshalJSONObject`: walks `node`'s members in order; a repeated key, or a key
 * `field` does not take (returns false), is an error at that point.
 */
function eachMember(node: GoNode, field: (key: string, value: GoNode) => boolean): void {
  if (node.kind !== 'object') throw new FormatError(`JSON object expected, got "${tokenText(node)}"`);
  const seen = new Set<string>();
  for (const { key, value } of node.members) {
    if (seen.has(key)) throw new FormatError(`Duplicate key "${key}"`);
    seen.add(key);
    if (!field(key, value)) throw new FormatError(`Unknown key "${key}"`);
  }
}

/** `ParanoidUnmarshalJSONObjectExactFields`: exactly the `names`, each once; returns their values. */
function exactFields(node: GoNode, names: readonly string[]): Map<string, GoNode> {
  const got = new Map<string, GoNode>();
  eachMember(node, (key, value) => {
    if (!names.includes(key)) return false;
    got.set(key, value);
    return true;
  });
  for (const n of names) if (!got.has(n)) throw new FormatError(`Key "${n}" missing in a JSON object`);
  return got;
}

/** Decodes with Go's rules, a type mismatch becoming a format error. */
function go<V>(node: GoNode, type: Parameters<typeof decodeGo>[1]): V | undefined {
  try {
    return decodeGo(node, type) as V | undefined;
  } catch (err) {
    if (err instanceof GoJSONError) throw new FormatError(`json: ${err.message}`);
    throw err;
  }
}

const str = (node: GoNode): string => go<string>(node, T.string) ?? '';

/** The `type` a requirement or match object names, read as Go's plain struct decoding does. */
function typeOf(node: GoNode): string {
  const v = go<{ type?: string }>(node, T.struct({ type: T.string }));
  return v?.type ?? '';
}

/** Checks the exact `type` after the strict decode (containers/image's "Unexpected … type"). */
function expectType(got: string, want: string): void {
  if (got !== want) throw new FormatError(`Unexpected policy requirement type "${got}"`);
}

function parseNamedOrThrow(s: string, what: string): void {
  const r = parseNormalizedNamed(s);
  if (typeof r === 'string') throw new FormatError(`Invalid format of ${what} ${s}: ${r}`);
  if (what === 'dockerReference' && r.tag === undefined && r.digest === undefined) {
    throw new FormatError(`dockerReference ${s} contains neither a tag nor digest`);
  }
}

/** containers/image `newPolicyReferenceMatchFromJSON`. */
function parseReferenceMatch(node: GoNode): ReferenceMatch {
  const type = typeOf(node);
  switch (type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      expectType(str(exactFields(node, ['type']).get('type')!), type);
      return { type };
    case 'exactReference':
    case 'exactRepository': {
      const field = type === 'exactReference' ? 'dockerReference' : 'dockerRepository';
      const f = exactFields(node, ['type', field]);
      expectType(str(f.get('type')!), type);
      const value = str(f.get(field)!);
      parseNamedOrThrow(value, field);
      return type === 'exactReference' ? { type, dockerReference: value } : { type, dockerRepository: value };
    }
    case 'remapIdentity': {
      const f = exactFields(node, ['type', 'prefix', 'signedPrefix']);
      expectType(str(f.get('type')!), type);
      const prefix = str(f.get('prefix')!);
      const signedPrefix = str(f.get('signedPrefix')!);
      const problem = remapPrefixProblem(prefix) ?? remapPrefixProblem(signedPrefix);
      if (problem !== undefined) throw new FormatError(problem);
      return { type, prefix, signedPrefix };
    }
    default:
      throw new FormatError(`Unknown policy reference match type "${type}"`);
  }
}

const KEY_TYPES: readonly string[] = ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs'];

/** containers/image `prSignedBy.UnmarshalJSON` and `newPRSignedBy`. */
function parseSignedBy(node: GoNode): PolicyRequirement {
  let type = '';
  let keyType = '';
  let keyPath: string | undefined;
  let keyPaths: string[] | undefined;
  let keyData: Uint8Array | undefined;
  const got = new Set<string>();
  let identity: GoNode | undefined;
  eachMember(node, (key, value) => {
    if (key === 'type') type = str(value);
    else if (key === 'keyType') {
      keyType = str(value);
      if (!KEY_TYPES.includes(keyType)) throw new FormatError(`Unrecognized keyType value "${keyType}"`);
    } else if (key === 'keyPath') keyPath = str(value);
    else if (key === 'keyPaths') keyPaths = go<(string | undefined)[]>(value, T.slice(T.string))?.map((p) => p ?? '');
    else if (key === 'keyData') keyData = go<Uint8Array>(value, T.bytes);
    else if (key === 'signedIdentity') identity = value;
    else return false;
    got.add(key);
    return true;
  });
  expectType(type, 'signedBy');
  const signedIdentity: ReferenceMatch =
    identity === undefined ? { type: 'matchRepoDigestOrExact' } : parseReferenceMatch(identity);
  const present = ['keyPath', 'keyPaths', 'keyData'].filter((k) => got.has(k)).length;
  if (present === 0) {
    throw new FormatError('Exactly one of keyPath, keyPaths and keyData must be specified, none of them present');
  }
  if (present > 1) {
    throw new FormatError('Exactly one of keyPath, keyPaths and keyData must be specified, more than one present');
  }
  if (!KEY_TYPES.includes(keyType)) throw new FormatError(`invalid keyType "${keyType}"`);
  // An empty keyPath, or a null keyPaths or keyData, is no key source at all.
  if ((got.has('keyPath') && !keyPath) || (got.has('keyPaths') && !keyPaths) || (got.has('keyData') && !keyData)) {
    throw new FormatError('exactly one of keyPath, keyPaths and keyData must be specified');
  }
  return {
    type: 'signedBy',
    keyType: keyType as SignedByKeyType,
    ...(keyPath !== undefined ? { keyPath } : {}),
    ...(keyPaths !== undefined ? { keyPaths } : {}),
    ...(keyData !== undefined ? { keyData } : {}),
    signedIdentity,
  };
}

/** containers/image `prSigstoreSigned.UnmarshalJSON` (5.23: no Fulcio, no Rekor). */
function parseSigstoreSigned(node: GoNode): PolicyRequirement {
  let type = '';
  let keyPath: string | undefined;
  let keyData: Uint8Array | undefined;
  let gotData = false;
  let identity: GoNode | undefined;
  eachMember(node, (key, value) => {
    if (key === 'type') type = str(value);
    else if (key === 'keyPath') keyPath = str(value);
    else if (key === 'keyData') {
      gotData = true;
      keyData = go<Uint8Array>(value, T.bytes);
    } else if (key === 'signedIdentity') identity = value;
    else return false;
    return true;
  });
  expectType(type, 'sigstoreSigned');
  const signedIdentity: ReferenceMatch =
    identity === undefined ? { type: 'matchRepoDigestOrExact' } : parseReferenceMatch(identity);
  if (keyPath !== undefined && gotData) throw new FormatError('keyPath and keyData cannot be used simultaneously');
  if (keyPath === undefined && !gotData) throw new FormatError('At least one of keyPath and keyData must be specified');
  return {
    type: 'sigstoreSigned',
    ...(keyPath !== undefined ? { keyPath } : {}),
    ...(keyData !== undefined ? { keyData } : {}),
    signedIdentity,
  };
}

/** containers/image `newPolicyRequirementFromJSON`. */
function parseRequirement(node: GoNode): PolicyRequirement {
  const type = typeOf(node);
  switch (type) {
    case 'insecureAcceptAnything':
    case 'reject':
      expectType(str(exactFields(node, ['type']).get('type')!), type);
      return { type };
    case 'signedBy':
      return parseSignedBy(node);
    case 'sigstoreSigned':
      return parseSigstoreSigned(node);
    case 'signedBaseLayer': {
      const f = exactFields(node, ['type', 'baseLayerIdentity']);
      expectType(str(f.get('type')!), type);
      return { type, baseLayerIdentity: parseReferenceMatch(f.get('baseLayerIdentity')!) };
    }
    default:
      throw new FormatError(`Unknown policy requirement type "${type}"`);
  }
}

/** `PolicyRequirements.UnmarshalJSON`: a non-empty array of requirements; `where` names it in errors. */
function parseRequirements(node: GoNode, where: string): PolicyRequirement[] {
  const items = go<GoNode[]>(node, T.slice(T.raw)) ?? [];
  if (items.length === 0) throw new FormatError(`${where}: List of verification policy requirements must not be empty`);
  return items.map((item, i) => {
    try {
      return parseRequirement(item);
    } catch (err) {
      if (err instanceof FormatError) throw new FormatError(`${where}[${i}]: ${err.message}`);
      throw err;
    }
  });
}

/**
 * Parses a policy file's bytes. `file` names it in errors and is kept in the result.
 * @throws OcikitError `CONFIG` `invalid trust policy in FILE: WHERE: REASON` (skopeo:
 *   `invalid policy in "FILE": REASON`).
 * @category Trust
 */
export function parsePolicy(bytes: Uint8Array, file: string | null): Policy {
  try {
    const root = parseGoJSON(bytes);
    let def: PolicyRequirement[] | undefined;
    const transports = new Map<string, Map<string, readonly PolicyRequirement[]>>();
    eachMember(root, (key, value) => {
      if (key === 'default') def = parseRequirements(value, 'default');
      else if (key === 'transports') {
        eachMember(value, (transport, scopesNode) => {
          const scopes = new Map<string, readonly PolicyRequirement[]>();
          transports.set(transport, scopes);
          eachMember(scopesNode, (scope, reqs) => {
            const problem = scopeProblem(transport, scope);
            if (problem !== undefined) {
              throw new FormatError(`transports.${transport}: Unknown key "${scope}" (${problem})`);
            }
            scopes.set(scope, parseRequirements(reqs, `transports.${transport}[${JSON.stringify(scope)}]`));
            return true;
          });
          return true;
        });
      } else return false;
      return true;
    });
    if (def === undefined) throw new FormatError('Default policy is missing');
    return { file, default: def, transports };
  } catch (err) {
    if (!(err instanceof FormatError || err instanceof GoJSONError)) throw err;
    const name = file === null ? 'the trust policy' : file;
    throw new OcikitError('CONFIG', `invalid trust policy in ${name}: ${err.message}`, { cause: err });
  }
}

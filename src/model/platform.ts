/**
 * Platforms: what a manifest list entry is for, the platform of the running host, and choosing the
 * entry of a list that a copy would use.
 *
 * - {@link hostPlatform} names the host as Go's `GOOS`/`GOARCH` do, which is what skopeo picks by
 *   default.
 * - {@link chooseInstance} follows the part of containers/image's platform matching
 *   (`internal/pkg/platform/platform_matcher.go`) that ocikit needs: os and architecture must be
 *   equal; a variant is compared only when the wanted platform names one, with the implicit
 *   variants `v8` for `arm64` and `v7` for `arm`.
 */
import { OcikitError } from '../errors.js';
import type { Digest } from './digest.js';
import type { ManifestList } from './manifest.js';
import type { Descriptor } from './descriptor.js';

/**
 * The platform of a list entry (OCI `platform` / Docker `platform`).
 * @category Model
 */
export interface Platform {
  /** CPU architecture as Go's `GOARCH` spells it: `amd64`, `arm64`, `arm`, `s390x`, … */
  readonly architecture: string;
  /** Operating system as Go's `GOOS` spells it: `linux`, `windows`, … */
  readonly os: string;
  /** OS version the image needs (used for Windows images, e.g. `10.0.17763.1234`); absent when any will do. */
  readonly 'os.version'?: string;
  /** OS features the image needs (Windows: `win32k`); absent when none. */
  readonly 'os.features'?: readonly string[];
  /** CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`; absent when the entry names none. */
  readonly variant?: string;
}

/**
 * A platform as `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
 * @category Model
 */
export function platformString(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/** Node's `process.arch` names, as Go's `GOARCH` spells them. */
const GOARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips: 'mips',
  mipsel: 'mipsle',
  loong64: 'loong64',
};

/**
 * The Go `GOOS`/`GOARCH` platform of the running Node process (what skopeo would pick by default).
 * @category Model
 */
export function hostPlatform(): Platform {
  return {
    architecture: GOARCH[process.arch] ?? process.arch,
    os: process.platform === 'win32' ? 'windows' : process.platform,
  };
}

/** Normalised variant, following c/image's platform matcher: arm64 has implicit `v8`, arm `v7`. */
function normVariant(arch: string, variant: string | undefined): string {
  if (variant) return variant;
  if (arch === 'arm64') return 'v8';
  if (arch === 'arm') return 'v7';
  return '';
}

/**
 * Which instance of a manifest list to use.
 * @category Model
 */
export interface InstanceChoice {
  /** Pick this instance digest from a list (verified against the instance manifest bytes). */
  readonly instance?: Digest;
  /** Pick the instance for this platform from a list (default: the host platform, like skopeo). */
  readonly platform?: Platform;
}

/**
 * Picks the entry of `list` that a copy would use: the one with digest `choice.instance`, or else
 * the first whose os/architecture (and variant, when the wanted platform names one) match
 * `choice.platform` or the host platform.
 * @param what names the list in error messages.
 * @throws OcikitError `NOT_FOUND` when no entry matches.
 * @category Model
 */
export function chooseInstance(list: ManifestList, choice: InstanceChoice, what: string): Descriptor {
  if (choice.instance !== undefined) {
    const d = list.manifests.find((m) => m.digest === choice.instance);
    if (!d) throw new OcikitError('NOT_FOUND', `${what}: manifest list has no instance ${choice.instance}`);
    return d;
  }
  const want = choice.platform ?? hostPlatform();
  const sameArch = list.manifests.filter(
    (m) => m.platform !== undefined && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  const wantVariant = want.variant ? normVariant(want.architecture, want.variant) : undefined;
  const hit =
    wantVariant === undefined
      ? sameArch[0]
      : sameArch.find((m) => normVariant(m.platform!.architecture, m.platform!.variant) === wantVariant);
  if (!hit) {
    throw new OcikitError('NOT_FOUND', `${what}: manifest list has no instance for platform ${platformString(want)}`);
  }
  return hit;
}

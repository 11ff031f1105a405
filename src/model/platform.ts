/**
 * Platforms: what a manifest list entry is for, the platform of the running host, and choosing the
 * entry of a list that a copy would use — the one rule every ocikit command shares (docs/platform.md).
 *
 * - {@link hostPlatform} names the host as Go's `GOOS`/`GOARCH` do, with the CPU variant
 *   containers/image detects on ARM, which is what skopeo picks by default.
 * - {@link wantedPlatforms} and {@link chooseInstance} are containers/image 5.23's rule (the version
 *   skopeo 1.9.3 is built with): `internal/pkg/platform/platform_matcher.go` (`WantedPlatforms`,
 *   `MatchesPlatform`), `manifest/docker_schema2_list.go` and `manifest/oci_index.go`
 *   (`ChooseInstance`).
 * - {@link normalizeArchitecture} maps the RPM and Go architecture names callers are given.
 */
import { readFileSync } from 'node:fs';
import { OcikitError } from '../errors.js';
import type { Digest } from './digest.js';
import type { ManifestList } from './manifest.js';
import type { Descriptor } from './descriptor.js';
import { OCI_INDEX } from './media-types.js';

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
 * The ARM variant in `/proc/cpuinfo` text, as containers/image's `getCPUVariantArm` reads it: the
 * value of the first `CPU architecture` line (key compared case-insensitively), mapped `8`/`AArch64`
 * → `v8`, `7`/`7M`/`?(12)`…`?(17)` → `v7`, `6`/`6TEJ` → `v6`, `5`/`5T`/`5TE`/`5TEJ` → `v5`,
 * `4`/`4T` → `v4`, `3` → `v3`; anything else (or no such line) is no variant.
 */
export function armVariantFromCpuinfo(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 2 || fields[0]!.trim().toLowerCase() !== 'cpu architecture') continue;
    const v = fields[1]!.trim().toLowerCase();
    if (v === '8' || v === 'aarch64') return 'v8';
    if (['7', '7m', '?(12)', '?(13)', '?(14)', '?(15)', '?(16)', '?(17)'].includes(v)) return 'v7';
    if (v === '6' || v === '6tej') return 'v6';
    if (['5', '5t', '5te', '5tej'].includes(v)) return 'v5';
    if (v === '4' || v === '4t') return 'v4';
    return v === '3' ? 'v3' : undefined;
  }
  return undefined;
}

let host: Platform | undefined;

/** The CPU variant containers/image detects (`getCPUVariant`): ARM only; Windows by architecture. */
function hostVariant(os: string, architecture: string): string | undefined {
  if (architecture !== 'arm' && architecture !== 'arm64') return undefined;
  if (os === 'windows') return architecture === 'arm64' ? 'v8' : 'v7';
  if (os !== 'linux') return undefined;
  try {
    return armVariantFromCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined; // as containers/image: no cpuinfo, no variant
  }
}

/**
 * The platform of the running Node process as skopeo would pick it by default: Go's `GOOS` and
 * `GOARCH`, and on ARM the variant containers/image reads from `/proc/cpuinfo` (`v8` on an arm64
 * Linux host, typically `v7` on 32-bit ARM).
 * @category Model
 */
export function hostPlatform(): Platform {
  if (host === undefined) {
    const architecture = GOARCH[process.arch] ?? process.arch;
    const os = process.platform === 'win32' ? 'windows' : process.platform;
    const variant = hostVariant(os, architecture);
    host = Object.freeze({ architecture, os, ...(variant ? { variant } : {}) });
  }
  return host;
}

/** The names {@link normalizeArchitecture} accepts, and what each means. */
const ARCHITECTURES: Readonly<Record<string, Pick<Platform, 'architecture' | 'variant'>>> = {
  amd64: { architecture: 'amd64' },
  x86_64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64' },
  // osbuild/images `pkg/container` asks for v8 for aarch64 (and no variant for arm64).
  aarch64: { architecture: 'arm64', variant: 'v8' },
  arm: { architecture: 'arm' },
  armhfp: { architecture: 'arm', variant: 'v7' },
  armv7: { architecture: 'arm', variant: 'v7' },
  ppc64le: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
};

/**
 * Maps an architecture name as users give it to the Go name lists use: the Go names `amd64`,
 * `arm64`, `arm`, `ppc64le`, `s390x`, `riscv64` as they are, and the RPM names `x86_64` → `amd64`,
 * `aarch64` → `arm64` with variant `v8` (as osbuild/images asks), `armhfp` and `armv7` → `arm`
 * with variant `v7`.
 * @throws OcikitError `INVALID_INPUT` for any other name (the message lists the accepted ones).
 * @category Model
 */
export function normalizeArchitecture(name: string): Pick<Platform, 'architecture' | 'variant'> {
  const hit = Object.hasOwn(ARCHITECTURES, name) ? ARCHITECTURES[name] : undefined;
  if (!hit) {
    throw new OcikitError(
      'INVALID_INPUT',
      `unsupported architecture ${JSON.stringify(name)} (accepted: ${Object.keys(ARCHITECTURES).join(', ')})`,
    );
  }
  return hit;
}

/**
 * The known variants of an architecture, most capable first (containers/image 5.23
 * `compatibility`). Other architectures, amd64 included, have none.
 */
const COMPATIBILITY: Readonly<Record<string, readonly string[]>> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  arm64: ['v8'],
};

/**
 * The platforms a copy asked for `want` accepts, best first: containers/image 5.23's
 * `WantedPlatforms` with `want` as the `--override-os/arch/variant` choice (an empty os or
 * architecture is the host's; the host's detected variant applies only when the architecture is
 * not given). With a variant: that variant and the less capable ones of its architecture
 * (`arm/v7` → `v7`, `v6`, `v5`), then none; an unknown variant alone, then none. Without one: none
 * first, then every known variant (`arm64` → none, `v8`). `os.version` and `os.features` play no part.
 * @category Model
 */
export function wantedPlatforms(want: Platform = hostPlatform()): Platform[] {
  const h = hostPlatform();
  const architecture = want.architecture || h.architecture;
  const os = want.os || h.os;
  const variant = want.variant || (want.architecture ? '' : (h.variant ?? ''));
  const known = Object.hasOwn(COMPATIBILITY, architecture) ? COMPATIBILITY[architecture]! : undefined;
  let variants: string[];
  if (variant !== '') {
    const at = known ? known.indexOf(variant) : -1;
    variants = [...(at >= 0 ? known!.slice(at) : [variant]), ''];
  } else {
    variants = ['', ...(known ?? [])];
  }
  return variants.map((v) => Object.freeze({ os, architecture, ...(v ? { variant: v } : {}) }));
}

/** `MatchesPlatform`: architecture, os and variant all equal (a missing variant is the empty one). */
function matches(p: Platform, w: Platform): boolean {
  return p.architecture === w.architecture && p.os === w.os && (p.variant ?? '') === (w.variant ?? '');
}

/**
 * Which instance of a manifest list to use.
 * @category Model
 */
export interface InstanceChoice {
  /** Pick this instance digest from a list (verified against the instance manifest bytes). */
  readonly instance?: Digest;
  /**
   * Pick the instance for this platform from a list, as `skopeo --override-os --override-arch
   * --override-variant` would (default: the host platform, like skopeo without them).
   */
  readonly platform?: Platform;
}

/**
 * Picks the entry of `list` that a copy would use: the one with digest `choice.instance`, or else
 * the one containers/image 5.23 chooses for `choice.platform` (default: the host): for each of
 * {@link wantedPlatforms} in order, the first entry whose platform matches it; failing all, in an
 * OCI index only, the first entry without a platform (a Docker list entry without one never
 * matches). There is no preference for zstd instances (5.23 has none).
 * @param what names the list in error messages.
 * @throws OcikitError `NOT_FOUND` when no entry qualifies, naming the wanted platform and the
 *   platforms the list has.
 * @category Model
 */
export function chooseInstance(list: ManifestList, choice: InstanceChoice, what: string): Descriptor {
  if (choice.instance !== undefined) {
    const d = list.manifests.find((m) => m.digest === choice.instance);
    if (!d) throw new OcikitError('NOT_FOUND', `${what}: manifest list has no instance ${choice.instance}`);
    return d;
  }
  const wanted = wantedPlatforms(choice.platform ?? hostPlatform());
  for (const w of wanted) {
    const hit = list.manifests.find((m) => m.platform !== undefined && matches(m.platform, w));
    if (hit) return hit;
  }
  const bare = list.mediaType === OCI_INDEX ? list.manifests.find((m) => m.platform === undefined) : undefined;
  if (bare) return bare;
  throw new OcikitError(
    'NOT_FOUND',
    `${what}: manifest list has no instance for platform ${platformString(wanted[0]!)}${listedPlatforms(list)}`,
  );
}

/** `; it has P1, P2 and N entries without a platform` for a message (nothing for an empty list). */
function listedPlatforms(list: ManifestList): string {
  if (list.manifests.length === 0) return '';
  const named = [...new Set(list.manifests.flatMap((m) => (m.platform ? [platformString(m.platform)] : [])))];
  const bare = list.manifests.filter((m) => m.platform === undefined).length;
  if (bare > 0) named.push(`${bare} ${bare === 1 ? 'entry' : 'entries'} without a platform`);
  return `; it has ${named.join(', ')}`;
}

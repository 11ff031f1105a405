/**
 * Architecture names: `--arch` takes Go's `GOARCH` names and RPM's (`model/platform.ts`
 * `normalizeArchitecture`, as osbuild/images `pkg/container/client.go` `SetArchitectureChoice` and
 * osbuild-mpp `_arch_from_rpm` map them); the specs carry the RPM form osbuild/images' `arch.Arch`
 * prints (`pkg/arch/arch.go`).
 */
import { OcikitError } from '../errors.js';
import { type Platform, hostPlatform, normalizeArchitecture } from '../model/platform.js';

/** Go architecture → the RPM name osbuild uses. */
const RPM_NAMES: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  arm64: 'aarch64',
  arm: 'armhfp',
};

/**
 * What a resolve asks for.
 * @category Resolve
 */
export interface PlatformChoice {
  /** A Go or RPM architecture name (`amd64`, `x86_64`, `arm64`, `aarch64`, `arm`, `armhfp`, `armv7`, `ppc64le`, `s390x`, `riscv64`); default: the host's. */
  readonly arch?: string | undefined;
  /** The CPU variant (`v8`, `v7`, …); default: the one the architecture name implies (`aarch64` → `v8`, `armhfp` → `v7`), else none. */
  readonly variant?: string | undefined;
  /** The operating system; default `linux`. */
  readonly os?: string | undefined;
}

/**
 * The platform a choice names.
 * @throws OcikitError `INVALID_INPUT` for an architecture name that is none of the accepted ones.
 * @category Resolve
 */
export function platformOfChoice(choice: PlatformChoice = {}): Platform {
  const os = choice.os ?? 'linux';
  if (!/^[a-z0-9_]+$/.test(os)) throw new OcikitError('INVALID_INPUT', `os ${JSON.stringify(os)} is not an OS name`);
  if (choice.variant !== undefined && !/^[a-z0-9]+$/.test(choice.variant))
    throw new OcikitError('INVALID_INPUT', `variant ${JSON.stringify(choice.variant)} is not a CPU variant name`);
  const base =
    choice.arch === undefined ? { architecture: hostPlatform().architecture } : normalizeArchitecture(choice.arch);
  const variant = choice.variant ?? base.variant;
  return { os, architecture: base.architecture, ...(variant ? { variant } : {}) };
}

/**
 * The RPM name of a Go architecture (`amd64` → `x86_64`, `arm64` → `aarch64`, `arm` → `armhfp`;
 * others unchanged).
 * @category Resolve
 */
export function rpmArch(goArch: string): string {
  return Object.hasOwn(RPM_NAMES, goArch) ? RPM_NAMES[goArch]! : goArch;
}

/** A variant as c/image's platform matcher compares it: `arm64` without one is `v8`. */
export function comparableVariant(architecture: string, variant: string | undefined): string {
  return variant || (architecture === 'arm64' ? 'v8' : '');
}

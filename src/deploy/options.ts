/**
 * The options of `deploy`: osbuild's `org.osbuild.container-deploy` stage options validated once
 * (osbuild `stages/org.osbuild.container-deploy.meta.json`: `exclude`, an array of at least one
 * string; `remove-signatures`, a boolean the stage documents as "Obsolete. Does nothing."; no
 * other key), and the `exclude` entries checked before anything is written (R45).
 */
import { OcikitError } from '../errors.js';
import { describeValue, isRecord } from '../internal/guards.js';

/**
 * The validated container-deploy stage options.
 * @category Deploy
 */
export interface DeployStageOptions {
  /** `exclude`: paths removed from the tree after the last layer (R45); empty when absent. */
  readonly exclude: readonly string[];
  /** `remove-signatures`: accepted and ignored, as the stage ignores it (R43). */
  readonly removeSignatures: boolean;
}

/**
 * Validates the stage options as the stage schema does (`exclude` array of strings, `minItems`
 * 1; `remove-signatures` boolean; nothing else), each `exclude` entry as {@link checkExclude}.
 * Every problem is reported in one error, naming its field.
 * @throws OcikitError `INVALID_INPUT` (`values` lists the fields); `UNSAFE_PATH` for an entry
 *   with a `..` segment.
 * @category Deploy
 */
export function parseDeployStageOptions(options: unknown): DeployStageOptions {
  if (!isRecord(options)) {
    throw new OcikitError('INVALID_INPUT', `deploy options must be an object, not ${describeValue(options)}`, {
      values: ['options'],
    });
  }
  const problems: { field: string; message: string }[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message });
  for (const key of Object.keys(options)) {
    if (key !== 'exclude' && key !== 'remove-signatures') bad(key, `unknown option ${JSON.stringify(key)}`);
  }
  const rs = options['remove-signatures'];
  if (rs !== undefined && typeof rs !== 'boolean')
    bad('remove-signatures', `"remove-signatures" must be a boolean, not ${describeValue(rs)}`);
  const ex = options.exclude;
  const exclude: string[] = [];
  if (ex !== undefined) {
    if (!Array.isArray(ex)) bad('exclude', `"exclude" must be an array of strings, not ${describeValue(ex)}`);
    else if (ex.length === 0) bad('exclude', '"exclude" must have at least one entry');
    else
      ex.forEach((v: unknown, i) => {
        if (typeof v !== 'string') bad(`exclude[${i}]`, `must be a string, not ${describeValue(v)}`);
        else exclude.push(v);
      });
  }
  if (problems.length > 0) {
    throw new OcikitError(
      'INVALID_INPUT',
      `invalid deploy options: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      { values: problems.map((p) => p.field) },
    );
  }
  for (const [i, p] of exclude.entries()) checkExclude(p, `exclude[${i}]`);
  return Object.freeze({ exclude: Object.freeze(exclude), removeSignatures: rs === true });
}

/**
 * R45: an `exclude` entry names a path inside the tree: relative to it (a leading `/` allowed, a
 * trailing `/` ignored), never through `..` (osbuild's `rm -rf TREE/<p>` would follow it out of
 * the tree), never the tree itself, no NUL byte.
 * @throws OcikitError `UNSAFE_PATH` (`..`), `INVALID_INPUT` (the tree itself, NUL).
 * @category Deploy
 */
export function checkExclude(p: string, field = 'exclude'): void {
  const segments = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw new OcikitError('UNSAFE_PATH', `${field} ${JSON.stringify(p)} has a ".." segment: it would leave the tree`, {
      values: [field],
    });
  }
  if (p.includes('\0'))
    throw new OcikitError('INVALID_INPUT', `${field} ${JSON.stringify(p)} contains a NUL byte`, { values: [field] });
  if (segments.length === 0) {
    throw new OcikitError('INVALID_INPUT', `${field} ${JSON.stringify(p)} names the tree itself, not a path in it`, {
      values: [field],
    });
  }
}

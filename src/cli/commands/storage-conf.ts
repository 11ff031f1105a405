/**
 * `ocikit storage-conf`: prints the host's containers storage configuration, meaning the one
 * storage.conf that containers-storage.conf(5) selects, with defaults filled in (see
 * src/config/storage-conf.ts).
 *
 * When no file exists, the built-in defaults are printed with `file` null (`file: (none)`), and
 * one note on stderr lists the paths tried. This is not an error, because skopeo and podman also
 * run on those defaults. A file named by `--file` or `CONTAINERS_STORAGE_CONF` that does not
 * exist is an error.
 */
import { readStorageConf, storageConfLookup, type StorageConf } from '../../config/storage-conf.js';
import { type Command, parse, println } from '../command.js';

const USAGE = `Usage: ocikit storage-conf [--json] [--file PATH]

Print the host's containers storage configuration: the storage.conf that
containers-storage.conf(5) selects, with defaults for what it leaves out.

The file is chosen in this order; only one file is read:
  --file PATH, then $CONTAINERS_STORAGE_CONF (either must exist);
  for a non-root user, $XDG_CONFIG_HOME/containers/storage.conf
  (or ~/.config/containers/storage.conf);
  /etc/containers/storage.conf; /usr/share/containers/storage.conf.

Defaults: driver overlay, graphroot /var/lib/containers/storage,
runroot /run/containers/storage.

Options:
  --json         print one JSON object with driver, graphroot, runroot,
                 imagestore, additionalimagestores and file (null if none)
  --file PATH    read exactly this file

Exit status: 0 success, 1 unreadable or invalid configuration, 2 usage error.`;

/** The `storage-conf` subcommand. */
export const command: Command = {
  name: 'storage-conf',
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parse(
      'storage-conf',
      args,
      { json: { type: 'boolean' }, file: { type: 'string' } },
      { min: 0, max: 0, names: 'no arguments' },
    );
    const opts = { env: ctx.env, cwd: ctx.cwd, file: values.file };
    const conf = await readStorageConf({ ...opts, missingOk: true });
    if (conf.file === null) {
      const tried = storageConfLookup(opts).paths.join(', ');
      println(ctx.stderr, `ocikit: note: no storage.conf found (tried ${tried}); showing the built-in defaults`);
    }
    if (values.json) {
      println(ctx.stdout, JSON.stringify(summary(conf)));
    } else {
      for (const line of humanLines(conf)) println(ctx.stdout, line);
    }
    return 0;
  },
};

/** Exactly the keys the JSON output promises, in a fixed order (no raw options table). */
function summary(conf: StorageConf) {
  return {
    driver: conf.driver,
    graphroot: conf.graphroot,
    runroot: conf.runroot,
    imagestore: conf.imagestore,
    additionalimagestores: conf.additionalimagestores,
    file: conf.file,
  };
}

/**
 * One `key: value` line per setting. An additional store gets a line of its own (paths may hold
 * spaces). `(none)` cannot be mistaken for a path, because every path here is absolute.
 */
function humanLines(conf: StorageConf): string[] {
  const lines = [
    `driver: ${conf.driver}`,
    `graphroot: ${conf.graphroot}`,
    `runroot: ${conf.runroot}`,
    `imagestore: ${conf.imagestore ?? '(none)'}`,
  ];
  if (conf.additionalimagestores.length === 0) lines.push('additionalimagestores: (none)');
  for (const store of conf.additionalimagestores) lines.push(`additionalimagestores: ${store}`);
  lines.push(`file: ${conf.file ?? '(none)'}`);
  return lines;
}

#!/usr/bin/env node
// Bench driver: installs one dir: image natively, as a whole process, and reports its own peak RSS.
// Usage: node bench/install-native-driver.mjs SRC_DIR DEST_TYPE DEST_PATH [NAME]
// Stands in for `ocikit install` until that command exists (bench/install-native.mjs picks).
import { resourceUsage } from 'node:process';
const [src, type, dest, name = 'localhost/big:latest'] = process.argv.slice(2);
const { openDirImage } = await import('../dist/src/transports/dir/read.js');
const { installNative } = await import('../dist/src/install/to-layout.js');
const reader = await openDirImage(src);
const res = await installNative([{ reader, name }], { type, path: dest });
console.log(JSON.stringify({ installed: res, maxRssKiB: resourceUsage().maxRSS }));

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mountPoints, unmountIfMounted } from '../../src/tools/mounts.js';
import { tempDir } from '../helpers/tmp.js';

describe('mountPoints', () => {
  it('takes field 5 of every mountinfo line and undoes its octal escapes', () => {
    const info = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '98 22 0:45 / /tmp/with\\040space\\134x rw - tmpfs tmpfs rw',
      '',
    ].join('\n');
    assert.deepEqual(mountPoints(info), ['/', '/tmp/with space\\x']);
  });
});

describe('unmountIfMounted', () => {
  it('does nothing for a directory that is not a mount point', async (t) => {
    await unmountIfMounted(await tempDir(t));
  });
});

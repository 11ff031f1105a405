#!/usr/bin/env node
// The floor of bench/fetch.mjs: the least a client can do to fetch an image's blobs from a
// plain-HTTP loopback registry. Raw TCP, one `GET` per blob on its own connection, `--jobs` at
// once (largest first), each body hashed with SHA-256 and checked, then dropped (no file, no
// fsync, no manifest, no policy, no retries). A whole process, like the tools it is compared with.
// Usage: node bench/fetch-floor.mjs HOST:PORT REPO --jobs N DIGEST:SIZE...
import { createHash } from 'node:crypto';
import * as net from 'node:net';

const [hostPort, repo, ...rest] = process.argv.slice(2);
const jobsAt = rest.indexOf('--jobs');
const jobs = jobsAt >= 0 ? Number(rest.splice(jobsAt, 2)[1]) : 4;
const blobs = rest
  .map((s) => {
    const i = s.lastIndexOf(':');
    return { digest: s.slice(0, i), size: Number(s.slice(i + 1)) };
  })
  .sort((a, b) => b.size - a.size);
const [host, port] = hostPort.split(':');

function fetchBlob({ digest, size }) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let head = Buffer.alloc(0);
    let inBody = false;
    let left = size;
    const buffer = Buffer.allocUnsafe(1 << 20);
    const socket = net.connect({
      host,
      port: Number(port),
      onread: {
        buffer,
        callback(n) {
          let data = buffer.subarray(0, n);
          if (!inBody) {
            head = Buffer.concat([head, data]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            const status = head.toString('latin1', 0, end).split('\r\n')[0];
            if (!/^HTTP\/1\.[01] 200 /.test(status)) return reject(new Error(`${digest}: ${status}`));
            inBody = true;
            data = head.subarray(end + 4);
          }
          hash.update(data);
          left -= data.length;
          if (left <= 0) {
            socket.destroy();
            const got = `sha256:${hash.digest('hex')}`;
            if (got !== digest || left < 0) reject(new Error(`${digest}: got ${got}, ${-left} bytes too many`));
            else resolve();
          }
        },
      },
    });
    socket.on('connect', () => socket.write(`GET /v2/${repo}/blobs/${digest} HTTP/1.1\r\nHost: ${hostPort}\r\n\r\n`));
    socket.on('error', reject);
  });
}

let next = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, blobs.length) }, async () => {
    while (next < blobs.length) await fetchBlob(blobs[next++]);
  }),
);

// Lab client: HTTPS GETs with Node's https (OpenSSL inside Node), one new connection each.
//
//   node node-get.mjs URL --ca CA.pem [--count N] [--interval-ms M] [--ipv6]

import { request } from 'node:https';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const url = args[0];
let ca = ''; let count = 1; let intervalMs = 0; let family = 4;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--ca') ca = args[++i];
  else if (args[i] === '--count') count = Number(args[++i]);
  else if (args[i] === '--interval-ms') intervalMs = Number(args[++i]);
  else if (args[i] === '--ipv6') family = 6;
}
const caPem = readFileSync(ca);

function once() {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, agent: false, family }, (res) => {
      res.resume();
      res.on('end', () => { process.stdout.write(`${res.statusCode}\n`); resolve(); });
    });
    req.on('error', reject);
    req.end();
  });
}

for (let i = 0; i < count; i++) {
  const t0 = Date.now();
  await once();
  if (i + 1 < count) await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - t0))));
}

// Writes <dir>/expected.json from tshark's reading of the capture in <dir> (see oracle.mjs).
// Generated, never hand-edited: rerun after regenerating a capture and review the diff.
//
//   node scripts/captures/make-expected.mjs test/captures/<case> [pcaps/demo ...]

import { readdirSync, writeFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { derive } from './oracle.mjs';

for (const dir of process.argv.slice(2)) {
  const caps = readdirSync(dir).filter((f) => /\.pcap(\.gz)?$/.test(f));
  if (caps.length !== 1) {
    process.stderr.write(`${dir}: expected exactly one .pcap or .pcap.gz, found ${caps.length}\n`);
    process.exitCode = 1;
    continue;
  }
  const cap = caps[0];
  const exp = derive(join(dir, cap), basename(cap));
  writeFileSync(join(dir, 'expected.json'), `${JSON.stringify(exp, null, 1)}\n`);
  process.stdout.write(`${dir}: ${JSON.stringify(exp.counts)}\n`);
}

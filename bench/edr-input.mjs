// EDR input cost by record size: a file of one good record, one long line of N MB, one good
// record (and the same with N MB of binary garbage), read through the shared EDR reader in a
// child process each, measuring wall time and peak RSS. Linear input means time grows with N
// (not N²) and peak RSS stays flat (the long line is never held). Run after `npm run build`:
// `node bench/edr-input.mjs [MB,...]` (default 8,16,32,64). EDR_BENCH_DIST=<dir> measures another
// build (e.g. the previous commit's dist/) for a same-run baseline.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';

const good = (port) => JSON.stringify({ v: 1, tsMs: 1704888000000, deviceId: 'd', localAddr: '10.0.0.1', localPort: port, remoteAddr: '10.0.0.2', remotePort: 443, transport: 'tcp', direction: 'outbound' });

function writeCase(path, mb, kind) {
  const fd = openSync(path, 'w');
  writeSync(fd, `${good(1)}\n`);
  const block = Buffer.alloc(1 << 20);
  if (kind === 'line') {
    writeSync(fd, '{"v":1,"pad":"');
    block.fill(0x61);
    for (let i = 0; i < mb; i++) writeSync(fd, block);
    writeSync(fd, '"}\n');
  } else {
    for (let i = 0; i < mb; i++) { randomFillSync(block); writeSync(fd, block); }
    writeSync(fd, '\n');
  }
  writeSync(fd, `${good(2)}\n`);
  closeSync(fd);
}

function distUrl(rel) {
  const dir = process.env.EDR_BENCH_DIST;
  return dir ? new URL(rel, `file://${dir.replace(/\/?$/, '/')}`).href : new URL(`../dist/${rel}`, import.meta.url).href;
}

const child = `
const { readEdrFile, createIngestState } = await import(${JSON.stringify(distUrl('attribute/ingest.js'))});
const t = process.hrtime.bigint();
let n = 0;
const r = await readEdrFile(process.argv[1], { tenant: 't', lineageKey: 'k', state: createIngestState() }, () => { n++; });
const s = Number(process.hrtime.bigint() - t) / 1e9;
process.stdout.write(JSON.stringify({ s, accepted: r.accepted, rejected: r.rejected, maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
`;

export function benchEdrInput(sizes = [8, 16, 32, 64], timeoutS = 300) {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-edr-bench-'));
  const rows = [];
  try {
    for (const kind of ['line', 'binary']) {
      for (const mb of sizes) {
        const path = join(dir, `${kind}-${mb}.ndjson`);
        writeCase(path, mb, kind);
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', child, path], { encoding: 'utf8', timeout: timeoutS * 1000 });
        const out = r.status === 0 ? JSON.parse(r.stdout) : { error: r.error?.message ?? r.stderr.slice(0, 200) };
        rows.push({ kind, mb, ...out });
        rmSync(path);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv[2] ? process.argv[2].split(',').map(Number) : undefined;
  for (const row of benchEdrInput(sizes)) console.log(JSON.stringify(row));
}

import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createIngestState, EdrFollower } from '../../src/attribute/ingest.js';
import type { EdrConnection } from '../../src/records.js';

const dir = mkdtempSync(join(tmpdir(), 'llmtap-follow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (port: number) => JSON.stringify({ v: 1, tsMs: 1000 + port, deviceId: 'd', localAddr: '10.0.0.1', localPort: port, remoteAddr: '10.0.0.2', remotePort: 443, transport: 'tcp', direction: 'outbound' }) + '\n';

describe('EdrFollower', () => {
  it('reads appends, waits for a partial line, survives rotation and truncation', async () => {
    const path = join(dir, 'edr.ndjson');
    writeFileSync(path, line(1) + line(2));
    const got: EdrConnection[] = [];
    const f = new EdrFollower(path, { tenant: 't', lineageKey: 'k', state: createIngestState() }, (r) => got.push(r));
    await f.poll();
    expect(got.map((r) => r.localPort)).toEqual([1, 2]);
    const l3 = line(3);
    appendFileSync(path, l3.slice(0, 20)); // partial record: nothing yet
    await f.poll();
    expect(got.length).toBe(2);
    appendFileSync(path, l3.slice(20));
    await f.poll();
    expect(got.map((r) => r.localPort)).toEqual([1, 2, 3]);
    // rotation: old file gets one more line, then is moved away; a new file appears
    appendFileSync(path, line(4));
    renameSync(path, `${path}.1`);
    writeFileSync(path, line(5));
    await f.poll();
    expect(got.map((r) => r.localPort)).toEqual([1, 2, 3, 4, 5]);
    expect(f.rotations).toBe(1);
    // truncation (copytruncate): start over from the beginning
    truncateSync(path, 0);
    await f.poll();
    appendFileSync(path, line(6));
    await f.poll();
    expect(got.map((r) => r.localPort)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.truncations).toBe(1);
    expect(f.totals.accepted).toBe(6);
    await f.close();
    await f.close();
  });

  it('a missing file is retried, timers stop on close', async () => {
    const path = join(dir, 'later.ndjson');
    const got: EdrConnection[] = [];
    const f = new EdrFollower(path, { tenant: 't', lineageKey: 'k', pollMs: 20 }, (r) => got.push(r));
    f.start();
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(path, line(7));
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await f.close();
    expect(got.map((r) => r.localPort)).toEqual([7]);
  });
});

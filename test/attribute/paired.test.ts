/**
 * docs/edr-join.md §9: sharpwmi.cap replayed with the Sysmon/WFP file of the same lab run. Every
 * captured flow that has a matching endpoint record is attributed to the right process on the
 * right host; each host's constant offset is learned; the WS5 → WS6 connections are attributed
 * at both ends. Expected processes are read from the capture-independent sample text (§9 list).
 */
import { describe, expect, it } from 'vitest';
import { replayFile } from '../../src/pipeline.js';
import { readEdrFile, createIngestState } from '../../src/attribute/ingest.js';
import { Attributor, defaultAttributeOptions } from '../../src/attribute/join.js';
import type { EdrConnection, FlowRecord, Observation } from '../../src/records.js';
import { haveSamples, sample } from './helpers.js';

const WS5 = 'workstation5.theshire.local';
const WS6 = 'workstation6.theshire.local';
const DC = 'mordordc.theshire.local';

async function load(): Promise<{ flows: FlowRecord[]; recs: EdrConnection[] }> {
  const { flows } = await replayFile(sample('paired-network/sharpwmi.cap'));
  const recs: EdrConnection[] = [];
  await readEdrFile(sample('sysmon-nxlog-json/sharpwmi-sysmon-1-3-22-wfp-5156.jsonl'), { tenant: 'lab', lineageKey: 'k', state: createIngestState() }, (r) => recs.push(r));
  return { flows, recs };
}

function run(flows: FlowRecord[], recs: EdrConnection[], edrFirst: boolean) {
  const latest = new Map<string, Observation>();
  const at = new Attributor({ ...defaultAttributeOptions, waitMs: 10 * 60_000 }, {
    emit: (o) => { if (o.kind === 'flow') latest.set(o.obsId, o); },
  });
  if (edrFirst) for (const r of recs) at.addEdr(r);
  for (const f of flows) at.addFlow(f, 'lab');
  if (!edrFirst) for (const r of recs) at.addEdr(r);
  at.flush();
  const byPorts = new Map<string, Observation>();
  for (const o of latest.values()) {
    const f = o.flow!;
    byPorts.set(`${f.origPort}-${f.respPort}`, o);
  }
  return { byPorts, stats: at.stats() };
}

// flow (client port → server port): [client host, client process, server host, server process]
const EXPECTED: Record<string, [string, string, string | undefined, string | undefined]> = {
  '52548-80': [WS6, 'GruntHTTP2.exe', undefined, undefined],
  '55275-52419': [WS5, 'GruntHTTP.exe', WS6, 'svchost.exe'],
  '55274-135': [WS5, 'svchost.exe', WS6, 'svchost.exe'],
  '52543-445': [WS6, 'System', DC, 'System'],
  '63959-53': [WS6, 'svchost.exe', DC, 'dns.exe'],
  '56183-53': [WS6, 'svchost.exe', DC, 'dns.exe'],
  '49554-53': [WS6, 'svchost.exe', DC, 'dns.exe'],
  '57305-53': [WS6, 'svchost.exe', DC, 'dns.exe'],
  '60587-53': [WS6, 'svchost.exe', DC, 'dns.exe'],
};

describe.skipIf(!haveSamples())('sharpwmi.cap + Sysmon/WFP (docs/edr-join.md §9)', () => {
  for (const edrFirst of [true, false]) {
    it(`attributes every matched flow (${edrFirst ? 'EDR first' : 'flows first'})`, async () => {
      const { flows, recs } = await load();
      expect(flows.length).toBe(10);
      const { byPorts, stats } = run(flows, recs, edrFirst);
      for (const [ports, [ch, cp, sh, sp]] of Object.entries(EXPECTED)) {
        const o = byPorts.get(ports);
        expect(o, ports).toBeDefined();
        expect(o!.client?.method, ports).toBe('edr');
        expect(o!.client?.deviceId, ports).toBe(ch);
        expect(o!.client?.processName?.toLowerCase(), ports).toBe(cp.toLowerCase());
        expect(o!.client?.ambiguous, ports).toBeUndefined();
        if (sh !== undefined) {
          expect(o!.server?.method, ports).toBe('edr');
          expect(o!.server?.deviceId, ports).toBe(sh);
          expect(o!.server?.processName?.toLowerCase(), ports).toBe(sp!.toLowerCase());
        }
      }
      // The implant's hash comes from its EID 1 through the process table.
      const grunt = byPorts.get('52548-80')!.client!;
      expect(grunt.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(grunt.parentName).toBe('WmiPrvSE.exe');
      // Per-host constant offsets of Sysmon UtcTime against the capture (§9).
      const skew = (d: string) => stats[`skew_ms.${d}.sysmon`]!;
      expect(skew(WS6)).toBeGreaterThan(570);
      expect(skew(WS6)).toBeLessThan(770);
      expect(skew(WS5)).toBeGreaterThan(370);
      expect(skew(WS5)).toBeLessThan(570);
      expect(skew(DC)).toBeGreaterThan(-1150);
      expect(skew(DC)).toBeLessThan(-950);
      // The flow without any endpoint record (55269 → 135) is labelled by the device map only.
      const lone = byPorts.get('55269-135')!;
      expect(lone.client?.method).toBe('device-map');
      expect(lone.client?.deviceId).toBe(WS5);
      expect(stats['join.hit']).toBe(9);
      expect(stats['join.miss']).toBe(1);
    });
  }
});

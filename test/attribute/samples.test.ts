/**
 * Every real sample parses with zero unexplained outcomes (each skipped record has a named,
 * documented reason), and nothing that leaves the parsers — records, observations, counters —
 * contains the command lines, user names or SIDs the samples carry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createIngestState, readEdrFile, type IngestResult } from '../../src/attribute/ingest.js';
import { Attributor, defaultAttributeOptions } from '../../src/attribute/join.js';
import type { EdrConnection, Observation } from '../../src/records.js';
import { haveSamples, sample, samplesDir } from './helpers.js';

/** Every reason a sample may legitimately produce (documented in src/attribute/README.md). */
const EXPLAINED = new Set([
  'sysmon.process_create', 'sysmon.dns_query', 'sysmon.process_terminate',
  'edr.link_local', 'edr.multicast', 'edr.broadcast',
  'mde.no_process_action', 'tetragon.process_exec', 'tetragon.lifecycle_event',
]);

function sampleFiles(): string[] {
  const out: string[] = [];
  for (const d of readdirSync(samplesDir, { withFileTypes: true })) {
    if (!d.isDirectory() || d.name === 'paired-network') continue;
    for (const f of readdirSync(`${samplesDir}/${d.name}`)) if (!f.endsWith('.md')) out.push(`${d.name}/${f}`);
  }
  return out.sort();
}

/** Values the privacy check hunts for, taken from the samples themselves. */
function secrets(): string[] {
  const found = new Set<string>();
  const walk = (v: unknown, k: string): void => {
    if (Array.isArray(v)) { v.forEach((x) => walk(x, k)); return; }
    if (typeof v === 'object' && v !== null) { for (const [kk, vv] of Object.entries(v)) walk(vv, kk); return; }
    if (typeof v !== 'string' || v.length < 5) return;
    // A command line without arguments is just the image path, which the record may carry.
    if (/commandline|^arguments$|^message$|^cwd$/i.test(k) && /\s/.test(v.replace(/^"|"$/g, '').trim())) found.add(v);
    if (/^(userid|usersid|sid|identifier|initiatingprocessaccount(sid|upn|objectid))$/i.test(k) || /^S-1-5-21-/.test(v)) found.add(v);
    if (/^(user|accountname|initiatingprocessaccountname)$/i.test(k)) {
      const name = v.includes('\\') ? v.slice(v.indexOf('\\') + 1) : v;
      if (!/^(system|network service|local service|-)$/i.test(name) && !v.startsWith('NT AUTHORITY')) found.add(name);
    }
  };
  for (const f of sampleFiles()) {
    const text = readFileSync(sample(f), 'utf8');
    for (const line of f.endsWith('.json') ? [text] : text.split('\n')) {
      if (line.trim() === '') continue;
      walk(JSON.parse(line), '');
    }
  }
  // lab user names inside paths
  for (const n of ['pgustavo', 'nmartha', 'username']) found.add(n);
  return [...found];
}

describe.skipIf(!haveSamples())('real EDR samples', () => {
  const results = new Map<string, IngestResult>();
  const recs: EdrConnection[] = [];

  it('parse with every outcome explained', async () => {
    for (const f of sampleFiles()) {
      const r = await readEdrFile(sample(f), { tenant: 't', lineageKey: 'key', state: createIngestState() }, (x) => recs.push(x));
      results.set(f, r);
      for (const reason of Object.keys(r.rejected)) expect(EXPLAINED.has(reason), `${f}: ${reason}`).toBe(true);
      expect(r.byFormat['unknown'], f).toBeUndefined();
      expect(r.accepted, f).toBeGreaterThan(f.includes('nc_process_') && !f.includes('connect') ? -1 : 0);
    }
    // Counts from the samples' README: every Sysmon EID 3 line is either a record or a named drop.
    const lsass = results.get('sysmon-nxlog-json/lsass03-prd01-sysmon-1-3-22.jsonl')!;
    expect(lsass.byFormat['sysmon']).toBe(344);
    expect(lsass.accepted + (lsass.rejected['edr.link_local'] ?? 0) + (lsass.rejected['edr.multicast'] ?? 0) + (lsass.rejected['edr.broadcast'] ?? 0)).toBe(159);
    const wb = results.get('winlogbeat6-json/invoke-runas-winlogbeat6-sysmon-1-3.jsonl')!;
    expect(wb.accepted + (wb.rejected['edr.link_local'] ?? 0)).toBe(135);
    const sharp = results.get('sysmon-nxlog-json/sharpwmi-sysmon-1-3-22-wfp-5156.jsonl')!;
    expect(sharp.byFormat).toEqual({ sysmon: 54, wfp: 112 });
    const mde = results.get('mde-streaming-json/m365d-devicenetworkevents-excerpt.jsonl')!;
    expect(mde.accepted).toBe(4); // NetworkSignatureInspected has no process
  });

  it('normalizes spellings across the samples', () => {
    for (const r of recs) {
      expect(r.localAddr).not.toMatch(/^::ffff:|%|[A-F]|:0:0:/);
      expect(r.remoteAddr).not.toMatch(/^::ffff:|%|[A-F]|:0:0:/);
      if (r.sha256 !== undefined) expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
      if (r.processPath !== undefined) expect(r.processPath).not.toMatch(/users[\\/](?!\*)/i);
      expect(Object.keys(r).every((k) => ['v', 'tenant', 'source', 'sourceEventId', 'tsMs', 'tsKind', 'receivedAtMs', 'deviceId', 'deviceName', 'localAddr', 'localPort', 'remoteAddr', 'remotePort', 'transport', 'direction', 'pid', 'processKey', 'processStartMs', 'processName', 'processPath', 'sha256', 'sha1', 'fileId', 'hashUnknown', 'parentName', 'lineageHash', 'remoteNameHint'].includes(k))).toBe(true);
    }
    // Sysmon EID 3 got its hash and parent from EID 1 through the process table.
    const grunt = recs.find((r) => r.processName === 'GruntHTTP2.exe' && r.source === 'sysmon')!;
    expect(grunt.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(grunt.parentName).toBe('WmiPrvSE.exe');
    expect(grunt.lineageHash).toMatch(/^[0-9a-f]{64}$/);
    const implant = recs.find((r) => r.source === 'wfp' && r.processPath?.toLowerCase().endsWith('grunthttp.exe'));
    expect(implant?.processPath).toBe('\\device\\harddiskvolume2\\users\\*\\desktop\\grunthttp.exe');
  });

  it('privacy: no command line, user name or SID in anything the parsers and join output', () => {
    const obs: Observation[] = [];
    const at = new Attributor(defaultAttributeOptions, { emit: (o) => obs.push(o) });
    for (const r of recs) at.addEdr(r);
    at.flush();
    const values: string[] = [];
    const collect = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) { values.push(k); collect(x); }
      else values.push(String(v));
    };
    collect([recs, obs, at.stats(), [...results.values()]]);
    const blob = values.join('\n');
    const hunted = secrets();
    expect(hunted.length).toBeGreaterThan(20);
    for (const s of hunted) {
      expect(blob.toLowerCase().includes(s.toLowerCase()), `leaked: ${s.slice(0, 40)}`).toBe(false);
    }
    expect(obs.some((o) => o.kind === 'edr-only')).toBe(true);
  });
});

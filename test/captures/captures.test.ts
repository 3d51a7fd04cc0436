// Capture tests of issue 3: every committed lab capture (test/captures/<case>/) is what its
// expected.json says, according to an independent oracle (tshark) re-run on the file now, and
// each case really shows the feature it is named for.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { OracleExpected, OracleHello } from '../../scripts/captures/oracle.mjs';
import { comparable, derive, readCapture, tsharkAvailable } from '../../scripts/captures/oracle.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const CI = process.env['CI'] === 'true';
const HAVE_TSHARK = tsharkAvailable();

const REQUIRED_CASES = [
  'chromium-tcp-chatgpt',
  'chromium-quic-chatgpt',
  'curl-api-openai',
  'python-api-anthropic',
  'node-generativelanguage',
  'openssl-with-sni',
  'openssl-no-sni',
  'dig-udp',
  'dig-tcp',
  'ipv6-curl-dig-anthropic',
] as const;

const AI_NAMES = ['chatgpt.com', 'api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'claude.ai'];

interface CaseFiles { dir: string; capture: string; expected: OracleExpected }

function loadCase(name: string): CaseFiles {
  const dir = join(HERE, name);
  const caps = readdirSync(dir).filter((f) => /\.pcap(\.gz)?$/.test(f));
  expect(caps, `${name}: one capture file`).toHaveLength(1);
  const capture = join(dir, caps[0] ?? '');
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as OracleExpected;
  return { dir, capture, expected };
}

function hellosTo(exp: OracleExpected, sni: string | null, transport: 'tls' | 'quic'): OracleHello[] {
  return exp.sni.filter((h) => h.sni === sni && h.transport === transport);
}

const caseDirs = readdirSync(HERE, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(HERE, d.name, 'expected.json')))
  .map((d) => d.name)
  .sort();

describe('lab capture cases', () => {
  it('has every required case, each with README, capture and expected.json', () => {
    for (const c of REQUIRED_CASES) {
      expect(caseDirs, c).toContain(c);
      expect(existsSync(join(HERE, c, 'README.md')), `${c}/README.md`).toBe(true);
    }
  });

  it.each(caseDirs)('%s: the capture is the one expected.json was made from', (name) => {
    const { capture, expected } = loadCase(name);
    const sha = createHash('sha256').update(readCapture(capture)).digest('hex');
    expect(sha).toBe(expected.sha256);
    expect(expected.counts.packets).toBeGreaterThan(0);
  });

  it.each(caseDirs)('%s: tshark re-derives expected.json exactly', (name) => {
    if (!HAVE_TSHARK) {
      if (CI) throw new Error('tshark is required under CI=true (install the tshark package)');
      return;
    }
    const { capture, expected } = loadCase(name);
    const now = derive(capture, expected.capture);
    expect(comparable(now)).toEqual(comparable(expected));
  });
});

describe('each case shows its feature', () => {
  const exp = (name: string): OracleExpected => loadCase(name).expected;

  it('chromium-tcp-chatgpt: post-quantum ClientHello split over two TCP segments, GREASE ECH, h2', () => {
    const hs = hellosTo(exp('chromium-tcp-chatgpt'), 'chatgpt.com', 'tls');
    expect(hs.length).toBeGreaterThan(0);
    for (const h of hs) {
      expect(h.segments.length).toBe(2);
      expect(h.ech).toBe(true);
      expect(h.alpn).toEqual(['h2', 'http/1.1']);
      expect(h.supported_versions).toContain('0x0304');
    }
  });

  it('chromium-quic-chatgpt: QUIC v1 Initial carrying SNI chatgpt.com, ALPN h3, no TCP hello', () => {
    const e = exp('chromium-quic-chatgpt');
    const hs = hellosTo(e, 'chatgpt.com', 'quic');
    expect(hs.length).toBeGreaterThan(0);
    expect(hs[0]?.quic_version).toBe('0x00000001');
    expect(hs[0]?.alpn).toEqual(['h3']);
    expect(e.counts.tls_client_hellos).toBe(0);
  });

  it.each([
    ['curl-api-openai', 'api.openai.com'],
    ['python-api-anthropic', 'api.anthropic.com'],
    ['node-generativelanguage', 'generativelanguage.googleapis.com'],
    ['openssl-with-sni', 'api.openai.com'],
  ])('%s: one TLS ClientHello with SNI %s on port 443', (name, host) => {
    const hs = hellosTo(exp(name), host, 'tls');
    expect(hs).toHaveLength(1);
    expect(hs[0]?.dport).toBe(443);
  });

  it('openssl-no-sni: the hello has no SNI and only the client\'s own DNS answer names the address', () => {
    const e = exp('openssl-no-sni');
    const [h] = hellosTo(e, null, 'tls');
    expect(h).toBeDefined();
    const named = e.dns.filter((d) => d.dst === h?.src && d.answers.some((a) => a.data === h?.dst));
    expect(named.map((d) => d.qname)).toEqual(['api.openai.com']);
    expect(named[0]?.frame).toBeLessThan(h?.first_frame ?? 0);
  });

  it.each([['dig-udp', 'udp'], ['dig-tcp', 'tcp']])('%s: A and AAAA answers for every AI name over %s', (name, proto) => {
    const e = exp(name);
    for (const n of AI_NAMES) {
      for (const t of ['A', 'AAAA']) {
        const r = e.dns.find((d) => d.qname === n && d.type === t && d.proto === proto);
        expect(r, `${n} ${t}`).toBeDefined();
        expect(r?.rcode).toBe(0);
        expect(r?.answers.filter((a) => a.type === t)).toHaveLength(1);
      }
    }
  });

  it('ipv6-curl-dig-anthropic: AAAA over IPv6 transport and the TLS hello over IPv6 to that address', () => {
    const e = exp('ipv6-curl-dig-anthropic');
    const [h] = hellosTo(e, 'api.anthropic.com', 'tls');
    expect(h?.dst).toContain(':');
    const aaaa = e.dns.filter((d) => d.src.includes(':') && d.qname === 'api.anthropic.com' && d.type === 'AAAA');
    expect(aaaa.length).toBeGreaterThan(0);
    expect(aaaa[0]?.answers.map((a) => a.data)).toContain(h?.dst);
  });

  it('expected.json is stable machine-readable JSON: flows and hellos reference real frames', () => {
    for (const c of REQUIRED_CASES) {
      const e = exp(c);
      for (const h of e.sni) expect(h.frame).toBeLessThanOrEqual(e.counts.packets);
      for (const f of e.flows) expect(f.first_frame).toBeLessThanOrEqual(e.counts.packets);
      expect(e.counts.tcp_flows + e.counts.udp_flows).toBe(e.flows.length);
    }
  });
});


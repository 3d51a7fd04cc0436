/**
 * The live binding against tcpreplay inside a private namespace: everything tcpreplay sends
 * onto the veth peer arrives, byte for byte and in order, with kernel timestamps that are
 * monotonic and close to the wall clock, in batches of many packets, with kernel counters.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCaptureChild } from './child.js';
import { createVethNs, parseTcpreplay, type VethNs } from './netns.js';
import { corpus, prerequisites, vethCaptureMissing } from './prerequisites.js';
import { summarizePcap } from './pcap-file.js';

const missing = prerequisites('live test', vethCaptureMissing());

describe.skipIf(missing.length > 0)('live capture on a veth pair', () => {
  let env: VethNs;
  beforeAll(() => { env = createVethNs('ltb'); });
  afterAll(() => { env?.destroy(); });

  const cases = [
    { file: 'ndpi-reddit-ipv6.pcap', pps: 2000, backend: 'native' },
    { file: 'ndpi-smtp-starttls-vlan.pcap', pps: 500, backend: 'native' }, // 802.1Q-tagged frames
    // the fallback backend passes the same test (clock timestamps, no kernel counters)
    { file: 'ndpi-reddit-ipv6.pcap', pps: 2000, backend: 'cap' },
  ] as const;
  for (const { file, pps, backend } of cases) {
    it(`${backend}: delivers exactly what tcpreplay sent: ${file}`, async () => {
      const path = resolve(corpus, 'pcaps', file);
      const want = summarizePcap(path);
      const child = await startCaptureChild(env, env.capIf, backend);
      const startUs = Date.now() * 1000;
      const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, `--pps=${pps}`, path]));
      const endUs = Date.now() * 1000;
      await new Promise((r) => setTimeout(r, 300)); // let the last batch time out
      const got = await child.stop();

      expect(sent.failed).toBe(0);
      expect(sent.packets).toBe(want.packets);
      expect(got.packets).toBe(sent.packets);
      expect(got.capBytes).toBe(sent.bytes);
      expect(got.wireBytes).toBe(sent.bytes);
      expect(got.capLens).toEqual(want.capLens);
      expect(got.digest).toBe(want.digest);
      expect(got.linkType).toBe(1);
      // kernel timestamps: monotonic, inside the replay window, delivered soon after arrival
      expect(got.nonMonotonic).toBe(0);
      expect(got.firstTsUs).toBeGreaterThanOrEqual(startUs - 1000);
      expect(got.lastTsUs).toBeLessThanOrEqual(endUs + 1000);
      expect(got.maxSkewMs).toBeLessThan(1000);
      // replay spread over (packets / pps) seconds, so the capture spans most of it
      expect((got.lastTsUs - got.firstTsUs) / 1e6).toBeGreaterThan((want.packets - 1) / pps * 0.5);
      // batches: one JS call for many packets
      expect(got.batches).toBeLessThan(got.packets / 4);
      expect(got.maxBatch).toBeGreaterThan(4);
      expect(got.extra.handlerErrors).toBe(0);
      expect(got.extra.endError).toBeNull();
      if (backend === 'cap') {
        expect(got.kernelReceived).toBeNull(); // cap has no drop counters
        return;
      }
      // kernel counters present and consistent
      expect(got.kernelDropped).toBe(0);
      expect(got.ifDropped).toBe(0);
      expect(got.kernelReceived).toBe(sent.packets);
    });
  }
});

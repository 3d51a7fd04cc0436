/**
 * Several native capture handles in one PACKET_FANOUT group (hash mode, IPv4 defragmentation)
 * on a veth pair inside a private namespace, fed by tcpreplay: every packet reaches exactly one
 * handle, every flow (both directions) stays on one handle in its original order, both handles
 * get flows, each handle's kernel counters count only its own packets, IPv4 fragments arrive
 * reassembled on their flow's handle, and a group the kernel refuses gives a clear error.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveCaptureError, LiveSource } from '../../src/source/live.js';
import { startFanoutChild, type FanoutMember } from './child.js';
import { keyPcap, type KeyedPacket } from './flow-key.js';
import { createVethNs, parseTcpreplay, type VethNs } from './netns.js';
import { corpus, prerequisites, vethCaptureMissing } from './prerequisites.js';

const missing = prerequisites('live fanout test', vethCaptureMissing());

it('fanoutGroup is checked before anything is opened', () => {
  const base = { iface: 'lo', snaplen: 65535, promisc: false, bufferBytes: 0, batchPackets: 64, timeoutMs: 20 } as const;
  for (const [fanoutGroup, backend] of [[65536, 'native'], [-1, 'native'], [1.5, 'native'], [7, 'cap']] as const) {
    let err: unknown;
    try {
      LiveSource.open({ ...base, backend, fanoutGroup });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LiveCaptureError);
    expect((err as LiveCaptureError).code).toBe('LLMTAP_ERR_CAPTURE_CONFIG');
    expect((err as Error).message).toMatch(/^capture option fanoutGroup: /);
  }
});

/** Flow key -> indexes of the members that received a packet of it. */
function membersByFlow(members: FanoutMember[]): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  members.forEach((mem, k) => {
    for (const p of mem.received) {
      if (p.key === undefined) continue;
      let s = m.get(p.key);
      if (!s) m.set(p.key, (s = new Set()));
      s.add(k);
    }
  });
  return m;
}

/** Digests in order, per flow key. */
function sequences(packets: KeyedPacket[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const p of packets) {
    if (p.key === undefined) continue;
    const s = m.get(p.key) ?? [];
    s.push(p.digest);
    m.set(p.key, s);
  }
  return m;
}

const count = <T>(xs: T[]): Map<T, number> => {
  const m = new Map<T, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
};

describe.skipIf(missing.length > 0)('packet fanout on a veth pair', () => {
  let env: VethNs;
  beforeAll(() => { env = createVethNs('ltf'); });
  afterAll(() => { env?.destroy(); });

  let group = 4200;
  const cases = [
    // The kernel's hash is seeded at boot; with 60 flows and more, all on one handle has a
    // chance of 2^-59 — with 10, of 2^-9, so that case checks the split only.
    { file: 'ndpi-teams.pcap', flows: 83, nonIp: 42, bothUsed: true }, // IPv4 (+ ARP and other non-IP frames)
    { file: 'ndpi-reddit-ipv6.pcap', flows: 60, nonIp: 0, bothUsed: true },
    { file: 'ndpi-6in4-tunnel.pcap', flows: 10, nonIp: 0, bothUsed: false }, // hashed on the inner IPv6 packet
  ];
  for (const { file, flows, nonIp, bothUsed } of cases) {
    it(`two handles split ${file} by flow: each packet once, each flow on one handle, in order`, async () => {
      const path = resolve(corpus, 'pcaps', file);
      const want = keyPcap(path);
      const wantFlows = sequences(want);
      expect(wantFlows.size).toBe(flows);
      expect(want.filter((p) => p.key === undefined).length).toBe(nonIp);
      expect(want.some((p) => p.fragment)).toBe(false);

      const child = await startFanoutChild(env, [env.capIf, env.capIf], ++group);
      const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=3000', path]));
      await new Promise((r) => setTimeout(r, 300)); // let the last batches time out
      const members = await child.stop();

      expect(sent.failed).toBe(0);
      expect(sent.packets).toBe(want.length);
      expect(members).toHaveLength(2);
      // every packet exactly once over both handles
      const got = members.flatMap((m) => m.received);
      expect(got.length).toBe(want.length);
      expect(count(got.map((p) => p.digest))).toEqual(count(want.map((p) => p.digest)));
      // each flow on one handle, its packets in the order sent; both handles used
      const byFlow = membersByFlow(members);
      expect(byFlow.size).toBe(flows);
      for (const [key, ms] of byFlow) expect([key, ms.size]).toEqual([key, 1]);
      for (const [k, m] of members.entries()) {
        const mine = sequences(m.received);
        if (bothUsed) expect(mine.size).toBeGreaterThan(0);
        for (const [key, seq] of mine) {
          expect(byFlow.get(key)).toEqual(new Set([k]));
          expect(seq).toEqual(wantFlows.get(key));
        }
      }
      // each socket's own kernel counters: what it was handed, nothing dropped, nothing seen twice
      for (const m of members) {
        expect(m.packets).toBe(m.received.length);
        expect(m.kernelReceived).toBe(m.received.length);
        expect(m.kernelDropped).toBe(0);
        expect(m.extra.fanoutPrejoinSkipped).toBe(0);
        expect(m.extra.handlerErrors).toBe(0);
        expect(m.extra.endError).toBeNull();
      }
      expect(members.reduce((a, m) => a + (m.kernelReceived ?? 0), 0)).toBe(sent.packets);
    });
  }

  it('IPv4 fragments arrive reassembled on their flow\'s handle; IPv6 fragments of one datagram stay together', async () => {
    const path = resolve(corpus, 'pcaps', 'ndpi-dns-fragmented.pcap');
    const want = keyPcap(path);
    const v4frags = want.filter((p) => p.fragment && p.ipVersion === 4);
    const v4Datagrams = new Set(v4frags.map((p) => p.datagram)).size;
    expect(v4frags.length).toBeGreaterThan(v4Datagrams);

    const child = await startFanoutChild(env, [env.capIf, env.capIf], ++group);
    const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=1000', path]));
    await new Promise((r) => setTimeout(r, 300));
    const members = await child.stop();
    expect(sent.packets).toBe(want.length);

    const got = members.flatMap((m) => m.received);
    const gotDigests = count(got.map((p) => p.digest));
    // everything but the IPv4 fragments arrives as sent
    const whole = want.filter((p) => !(p.fragment && p.ipVersion === 4));
    expect(count(whole.map((p) => p.digest))).toEqual(
      count(got.filter((p) => whole.some((w) => w.digest === p.digest)).map((p) => p.digest)));
    expect(whole.every((w) => gotDigests.has(w.digest))).toBe(true);
    // the IPv4 fragments do not: one whole datagram each instead
    expect(got.filter((p) => v4frags.some((f) => f.digest === p.digest))).toEqual([]);
    const reassembled = got.filter((p) => !want.some((w) => w.digest === p.digest));
    expect(reassembled).toHaveLength(v4Datagrams);
    expect(got.length).toBe(want.length - v4frags.length + v4Datagrams);
    for (const r of reassembled) {
      expect(r.ipVersion).toBe(4);
      expect(r.fragment).toBe(false);
    }
    // a reassembled datagram is on the handle of its flow's other packets (here: the query)
    const byFlow = membersByFlow(members);
    for (const r of reassembled) expect(byFlow.get(r.key ?? '')?.size).toBe(1);
    // IPv6 fragments are not reassembled (the kernel hashes them on their addresses alone):
    // each arrives as sent, and all fragments of one datagram on one handle
    const v6frags = want.filter((p) => p.fragment && p.ipVersion === 6);
    expect(v6frags.length).toBeGreaterThan(0);
    const v6ByDatagram = new Map<string, Set<number>>();
    members.forEach((m, k) => {
      for (const p of m.received) {
        if (!p.fragment || p.ipVersion !== 6) continue;
        const s = v6ByDatagram.get(p.datagram ?? '') ?? new Set<number>();
        s.add(k);
        v6ByDatagram.set(p.datagram ?? '', s);
      }
    });
    expect(v6ByDatagram.size).toBe(new Set(v6frags.map((p) => p.datagram)).size);
    for (const s of v6ByDatagram.values()) expect(s.size).toBe(1);
  });

  it('a starved member (one process sleeping per batch) reports its own kernel drops; the other none', async () => {
    const path = resolve(corpus, 'pcaps', 'ndpi-teams.pcap');
    const want = keyPcap(path);
    const g = ++group;
    // two processes in one group, as two workers would be: a big ring for the healthy one,
    // a small one for the starved one (1 MiB; 64 packets per batch and 100 ms asleep per batch)
    const healthy = await startFanoutChild(env, [env.capIf], g, { bufferBytes: 64 * 1024 * 1024 });
    const starved = await startFanoutChild(env, [env.capIf], g, { bufferBytes: 1024 * 1024, batchPackets: 64, slowMs: 100 });
    const loops = 20;
    const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=20000', `--loop=${loops}`, path]));
    await new Promise((r) => setTimeout(r, 300));
    const [h] = await healthy.stop();
    const [s] = await starved.stop();
    if (!h || !s) throw new Error('no member summary');

    expect(sent.failed).toBe(0);
    expect(sent.packets).toBe(want.length * loops);
    // the starved socket dropped, and says so; what it received is what it delivered + dropped
    expect(s.kernelDropped).toBeGreaterThan(0);
    expect(s.kernelReceived).toBe(s.received.length + (s.kernelDropped ?? 0));
    // the healthy socket lost nothing and counts only its own packets
    expect(h.kernelDropped).toBe(0);
    expect(h.kernelReceived).toBe(h.received.length);
    // together the kernel handed out every packet sent, once
    expect((h.kernelReceived ?? 0) + (s.kernelReceived ?? 0)).toBe(sent.packets);
    // and still no flow on both
    const byFlow = membersByFlow([h, s]);
    for (const [key, ms] of byFlow) expect([key, ms.size]).toEqual([key, 1]);
  });

  it('a group the kernel refuses (same id on another interface) is a clear error', async () => {
    const g = ++group;
    await expect(startFanoutChild(env, [env.capIf, env.peerIf], g)).rejects.toThrow(
      new RegExp(`LLMTAP_ERR_CAPTURE_FANOUT: cannot share ${env.peerIf} by flow: the kernel refused to join packet fanout group ${g}: ` +
        'Invalid argument \\(the group already exists on another interface or with another mode'));
  });
});

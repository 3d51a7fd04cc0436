/**
 * Passive DNS: per client, which names (the queried name and its CNAME chain) resolved to which
 * server address, and when. It names flows that carry no usable SNI, and cross-checks the ones
 * that do.
 *
 * Time is capture time (`tsUs` of the answer and `firstTsUs` of the flow), never the wall clock:
 * an answer names a flow when it was seen before the flow started and its TTL — clamped to
 * [ttlFloorS, ttlCapS] — had not run out when it started. Clients keep using addresses after a
 * very short TTL (the floor) and resolvers cap very long ones (the cap).
 *
 * CDN addresses are shared by thousands of names, so each address keeps two kinds of lists:
 *   - per client of that address: the client's own recent answer wins (`dns-client`);
 *   - any client: the fallback (`dns-any`), and the evidence of sharing: several distinct
 *     names valid for one address at the flow's start set `dnsConflict`.
 * One LRU keyed by address holds both, so naming a flow is one cache lookup (two indexes keyed
 * by address and by client+address cost twice the lookups; lru-cache's `get` was most of this
 * stage's time). Bounds: `maxEntries` addresses and `maxEntries` client lists in all, as the
 * two indexes of `maxEntries` keys each held before (past the second, the least recently used
 * addresses go with their client lists); at most `MAX_PER_KEY` distinct names per list (newest
 * kept). Nothing is pruned by age: a long flow is named at its end from the answers valid at
 * its start.
 */
import type { CounterValues } from '../counters.js';
import type { NAMES_COUNTERS } from './counters.js';
import { LRUCache } from 'lru-cache';
import type { BoundStat } from '../bounded/lru.js';
import { schemaDefaults, type SensorConfig } from '../config.js';
import type { DnsAnswer, DnsRecord, FlowRecord, HostSource } from '../records.js';

export interface PassiveDnsOptions {
  /** Addresses kept (LRU), and client lists kept in all. */
  maxEntries: number;
  /** Shortest TTL honoured, seconds. */
  ttlFloorS: number;
  /** Longest TTL honoured, seconds. */
  ttlCapS: number;
}

/** The cache's options from the config's `names` section. */
export function passiveDnsOptionsFrom(c: SensorConfig['names']): PassiveDnsOptions {
  return { maxEntries: c.max_entries, ttlFloorS: c.ttl_floor_s, ttlCapS: c.ttl_cap_s };
}

/** The product's defaults: the config schema's, never a value of this stage's own. */
export const defaultPassiveDnsOptions: PassiveDnsOptions = passiveDnsOptionsFrom(schemaDefaults('names'));

/** Distinct names kept per key; the oldest is dropped beyond this. */
export const MAX_PER_KEY = 8;
/** CNAME links followed from the queried name (RFC 1034 §3.6.2 chains are short). */
const MAX_CHAIN = 16;

interface Sighting {
  /** The name the client asked for (lower case, no trailing dot). */
  host: string;
  /**
   * host, then the CNAME chain down to the owner of the address record; undefined when that is
   * host alone (most answers: an array less per sighting).
   */
  names: string[] | undefined;
  tsUs: number;
  expUs: number;
}

/**
 * What one address knows: sightings of any client, and each client's own. Most addresses are
 * asked for by one client: its list is kept in `client`/`own` and a Map is made only for a
 * second client (a Map is ~170 bytes, a fifth of an entry). While there is one client its list
 * is, sighting for sighting, the any-client list: `own` is then that same array (`any`), and
 * becomes a copy when a second client comes (an array and a sighting less, ~150 of ~600 bytes
 * an entry; a SYN scan's DNS answers fill the 200,000 entries with such).
 */
interface AddrEntry {
  any: Sighting[];
  /**
   * The only client so far, and its list (empty string and undefined once `clients` exists);
   * the list is `any` itself (the same array) while this client is the only one.
   */
  client: string;
  own: Sighting[] | undefined;
  /** Keyed by client address; insertion order is age order. */
  clients: Map<string, Sighting[]> | undefined;
}

/** The client lists an entry holds. */
function clientCount(e: AddrEntry): number {
  return e.clients !== undefined ? e.clients.size : e.own !== undefined ? 1 : 0;
}

/** A client's own list at an address. */
function clientList(e: AddrEntry | undefined, client: string): Sighting[] | undefined {
  if (e === undefined) return undefined;
  if (e.clients !== undefined) return e.clients.get(client);
  return e.client === client ? e.own : undefined;
}

/**
 * One options object for every `get`: lru-cache's `get` defaults it to a fresh `{}` per call
 * (and writes its status field into it), an allocation per answer address and per flow.
 */
const GET_OPTS: LRUCache.GetOptions<string, AddrEntry, unknown> = {};

const one = (): number => 1;

function norm(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') && n.length > 1 ? n.slice(0, -1) : n;
}

export class PassiveDns {
  private readonly floorUs: number;
  private readonly capUs: number;
  private readonly byAddr: LRUCache<string, AddrEntry>;
  private readonly maxClients: number;
  /** Client lists held over all addresses. */
  private clientLists = 0;
  private readonly s = {
    answers: 0,
    negative: 0,
    addresses: 0,
    lookups: 0,
    sni: 0,
    dnsClient: 0,
    dnsAny: 0,
    none: 0,
    agree: 0,
    disagree: 0,
    conflicts: 0,
    echFront: 0,
    evictions: 0,
  };

  constructor(opts: PassiveDnsOptions) {
    const max = Math.max(1, Math.floor(opts.maxEntries));
    const floor = Math.max(0, opts.ttlFloorS);
    this.floorUs = floor * 1e6;
    this.capUs = Math.max(floor, opts.ttlCapS) * 1e6;
    this.maxClients = max;
    const dispose = (e: AddrEntry, _k: string, reason: LRUCache.DisposeReason): void => {
      if (reason === 'set') return;
      const n = clientCount(e);
      if (reason === 'evict') this.s.evictions += 1 + n;
      this.clientLists -= n;
    };
    // Bounded by `maxSize` (each address counts 1) rather than `max`: with `max`, lru-cache
    // preallocates its arrays for every entry at construction (~30 ms and several MB for the
    // default 200k, before the first answer); with `maxSize` they grow with use and the bound
    // and eviction order are the same.
    this.byAddr = new LRUCache<string, AddrEntry>({ maxSize: max, sizeCalculation: one, dispose });
  }

  addAnswer(a: DnsAnswer): void {
    this.s.answers++;
    if (a.rcode !== 0) {
      this.s.negative++;
      return;
    }
    const answers = a.answers;
    // Most answers are one A/AAAA record or a short CNAME chain: the chain links are kept in a
    // Map only when there are some, and the chain of an owner is built once per owner.
    let cname: Map<string, string> | undefined;
    for (const r of answers) {
      if (r.type !== 'CNAME') continue;
      cname ??= new Map();
      cname.set(norm(r.name), norm(r.data));
    }
    const qname = norm(a.qname);
    let lastOwner: string | undefined;
    let lastNames: string[] = [];
    const client = a.client;
    for (const r of answers) {
      const t = r.type;
      const isAddr = t === 'A' || t === 'AAAA';
      if (isAddr ? r.data === '' : t !== 'HTTPS' && t !== 'SVCB') continue;
      if (!isAddr && r.ipv4hint === undefined && r.ipv6hint === undefined) continue;
      const owner = norm(r.name);
      if (owner !== lastOwner) {
        lastNames = this.chain(qname, owner, cname);
        lastOwner = owner;
      }
      const host = lastNames[0] ?? owner;
      const names = lastNames.length === 1 && lastNames[0] === host ? undefined : lastNames;
      const ttlUs = Math.min(this.capUs, Math.max(this.floorUs, r.ttl * 1e6));
      const expUs = a.tsUs + ttlUs;
      if (isAddr) this.index(client, r.data, host, names, a.tsUs, expUs);
      else {
        for (const addr of r.ipv4hint ?? []) this.index(client, addr, host, names, a.tsUs, expUs);
        for (const addr of r.ipv6hint ?? []) this.index(client, addr, host, names, a.tsUs, expUs);
      }
    }
  }

  private index(client: string, addr: string, host: string, names: string[] | undefined, tsUs: number, expUs: number): void {
    this.s.addresses++;
    const e = this.byAddr.get(addr, GET_OPTS);
    if (e === undefined) {
      this.clientLists++;
      const any = [{ host, names, tsUs, expUs }];
      this.byAddr.set(addr, { any, client, own: any, clients: undefined });
      this.boundClients();
      return;
    }
    // another client: the first one's list stops being the any-client list (a copy, before this answer)
    if (e.own === e.any && e.client !== client) e.own = e.any.map((x) => ({ host: x.host, names: x.names, tsUs: x.tsUs, expUs: x.expUs }));
    put(e.any, host, names, tsUs, expUs);
    const own = clientList(e, client);
    if (own !== undefined) {
      if (own !== e.any) put(own, host, names, tsUs, expUs);
      return;
    }
    let clients = e.clients;
    if (clients === undefined) {
      // a second client: from now on a Map, the first client first (age order)
      clients = new Map();
      if (e.own !== undefined) clients.set(e.client, e.own);
      e.clients = clients;
      e.client = '';
      e.own = undefined;
    }
    clients.set(client, [{ host, names, tsUs, expUs }]);
    this.clientLists++;
    if (clients.size > this.maxClients) {
      const oldest = clients.keys().next();
      if (oldest.done !== true) {
        clients.delete(oldest.value);
        this.clientLists--;
        this.s.evictions++;
      }
    }
    this.boundClients();
  }

  /** Past `maxEntries` client lists, drop least recently used addresses (the one just used is the most recent). */
  private boundClients(): void {
    while (this.clientLists > this.maxClients && this.byAddr.size > 1) this.byAddr.pop();
  }

  /**
   * Set `host`, `hostSource`, `hostAgrees` and `dnsConflict` on a flow record (see
   * `HostSource` in records.ts). An SNI that is the public front of a real ECH hello is not the
   * destination: DNS names such a flow when it can.
   */
  nameFlow(rec: FlowRecord): void {
    this.s.lookups++;
    const t = rec.firstTsUs;
    const entry = this.byAddr.get(rec.respAddr, GET_OPTS);
    const ownList = clientList(entry, rec.origAddr);
    const anyList = entry?.any;
    const own = newestValid(ownList, t);
    const anyClient = newestValid(anyList, t);
    if (anyClient !== undefined) {
      // several distinct names valid for the address at the flow's start: a shared (CDN) address
      const conflict = hasOtherHost(anyList, t, anyClient.host);
      rec.dnsConflict = conflict;
      if (conflict) this.s.conflicts++;
    }
    const hs = rec.handshake;
    const sni = hs?.sni;
    if (hs !== undefined && sni !== undefined && sni !== '' && hs.ech !== 'real') {
      rec.host = sni;
      rec.hostSource = hs.transport === 'tls' ? 'sni' : 'quic-sni';
      this.s.sni++;
      const evidence = own !== undefined ? ownList : anyClient !== undefined ? anyList : undefined;
      if (evidence !== undefined) {
        const agrees = anyValidNames(evidence, t, norm(sni));
        rec.hostAgrees = agrees;
        if (agrees) this.s.agree++;
        else this.s.disagree++;
      }
      return;
    }
    if (hs?.ech === 'real' && sni !== undefined) this.s.echFront++;
    const pick = own ?? anyClient;
    const source: HostSource = own !== undefined ? 'dns-client' : anyClient !== undefined ? 'dns-any' : 'none';
    rec.hostSource = source;
    if (pick !== undefined) rec.host = pick.host;
    if (source === 'dns-client') this.s.dnsClient++;
    else if (source === 'dns-any') this.s.dnsAny++;
    else this.s.none++;
  }

  /** Names valid for `addr` at `tsUs` (this client's when given, else any client's), newest first. */
  namesFor(addr: string, tsUs: number, client?: string): string[] {
    const e = this.byAddr.peek(addr);
    const list = client === undefined ? e?.any : clientList(e, client);
    return valid(list, tsUs)
      .sort((x, y) => y.tsUs - x.tsUs)
      .map((x) => x.host);
  }

  /** Addresses held (the bound; each address's client lists are bounded with it). */
  bounds(): BoundStat[] {
    return [{ structure: 'names.passive_dns', entries: this.byAddr.size, max: this.maxClients, evictions: this.s.evictions }];
  }

  stats(): CounterValues<typeof NAMES_COUNTERS> {
    const s = this.s;
    return {
      'names.answers': s.answers,
      'names.answers_negative': s.negative,
      'names.addresses': s.addresses,
      'names.entries_client': this.clientLists,
      'names.entries_addr': this.byAddr.size,
      'names.evictions': s.evictions,
      'names.lookups': s.lookups,
      'names.host_sni': s.sni,
      'names.host_dns_client': s.dnsClient,
      'names.host_dns_any': s.dnsAny,
      'names.host_none': s.none,
      'names.sni_dns_agree': s.agree,
      'names.sni_dns_disagree': s.disagree,
      'names.dns_conflicts': s.conflicts,
      'names.ech_front': s.echFront,
    };
  }

  /** The queried name, its CNAME chain down to `owner` (or just `owner` when not linked). */
  private chain(qname: string, owner: string, cname: Map<string, string> | undefined): string[] {
    if (qname === owner) return [qname];
    if (cname === undefined) return [owner];
    const names = [qname];
    let cur = qname;
    for (let i = 0; i < MAX_CHAIN && cur !== owner; i++) {
      const next = cname.get(cur);
      if (next === undefined || names.includes(next)) break;
      cur = next;
      names.push(cur);
    }
    return cur === owner ? names : [owner];
  }
}

/**
 * Add a sighting to a list (each list owns its copies). A repeat of the same name whose
 * window touches the last one extends it, so a flow that started under the earlier answer is
 * still named after a refresh; otherwise the sighting is added, bounded per list.
 */
function put(list: Sighting[], host: string, names: string[] | undefined, tsUs: number, expUs: number): void {
  for (let i = list.length - 1; i >= 0; i--) {
    const x = list[i];
    if (x === undefined || x.host !== host) continue;
    if (tsUs >= x.tsUs && tsUs <= x.expUs) {
      if (expUs > x.expUs) x.expUs = expUs;
      x.names = (names?.length ?? 1) > (x.names?.length ?? 1) ? names : x.names;
      if (i !== list.length - 1) {
        list.splice(i, 1);
        list.push(x);
      }
      return;
    }
    break;
  }
  list.push({ host, names, tsUs, expUs });
  if (list.length > MAX_PER_KEY) list.shift();
}

/** The newest sighting valid at `t` (the first such in list order on equal times). */
function newestValid(list: Sighting[] | undefined, t: number): Sighting | undefined {
  if (list === undefined) return undefined;
  let best: Sighting | undefined;
  for (const x of list) if (x.tsUs <= t && t <= x.expUs && (best === undefined || x.tsUs > best.tsUs)) best = x;
  return best;
}

/** Some sighting valid at `t` names another host than `host`. */
function hasOtherHost(list: Sighting[] | undefined, t: number, host: string): boolean {
  if (list === undefined) return false;
  for (const x of list) if (x.tsUs <= t && t <= x.expUs && x.host !== host) return true;
  return false;
}

/** Some sighting valid at `t` has `name` in its chain. */
function anyValidNames(list: Sighting[], t: number, name: string): boolean {
  for (const x of list) if (x.tsUs <= t && t <= x.expUs && (x.names === undefined ? x.host === name : x.names.includes(name))) return true;
  return false;
}

function valid(list: Sighting[] | undefined, t: number): Sighting[] {
  if (list === undefined) return [];
  return list.filter((x) => x.tsUs <= t && t <= x.expUs);
}

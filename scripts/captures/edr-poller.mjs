// A minimal endpoint sensor for the lab devices: polls each device namespace's socket tables
// (/proc/<pid>/net/{tcp,tcp6,udp,udp6} of an anchor process inside the namespace) and maps
// each new connected socket to its process through /proc/<pid>/fd, like `ss -p` does. For
// every process seen it records pid, exe path, SHA-256 and SHA-1 of the exe, parent pid/exe and start
// time. Writes JSON lines: {"kind":"conn",...} and {"kind":"proc",...}. Never reads command
// lines, environments or user names.
//
//   node edr-poller.mjs --out raw.jsonl --interval-ms 20 --stop-file F device-a=<anchor pid> ...
//
// Stops when the stop file appears (bounded: also after --max-s seconds).

import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

const args = process.argv.slice(2);
let out = ''; let intervalMs = 20; let stopFile = ''; let maxS = 600;
const devices = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--out') out = args[++i];
  else if (a === '--interval-ms') intervalMs = Number(args[++i]);
  else if (a === '--stop-file') stopFile = args[++i];
  else if (a === '--max-s') maxS = Number(args[++i]);
  else { const [id, pid] = a.split('='); devices.push({ id, anchor: Number(pid) }); }
}

const btimeMs = Number(/btime (\d+)/.exec(readFileSync('/proc/stat', 'utf8'))[1]) * 1000;
const CLK_TCK = 100; // USER_HZ on Linux x86-64
for (const d of devices) d.netns = readlinkSync(`/proc/${d.anchor}/ns/net`);

const emit = (o) => appendFileSync(out, `${JSON.stringify(o)}\n`);

// /proc/net/tcp address "0100007F:1F90" (IPv4, little-endian word) or 32 hex digits (IPv6,
// four little-endian words).
function addr(hex) {
  const [hu, p] = hex.split(':');
  const h = hu.toLowerCase();
  const port = parseInt(p, 16);
  if (h.length === 8) {
    const n = parseInt(h, 16);
    return { ip: [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.'), port };
  }
  const words = [];
  for (let w = 0; w < 4; w++) {
    const le = h.slice(w * 8, w * 8 + 8);
    words.push(le.slice(6, 8) + le.slice(4, 6) + le.slice(2, 4) + le.slice(0, 2));
  }
  const full = words.join('').match(/.{4}/g).join(':');
  let ip;
  if (full.startsWith('0000:0000:0000:0000:0000:ffff:')) {
    const v4 = words[3];
    ip = [0, 2, 4, 6].map((o) => parseInt(v4.slice(o, o + 2), 16)).join('.');
  } else {
    // The WHATWG URL parser prints IPv6 hosts in RFC 5952 form.
    ip = new URL(`http://[${full}]/`).hostname.slice(1, -1);
  }
  return { ip, port };
}

function readTable(pid, file) {
  try {
    return readFileSync(`/proc/${pid}/net/${file}`, 'utf8').split('\n').slice(1).filter(Boolean)
      .map((l) => l.trim().split(/\s+/))
      .map((f) => ({ local: addr(f[1]), remote: addr(f[2]), state: f[3], inode: f[9] }));
  } catch {
    return [];
  }
}

const hashCache = new Map();
// SHA-256 and SHA-1 of an executable (Defender reports SHA-1 only; Sysmon either).
function hashes(path) {
  if (!hashCache.has(path)) {
    try {
      const b = readFileSync(path);
      hashCache.set(path, { sha256: createHash('sha256').update(b).digest('hex'), sha1: createHash('sha1').update(b).digest('hex') });
    } catch { hashCache.set(path, { sha256: null, sha1: null }); }
  }
  return hashCache.get(path);
}

function procInfo(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const startMs = Math.round(btimeMs + (Number(rest[19]) * 1000) / CLK_TCK);
    const exe = readlinkSync(`/proc/${pid}/exe`);
    let parentExe = null;
    try { parentExe = readlinkSync(`/proc/${ppid}/exe`); } catch { /* parent gone */ }
    return { pid, ppid, startMs, exe, ...hashes(exe), parentExe };
  } catch {
    return null;
  }
}

// inode → pid for the sockets of processes inside one namespace.
function socketOwners(netns) {
  const owners = new Map();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/net`) !== netns) continue;
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
          if (m) owners.set(m[1], Number(p));
        } catch { /* fd closed meanwhile */ }
      }
    } catch { /* process gone */ }
  }
  return owners;
}

const seen = new Set();
const procsSeen = new Set();
const TCP_LIVE = new Set(['01', '02', '03']); // ESTABLISHED, SYN_SENT, SYN_RECV

function tick() {
  const now = Date.now();
  for (const d of devices) {
    const fresh = [];
    const listening = new Set();
    for (const [file, proto] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']]) {
      for (const s of readTable(d.anchor, file)) {
        if (proto === 'tcp' && s.state === '0A') listening.add(s.local.port);
        const live = proto === 'tcp' ? TCP_LIVE.has(s.state) : s.remote.port !== 0;
        if (!live || s.inode === '0') continue;
        const key = `${d.id} ${proto} ${s.inode}`;
        if (seen.has(key)) continue;
        fresh.push({ key, proto, ...s });
      }
    }
    if (fresh.length === 0) continue;
    const owners = socketOwners(d.netns);
    for (const s of fresh) {
      const pid = owners.get(s.inode);
      if (pid === undefined) continue; // owner not visible yet: retried next tick
      seen.add(s.key);
      const pkey = `${d.id} ${pid}`;
      if (!procsSeen.has(pkey)) {
        const info = procInfo(pid);
        if (info) { procsSeen.add(pkey); emit({ kind: 'proc', device: d.id, ...info, seenMs: now }); }
      }
      emit({
        kind: 'conn', device: d.id, tsMs: now, proto: s.proto, pid,
        localAddr: s.local.ip, localPort: s.local.port, remoteAddr: s.remote.ip, remotePort: s.remote.port,
        inbound: s.proto === 'tcp' && listening.has(s.local.port), state: s.state,
      });
    }
  }
}

const t0 = Date.now();
const timer = setInterval(() => {
  tick();
  if ((stopFile && existsSync(stopFile)) || Date.now() - t0 > maxS * 1000) { clearInterval(timer); tick(); }
}, intervalMs);

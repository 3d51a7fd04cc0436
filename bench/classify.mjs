#!/usr/bin/env node
// Classifier benchmark: classifications per second on a realistic host mix (about 3 % AI hosts,
// the rest ordinary web names with a long tail), with port and process names as the pipeline
// passes them. Runs against the built classifier: `npm run build` first.
//
//   node bench/classify.mjs [--json]
//
// The host list mixes the default rules' own hosts (AI), generated CDN/site names (non-AI) and
// repeats them with a skewed popularity, as real egress does; the per-host memo is part of
// what is measured. Target: >= 2 M/s on one core.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');

/** Deterministic PRNG (mulberry32) so every run classifies the same mix. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildMix(aiHosts, n, rand) {
  const tlds = ['com', 'net', 'org', 'io', 'de', 'co.uk', 'cloud', 'ai'];
  const words = ['cdn', 'static', 'api', 'www', 'img', 'edge', 'login', 'telemetry', 'update', 'mail', 'sync', 'assets'];
  const plain = [];
  for (let i = 0; i < 20_000; i++) {
    const w = words[i % words.length];
    const t = tlds[Math.floor(rand() * tlds.length)];
    plain.push(i % 3 === 0 ? `${w}${i}.site${i % 997}.${t}` : `${w}.site${i % 4999}.${t}`);
  }
  const procs = [undefined, 'chrome.exe', 'firefox', 'svchost.exe', 'python3', 'node', 'w3wp.exe', 'curl'];
  const queries = new Array(n);
  for (let i = 0; i < n; i++) {
    const ai = rand() < 0.03;
    // Zipf-like popularity: a few names are very common, most are rare.
    const list = ai ? aiHosts : plain;
    const host = list[Math.floor(list.length * rand() ** 3)];
    queries[i] = { host, port: rand() < 0.9 ? 443 : 80, processName: procs[Math.floor(rand() * procs.length)] };
  }
  return queries;
}

export async function benchClassify() {
  const mod = await import(pathToFileURL(join(repo, 'dist/classify/index.js')).href);
  const c = mod.Classifier.fromFiles({ rules: join(repo, 'config/rules/default.yaml') });
  const doc = c.exportDocument();
  const aiHosts = [];
  for (const r of doc.rules) {
    for (const h of r.match.hosts ?? []) aiHosts.push(h);
    for (const s of r.match.suffixes ?? []) aiHosts.push(s, `x.${s}`);
    for (const h of r.examples?.match ?? []) aiHosts.push(h);
  }
  const queries = buildMix(aiHosts, 200_000, rng(42));
  let sink = 0;
  const pass = () => {
    for (let i = 0; i < queries.length; i++) if (c.classify(queries[i]) !== undefined) sink++;
  };
  pass(); // warm-up: JIT and memo
  const rounds = 10;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) pass();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const n = rounds * queries.length;
  const aiShare = sink / ((rounds + 1) * queries.length);
  return { perSec: Math.round(n / s), n, aiShare: Number(aiShare.toFixed(4)), seconds: Number(s.toFixed(3)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await benchClassify();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`classify: ${(r.perSec / 1e6).toFixed(2)} M classifications/s (${r.n} in ${r.seconds} s, ${(r.aiShare * 100).toFixed(1)} % AI verdicts)\n`);
}

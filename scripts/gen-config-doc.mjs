// Writes docs/configuration.md from the config schema in src/config.ts (never hand-edited).
//   npm run build && node scripts/gen-config-doc.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_SCHEMA } from '../dist/config.js';

/** Bytes per entry of each bounded structure, measured by `node --expose-gc bench/bounds-memory.mjs`. */
const measured = JSON.parse(readFileSync(new URL('./bounds-memory.json', import.meta.url), 'utf8'));
/** Config key of each bound → the `structure` label of `llmtap_bound_*`, and what one entry is. */
const BOUNDS = {
  'flow.max_flows': ['flow.table', 'a flow: its slot in the typed arrays and its meta object'],
  'flow.max_fragments': ['flow.fragments', 'a first IP fragment'],
  'names.max_entries': ['names.passive_dns', 'an answered address with its names and client lists'],
  'attribute.max_flows': ['attribute.pending_flows', 'a flow record waiting for its EDR record'],
  'attribute.max_records': ['attribute.edr_records', 'an EDR connection record waiting for its flow'],
  'attribute.max_devices': ['attribute.device_map, attribute.skew_devices', 'an address of a device (and a device\'s clock skew)'],
  'attribute.max_edr_only_dedup': ['attribute.edr_only_dedup', 'an off-tap connection already reported'],
  'edr.max_processes': ['attribute.process_table', 'a process (per tenant)'],
  'edr.max_dns_hints': ['attribute.dns_hints', 'an endpoint DNS name hint (per tenant)'],
  'classify.max_memo': ['classify.host_memo', 'a host name\'s rule lookup'],
  'detect.max_beacon_series': ['detect.beacon_series', 'a (device, process, host) series (with up to `beacon.max_samples` refs)'],
  'detect.max_window_keys': ['detect.h7_hashes, detect.upload_keys, detect.shadow_volume_keys', 'a window key with one ref (per tenant and rule; a key holds up to 1,024 refs, 4,096 for upload)'],
  'detect.max_upload_seen': ['detect.upload_seen', 'a connection id'],
  'detect.max_lineage_names': ['detect.lineage_names', 'a process name with one lineage hash'],
  'detect.max_inventory': ['detect.inventory, detect.first_pairs', 'a binary hash (and, as much again, a device-process-provider triple)'],
};
const mb = (x) => (x / 1e6).toFixed(x >= 10e6 ? 0 : 1);

let md = '# Configuration reference\n\nGenerated from `CONFIG_SCHEMA` in `src/config.ts` by `node scripts/gen-config-doc.mjs`. ' +
  'The file is YAML or JSON; every key is optional; an unknown key or a bad value is an error that names the key. ' +
  'Relative paths resolve against the config file\'s directory, else the package.\n\n';
for (const [name, sec] of Object.entries(CONFIG_SCHEMA.properties)) {
  md += `## \`${name}\`\n\n`;
  if (!sec.properties) {
    md += `${sec.description ?? ''}\n\n`;
    // a list of objects: one row per key of an entry
    const item = sec.items?.properties;
    if (item) {
      md += '| key of an entry | type | default | meaning |\n|---|---|---|---|\n';
      for (const [k, p] of Object.entries(item)) {
        const def = p.default === undefined ? '—' : `\`${JSON.stringify(p.default)}\``;
        md += `| \`${k}\`${(sec.items.required ?? []).includes(k) ? ' (required)' : ''} | ${p.enum ? p.enum.join(' \\| ') : p.type} | ${def} | ${p.description ?? ''} |\n`;
      }
      md += '\n';
    }
    continue;
  }
  md += '| key | type | default | meaning |\n|---|---|---|---|\n';
  for (const [k, p] of Object.entries(sec.properties)) {
    const def = p.default === undefined ? '—' : `\`${JSON.stringify(p.default)}\``;
    md += `| \`${name}.${k}\` | ${p.enum ? p.enum.join(' \\| ') : p.type} | ${def} | ${p.description ?? ''} |\n`;
  }
  md += '\n';
}
md += '## Memory bounds\n\nEvery table, index, window and cache is bounded by one of these keys: inserting into a full structure evicts its oldest (or least recently used) entry in O(1), counted in `llmtap_bound_evictions_total{structure}`; `llmtap_bound_entries` and `llmtap_bound_max_entries` show the fill. ' +
  `Memory per entry was measured (\`node --expose-gc bench/bounds-memory.mjs\`: ${measured.entries.toLocaleString('en-US')} realistic entries each, heap and array buffers after a full GC, Node.js ${measured.node}); ` +
  'the last column is that times the default bound, the most the structure can hold. Per-tenant structures cost this per tenant that uses them. Not listed: per-flow dissect state (bounded by `flow.max_flows` and `dissect.*`), the refs of one window key (`tenants[].beacon.max_samples`; 1,024 per key, 4,096 for upload), and fixed buffers (capture batches, the store\'s write batch of 500 rows).\n\n' +
  '| key (default) | `structure` label | one entry | bytes/entry | at the default |\n|---|---|---|---:|---:|\n';
let total = 0;
for (const [key, [structure, what]] of Object.entries(BOUNDS)) {
  const [sec, k] = key.split('.');
  const def = CONFIG_SCHEMA.properties[sec].properties[k].default;
  const per = measured.bytesPerEntry[key];
  if (per === undefined) throw new Error(`no measurement for ${key}: re-run bench/bounds-memory.mjs`);
  const at = per * def;
  total += at;
  md += `| \`${key}\` (${def.toLocaleString('en-US')}) | ${structure.split(', ').map((x) => `\`${x}\``).join(', ')} | ${what} | ${per} | ${mb(at)} MB |\n`;
}
md += `\nAll at their defaults: ${mb(total)} MB (one tenant). A sensor started with smaller bounds stays under them: \`test/e2e/bounded-scan.test.ts\` replays a SYN scan with small bounds and checks its peak RSS.\n\n`;
md += `## \`tenants\`\n\nEach entry: \`id\`, \`vlans\`, \`cidrs\`, \`edr_tenant_ids\`, \`ai_threat_telemetry_enabled\` (default true), \`payload_entropy\` (default false), \`warmup_days\` (14), \`h1_categories\` (["api"]), \`device_groups\`, \`h7\` ({devices: 3, window_s: 300}), \`beacon\`, \`upload\` ({bytes_out: 10000000, …}), \`shadow_volume\` ({connections: 5, bytes_out: 10000000, …}), \`alert_ttl_hours\` (72), \`business_hours\` (absent; {time_zone: IANA name, days: [mon…fri], start: "08:00", end: "18:00"} — outside them is the off-hours confidence signal), \`threat_intel\` ({files: []}: optional indicator files, plain hash/host lists or STIX 2.1 bundles, reloaded on SIGHUP; see README "Threat intelligence"). See \`src/tenants/schema.ts\` for every field's doc line.\n`;
writeFileSync(new URL('../docs/configuration.md', import.meta.url), md);

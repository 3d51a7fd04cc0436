// Writes docs/configuration.md from the config schema in src/config.ts (never hand-edited).
//   npm run build && node scripts/gen-config-doc.mjs
import { writeFileSync } from 'node:fs';
import { CONFIG_SCHEMA } from '../dist/config.js';

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
md += `## \`tenants\`\n\nEach entry: \`id\`, \`vlans\`, \`cidrs\`, \`edr_tenant_ids\`, \`ai_threat_telemetry_enabled\` (default true), \`payload_entropy\` (default false), \`warmup_days\` (14), \`h1_categories\` (["api"]), \`device_groups\`, \`h7\` ({devices: 3, window_s: 300}), \`beacon\`, \`upload\` ({bytes_out: 10000000, …}), \`shadow_volume\` ({connections: 5, bytes_out: 10000000, …}), \`alert_ttl_hours\` (72), \`business_hours\` (absent; {time_zone: IANA name, days: [mon…fri], start: "08:00", end: "18:00"} — outside them is the off-hours confidence signal). See \`src/tenants/schema.ts\` for every field's doc line.\n`;
writeFileSync(new URL('../docs/configuration.md', import.meta.url), md);

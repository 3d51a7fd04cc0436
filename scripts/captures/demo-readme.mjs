// README.md of pcaps/demo, written from the run's facts (expected.json) so it never drifts.

const EXPECT = {
  1: 'Sanctioned assistant use: observations (assistant, OpenAI) with host_source quic-sni and sni; no alert once chromium is allowlisted.',
  2: 'Allowlisted developer tool: observations (api, OpenAI); no H1 alert when curl is on the allowlist.',
  3: 'H1 (httpd-worker is not allowlisted for api.anthropic.com), beacon (10 connections about 2 s apart), lineage (an LLM caller whose parent is a web server, httpd).',
  4: 'H7: the same new SHA-256 (quickprompt, not in the inventory) calls api.openai.com from 3 devices within 2 minutes; H1 on each device.',
  5: 'upload: more than 10,000,000 bytes sent by python3 to api.openai.com in one connection (plus H1 for python3 if not allowlisted).',
  6: 'No SNI in the ClientHello (openssl -noservername): the host api.anthropic.com comes from the client\'s own DNS answer (host_source dns-client); H1 for openssl.',
  7: 'device-d has no endpoint sensor: flows without attribution (device known from its address only); 6 calls to generativelanguage.googleapis.com (shadow_volume / unattributed AI use).',
  8: 'Visible only in the endpoint feed (loopback never reaches the tap): edr-only observations, category local_llm (port 11434), processes curl → ollama.',
  9: 'Not AI: no observation is classified, no alert.',
};

export function readmeText(e) {
  const dev = e.devices.map((d) => `| ${d.id} | ${d.addrs.join(', ')} | ${d.edr ? 'yes' : '**no**'} |`).join('\n');
  const hosts = Object.entries(e.hosts).map(([n, a]) => `| ${n} | ${a.join(', ')} |`).join('\n');
  const procs = e.processes.map((p) => `| ${p.device} | ${p.pid} | ${p.name} | \`${p.path}\` | ${p.parentName ?? ''} | \`${(p.sha256 ?? '').slice(0, 16)}…\` |`).join('\n');
  const steps = e.steps.map((s) => {
    const t = ((s.startMs - e.scenario.t0Ms) / 1000).toFixed(1);
    const procsIn = [...new Set(s.flows.map((f) => f.edr?.processName ?? '(no EDR)'))].join(', ');
    return `| ${s.step} | +${t} s | ${s.devices.join(', ')} | ${s.hosts.join(', ')} | ${s.flows.length} | ${procsIn} | ${s.title} |`;
  }).join('\n');
  const exp = [...new Set(e.steps.map((s) => s.step))].sort((a, b) => a - b).map((n) => `${n}. ${EXPECT[n]}`).join('\n');
  return `# Demo scenario: real clients, one tap, one endpoint feed

One run of real client software (Chromium, curl, python3, Node.js, openssl, dig and a small C
program) on four lab devices (network namespaces), talking to local servers that answer for
chatgpt.com, api.openai.com, api.anthropic.com, generativelanguage.googleapis.com, claude.ai,
www.example.org and www.wikipedia.org. Nothing in it ever left the machine that made it.

| file | what |
| --- | --- |
| \`demo.pcap.gz\` | the tap: every frame between the devices and the servers (Ethernet, pcap, µs, gzip) |
| \`edr/llmtap.ndjson\` | the endpoint feed of devices a–c in llmtap's own format (\`EdrConnection\`, \`v: 1\`, tenant \`${e.scenario.tenant}\`) |
| \`edr/sysmon-nxlog.jsonl\` | the same feed as Sysmon EID 1 + EID 3, NXLog-flattened JSON (no users, no command lines) |
| \`expected.json\` | facts of the run (devices, processes with pids and SHA-256, per step the 5-tuples and hosts) and tshark's reading of the capture (\`oracle\`) |

Regenerate (root, about a minute): \`scripts/captures/make-demo.sh\`. The endpoint feed was
recorded by polling each device's socket table every 10 ms and mapping sockets to processes
through /proc (pid, executable, SHA-256 of the executable, parent); its event time is when the
poller first saw the connection, its receive time that plus ${e.scenario.receiveLagMs} ms. Clients: ${e.scenario.clients}.

## Devices

| device | addresses | endpoint sensor |
| --- | --- | --- |
${dev}

## Names (served by the lab's dnsmasq)

| name | addresses |
| --- | --- |
${hosts}

## Processes in the endpoint feed

| device | pid | name | path | parent | SHA-256 |
| --- | --- | --- | --- | --- | --- |
${procs}

## Timeline

| step | start | devices | hosts | connections | processes | what |
| --- | --- | --- | --- | --- | --- | --- |
${steps}

## Expected findings

${exp}

The end-to-end test decides the exact alert set; the lines above are what each step is there to
show.
`;
}

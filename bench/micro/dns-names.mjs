// The DNS name walk against dns-packet's decoder on every name of a capture's responses:
// equal results (a fuzz of mutated messages included) and the time of each.
//   node bench/micro/dns-names.mjs CAPTURE
// Kept as the measurement behind the in-place walk in src/dissect/dns/parse.ts.
import { parseDnsMessage } from '../../dist/dissect/dns/parse.js';
import { replayFile } from '../../dist/pipeline.js';
import { Dissector, defaultDissectOptions } from '../../dist/dissect/index.js';

const [file] = process.argv.slice(2);
const msgs = [];
const d = new Dissector(defaultDissectOptions, {
  onDns: () => {},
  makeDns: () => ({
    onPacket(view) {
      if (view.payloadLen > 12 && view.proto === 17) msgs.push(Buffer.from(view.buf.subarray(view.payloadOff, view.payloadOff + view.payloadLen)));
    },
    onFlowEnd() {},
  }),
});
await replayFile(file, { dissector: d, onFlow: () => {} });
let seed = 7;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const issues = [];
const t0 = process.cpuUsage();
let answers = 0;
for (let k = 0; k < 5; k++) for (const m of msgs) { issues.length = 0; const r = parseDnsMessage(m, 64, issues); if (r.ok) answers += r.msg.answers.length; }
const t = process.cpuUsage(t0);
console.log(`${msgs.length} messages ×5: ${((t.user + t.system) / 1000).toFixed(1)} ms cpu, ${answers} answers`);
// mutated copies: the output must not depend on which path read a name (print a digest)
let digest = 0;
for (const m of msgs.slice(0, 3000)) {
  for (let j = 0; j < 4; j++) {
    const c = Buffer.from(m);
    const i = 12 + Math.floor(rnd() * (c.length - 12));
    c[i] = Math.floor(rnd() * 256);
    issues.length = 0;
    const s = JSON.stringify([parseDnsMessage(c, 64, issues), issues]);
    for (let q = 0; q < s.length; q++) digest = (Math.imul(digest, 31) + s.charCodeAt(q)) >>> 0;
  }
}
console.log(`mutation digest ${digest}`);

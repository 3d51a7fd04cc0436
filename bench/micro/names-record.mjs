// Records the names stage's input on a capture (DNS answers and flow records, in the order the
// pipeline hands them over) to an NDJSON file, for bench/micro/names.mjs.
//   node bench/micro/names-record.mjs CAPTURE OUT.ndjson
import { writeFileSync } from 'node:fs';
import { replayFile } from '../../dist/pipeline.js';
import { Dissector, defaultDissectOptions } from '../../dist/dissect/index.js';

const [file, out] = process.argv.slice(2);
const lines = [];
const d = new Dissector(defaultDissectOptions, { onDns: (a) => lines.push(JSON.stringify({ a })) });
await replayFile(file, { dissector: d, onFlow: (rec) => lines.push(JSON.stringify({ f: rec })) });
writeFileSync(out, lines.join('\n') + '\n');
console.log(`${lines.length} events`);

/** Opens a LiveSource with the JSON options in argv[2] and prints `{ ok }` or `{ code, message }`. */
import { LiveSource, type LiveOptions } from '../../src/source/live.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as LiveOptions;
try {
  const src = LiveSource.open(opts);
  await src.close();
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (e) {
  const code = (e as { code?: unknown }).code;
  process.stdout.write(`${JSON.stringify({ ok: false, code, message: e instanceof Error ? e.message : String(e) })}\n`);
}

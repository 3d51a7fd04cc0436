/**
 * Child process of the crash test: replays the deterministic input through a Detector into a
 * file store, and after every commit prints how many observations are durable.
 */
import { Detector } from '../../src/detect/detector.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { Store } from '../../src/store/store.js';
import { crashInput } from './crash-input.js';

const [path, countText] = process.argv.slice(2);
const input = crashInput(Number(countText));
const store = Store.open(path ?? '', { flushIntervalMs: 0, batchSize: 100_000 });
const det = new Detector({ tenants: new TenantResolver([{ ...defaultTenantConfig(), warmup_days: 0 }]) }, { store });
input.forEach((o, i) => {
  det.onObservation(o);
  if ((i + 1) % 250 === 0) {
    store.flush();
    process.stdout.write(`committed ${i + 1}\n`);
  }
});
store.close();
process.stdout.write('done\n');

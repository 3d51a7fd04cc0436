/**
 * Child process of the PostgreSQL crash test: replays the deterministic input through a Detector
 * into a PostgreSQL store, awaiting the commit every 250 observations (as the hub does before it
 * acknowledges), and prints how many observations are committed.
 */
import { Detector } from '../../../src/detect/detector.js';
import { TenantResolver } from '../../../src/tenants/resolver.js';
import { defaultTenantConfig } from '../../../src/tenants/schema.js';
import { PgStore } from '../../../src/store/pg/store.js';
import { crashInput } from '../crash-input.js';

const [url, countText] = process.argv.slice(2);
const input = crashInput(Number(countText));
const store = await PgStore.open(url ?? '', { flushIntervalMs: 0, batchSize: 100_000 });
const det = new Detector({ tenants: new TenantResolver([{ ...defaultTenantConfig(), warmup_days: 0 }]) }, { store });
for (let i = 0; i < input.length; i++) {
  det.onObservation(input[i]!);
  if ((i + 1) % 250 === 0) {
    await store.commit();
    process.stdout.write(`committed ${i + 1}\n`);
  }
}
await store.close();
process.stdout.write('done\n');

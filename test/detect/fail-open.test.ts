import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import type { Rule } from '../../src/detect/rule.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import { Store } from '../../src/store/store.js';
import { alerts, obs } from './helpers.js';

describe('fail-open', () => {
  it('a throwing rule is counted and logged at a limited rate; other rules and observations continue', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = pino({ level: 'warn' }, sink);
    const boom: Rule = {
      name: 'boom',
      observe() {
        throw new Error('rule exploded');
      },
    };
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    const tenants = new TenantResolver([{ ...defaultTenantConfig(), warmup_days: 0 }]);
    const det = new Detector({ tenants }, { store, log, extraRules: [boom] });
    for (let i = 0; i < 50; i++) det.onObservation(obs({ id: `f${i}`, atS: 10 + i * 400, proc: 'agent.exe' }));
    const st = det.stats();
    expect(st['detect.error']).toBe(50);
    expect(st['detect.error.boom']).toBe(50);
    expect(st['detect.observations_ai']).toBe(50);
    // H1 still ran for every observation and the rows were stored.
    expect(alerts(store)[0]?.count).toBe(50);
    expect(store.listObservations('default', { afterSeq: 0, limit: 100 }).length).toBe(50);
    // One log line within the rate-limit interval, with the rule name, never the observation's fields.
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain('"rule":"boom"');
    expect(lines[0]).not.toContain('agent.exe');
    store.close();
  });

  it('a store that fails on write is counted as detect.store_error; detection does not throw', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    const tenants = new TenantResolver([{ ...defaultTenantConfig(), warmup_days: 0 }]);
    const det = new Detector({ tenants }, { store });
    store.close();
    expect(() => det.onObservation(obs({ id: 'g0', atS: 1, proc: 'agent.exe' }))).not.toThrow();
    expect(det.stats()['detect.store_error']).toBeGreaterThan(0);
    expect(store.writable()).toBe(false);
  });
});

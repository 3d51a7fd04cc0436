import { describe, expect, it } from 'vitest';
import { alerts, obs, rig, summary } from './helpers.js';

describe('a loopback address is never a device', () => {
  it('captured loopback calls to a local runtime without an endpoint record: no shadow-volume alert for 127.0.0.1 or ::1', () => {
    const { store, det } = rig();
    for (const addr of ['127.0.0.1', '::1']) {
      for (let i = 0; i < 6; i++) {
        det.onObservation(obs({ id: `${addr}-${i}`, atS: 100 + i * 20, noEdr: true, clientAddr: addr, host: 'localhost', provider: 'Ollama', category: 'local_llm' }));
      }
    }
    expect(alerts(store)).toEqual([]);
    expect(det.stats()['detect.loopback_without_device']).toBe(2 * (6 - 5 + 1));
    // the same calls from a LAN address do make the alert: the guard is about loopback only
    for (let i = 0; i < 6; i++) {
      det.onObservation(obs({ id: `lan-${i}`, atS: 100 + i * 20, noEdr: true, clientAddr: '10.9.0.7', host: 'localhost', provider: 'Ollama', category: 'local_llm' }));
    }
    expect(summary(alerts(store))).toEqual(['shadow_volume/medium/10.9.0.7/-']);
    store.close();
  });

  it('an attributed loopback call keeps its alerts: the device comes from the endpoint record', () => {
    const { store, det } = rig();
    det.onObservation(obs({ id: 'a0', atS: 100, device: 'laptop-7', proc: 'quickprompt', sha256: 'e'.repeat(64), clientAddr: '127.0.0.1', host: 'api.openai.com' }));
    expect(summary(alerts(store))).toEqual(['h1/high/laptop-7/quickprompt']);
    store.close();
  });
});

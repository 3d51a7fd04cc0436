/**
 * False-positive test on real traffic: the public corpus contains no AI service, so no SNI,
 * DNS name or HTTP Host in its expected values may classify as AI.
 */
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import { corpusAvailable, corpusNames, DEFAULT_RULES } from './helpers.js';

const c = Classifier.fromFiles({ rules: DEFAULT_RULES });

describe.runIf(corpusAvailable())('corpus false positives', () => {
  it('no name in the 77 captures yields an AI classification', () => {
    const n = corpusNames();
    expect(n.files).toBe(77);
    expect(n.sni.length).toBeGreaterThan(250);
    expect(n.dns.length).toBeGreaterThan(200);
    expect(n.dns).toContain('darksail.ai'); // the corpus's near miss
    const hits: string[] = [];
    for (const host of [...n.sni, ...n.dns, ...n.http]) {
      for (const port of [443, 80, 53]) {
        const v = c.classify({ host, port });
        if (v) hits.push(`${host} -> ${v.ruleId}`);
      }
    }
    expect(hits).toEqual([]);
  });
});

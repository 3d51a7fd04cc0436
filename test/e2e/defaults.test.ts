/**
 * One source of defaults: every stage's default options equal what a config without any key
 * gives that stage (the schema's defaults), so tests and benchmarks that use a stage's
 * defaults run the values the product runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { attributeOptionsFrom, defaultAttributeOptions } from '../../src/attribute/options.js';
import { createIngestState } from '../../src/attribute/feeds/context.js';
import { Classifier } from '../../src/classify/classifier.js';
import { configFromObject, configPath, CONFIG_SCHEMA, schemaDefaults, type DefaultedSection, type OutputConfig, type SensorConfig } from '../../src/config.js';
import { defaultDetectBounds, detectBoundsFrom } from '../../src/detect/rule.js';
import { defaultDissectOptions, dissectOptionsFrom } from '../../src/dissect/index.js';
import { defaultFlowTableOptions, flowTableOptionsFrom } from '../../src/flow/table.js';
import { defaultPassiveDnsOptions, passiveDnsOptionsFrom } from '../../src/names/passive-dns.js';
import type { AiCategory } from '../../src/records.js';
import type { TenantConfig } from '../../src/tenants/schema.js';
import { repoRoot } from '../helpers/corpus.js';

const empty = configFromObject({});
/** The sections whose every key has a default: the stages' settings. */
const STAGE_SECTIONS = ['flow', 'dissect', 'names', 'attribute', 'edr', 'classify', 'detect', 'store', 'overload', 'log'] as const;

describe('stage defaults are the config schema defaults', () => {
  it('schemaDefaults gives what an empty config gets, section by section', () => {
    for (const s of STAGE_SECTIONS) expect(schemaDefaults(s), s).toEqual(empty[s]);
    // A section with a key that has no default is refused rather than half filled.
    expect(() => schemaDefaults('capture' as 'flow')).toThrow(/capture\.iface has no default/);
  });

  it('the EDR join tolerance is the config’s 5000 ms, and every join option maps from the config', () => {
    expect(defaultAttributeOptions.toleranceMs).toBe(5000);
    expect(defaultAttributeOptions).toEqual(attributeOptionsFrom(empty.attribute));
    expect(attributeOptionsFrom({ ...empty.attribute, wait_s: 2, hold_s: 3 })).toMatchObject({ waitMs: 2000, holdMs: 3000 });
  });

  it('flow, dissect, names and detect defaults map from the config', () => {
    expect(defaultFlowTableOptions).toEqual(flowTableOptionsFrom(empty.flow));
    expect(defaultDissectOptions).toEqual(dissectOptionsFrom(empty.dissect, false));
    expect(defaultPassiveDnsOptions).toEqual(passiveDnsOptionsFrom(empty.names));
    expect(defaultPassiveDnsOptions).toEqual({ maxEntries: empty.names.max_entries, ttlFloorS: empty.names.ttl_floor_s, ttlCapS: empty.names.ttl_cap_s });
    expect(defaultDetectBounds).toEqual(detectBoundsFrom(empty.detect));
  });

  it('bounds defaulted inside a stage (EDR tables, classify memo) are the schema’s', () => {
    const st = createIngestState();
    expect(st.procs.stat().max).toBe(empty.edr.max_processes);
    expect(st.dns.stat().max).toBe(empty.edr.max_dns_hints);
    // The shipped rules, no memo bound given: the matcher's own default applies.
    const memo = Classifier.fromFiles({ rules: configPath(empty, empty.rules.file) }).bounds().find((b) => b.structure === 'classify.host_memo');
    expect(memo?.max).toBe(empty.classify.max_memo);
  });

  it('each mapped option names a schema key (none is the stage’s own)', () => {
    const keys = (s: string): string[] => Object.keys((CONFIG_SCHEMA.properties as unknown as Record<string, { properties?: object }>)[s]?.properties ?? {}).sort();
    expect(Object.keys(empty.attribute).sort()).toEqual(keys('attribute'));
    // Every attribute key but the lineage secret (used by ingest, not the join) reaches the join.
    expect(Object.keys(defaultAttributeOptions)).toHaveLength(keys('attribute').length - 1);
    expect(Object.keys(defaultFlowTableOptions)).toHaveLength(keys('flow').length);
    expect(Object.keys(defaultDetectBounds)).toHaveLength(keys('detect').length);
    expect(Object.keys(defaultPassiveDnsOptions)).toHaveLength(keys('names').length);
    // dissect: the schema's three, plus the per-tenant entropy opt-in.
    expect(Object.keys(defaultDissectOptions)).toHaveLength(keys('dissect').length + 1);
  });
});

describe('no stage keeps a default of its own', () => {
  /**
   * Literal fallbacks in src/ (a parameter default `x = N` or `?? N`) whose value is a number
   * the schema gives as a default to a stage section (the capture, API and output settings are
   * read by the commands, which have no defaults of their own): each is either the schema's value written a second time
   * (a bound or interval that should come from the config) or a coincidence, listed here with
   * what it is.
   */
  const COINCIDENCES: Record<string, string> = {
    'output/outputs.ts: everyMs = 1000': 'how often the outputs poll the store for alert changes (no config key)',
    'source/file.ts: ?? 8192': 'packets per batch when reading a capture file (no config key)',
  };
  const SRC = join(repoRoot, 'src');
  const schemaNumbers = new Map<number, string[]>();
  const sections = (CONFIG_SCHEMA as unknown as { properties: Record<string, { properties?: Record<string, { default?: unknown }> }> }).properties;
  for (const s of STAGE_SECTIONS) {
    for (const [k, p] of Object.entries(sections[s]?.properties ?? {})) if (typeof p.default === 'number') schemaNumbers.set(p.default, [...(schemaNumbers.get(p.default) ?? []), `${s}.${k}`]);
  }
  /** `name = N` / `name: number = N` before `,` or `)`, and `?? N`; N may be `a * b` with `_` separators. */
  const FALLBACK = /(?:\b[A-Za-z_]\w*\s*(?::\s*number\s*)?=(?!=)\s*|\?\?\s*)([0-9][0-9_]*(?:\s*\*\s*[0-9][0-9_]*)*)\s*(?=[,)])/g;
  const fallbacks = (text: string): { text: string; value: number }[] =>
    [...text.matchAll(FALLBACK)].map((m) => ({ text: m[0].trim(), value: (m[1] ?? '').replace(/_/g, '').split('*').reduce((a, x) => a * Number(x), 1) }));

  it('finds the fallbacks it looks for', () => {
    expect(fallbacks('constructor(maxEntries = 200_000) {')).toEqual([{ text: 'maxEntries = 200_000', value: 200000 }]);
    expect(fallbacks('f(a: number = 64 * 1024, b = opts.x ?? 5000)')).toEqual([{ text: 'a: number = 64 * 1024', value: 65536 }, { text: '?? 5000', value: 5000 }]);
    expect(fallbacks('if (x === 300) y = 300;')).toEqual([]);
  });

  it('no literal fallback in src/ repeats a schema default (bounds and timings come from the config)', () => {
    const found: string[] = [];
    for (const f of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
      if (!f.endsWith('.ts') || f === 'config.ts') continue;
      for (const fb of fallbacks(readFileSync(join(SRC, f), 'utf8'))) {
        const keys = schemaNumbers.get(fb.value);
        if (keys !== undefined) found.push(`${f.split('\\').join('/')}: ${fb.text}`);
      }
    }
    expect(found.filter((x) => COINCIDENCES[x] === undefined), 'write these defaults once, in the config schema').toEqual([]);
    // every listed coincidence is still there (a stale entry is removed)
    expect(Object.keys(COINCIDENCES).filter((x) => !found.includes(x))).toEqual([]);
  });
});

describe('the config type is the schema’s', () => {
  type Prop = { default?: unknown; properties?: Record<string, Prop>; items?: Prop };
  const schema = CONFIG_SCHEMA as unknown as { properties: Record<string, Prop> };

  it('a key with a default is always there after validation, a key without one only when given', () => {
    for (const [name, sec] of Object.entries(schema.properties)) {
      if (sec.properties === undefined) continue;
      const withDefault = Object.entries(sec.properties).filter(([, p]) => p.default !== undefined).map(([k]) => k).sort();
      expect(Object.keys((empty as unknown as Record<string, object>)[name] ?? {}).sort(), name).toEqual(withDefault);
    }
    const out = configFromObject({ outputs: [{ type: 'file', path: 'a.ndjson' }] }).outputs[0];
    const item = schema.properties['outputs']?.items?.properties ?? {};
    expect(Object.keys(out ?? {}).sort()).toEqual(['path', 'type', ...Object.keys(item).filter((k) => item[k]?.default !== undefined)].sort());
  });

  it('and the static type says the same (inferred from CONFIG_SCHEMA, checked by tsc)', () => {
    expectTypeOf<SensorConfig['rules']>().toEqualTypeOf<{ file: string; tenant_dir?: string }>();
    expectTypeOf<SensorConfig['capture']['backend']>().toEqualTypeOf<'native' | 'cap'>();
    expectTypeOf<SensorConfig['capture']['iface']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<SensorConfig['flow']>().toEqualTypeOf<{ max_flows: number; tcp_idle_s: number; tcp_closed_s: number; other_idle_s: number; active_s: number; split_on_reuse: boolean; max_fragments: number }>();
    expectTypeOf<SensorConfig['edr']['follow']>().toEqualTypeOf<string[]>();
    expectTypeOf<NonNullable<SensorConfig['allowlist'][number]['category']>>().toEqualTypeOf<AiCategory>();
    expectTypeOf<SensorConfig['log']['level']>().toEqualTypeOf<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>();
    expectTypeOf<OutputConfig['type']>().toEqualTypeOf<'syslog' | 'file' | 'webhook'>();
    expectTypeOf<OutputConfig['retry_max_ms']>().toEqualTypeOf<number>();
    expectTypeOf<SensorConfig['tenants']>().toEqualTypeOf<TenantConfig[]>();
    // schemaDefaults takes exactly the sections whose every key has a default.
    expectTypeOf<DefaultedSection>().toEqualTypeOf<(typeof STAGE_SECTIONS)[number]>();
    expectTypeOf(empty.api.operator_tokens).toEqualTypeOf<{ name: string; token_sha256: string }[]>();
  });
});

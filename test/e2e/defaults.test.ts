/**
 * One source of defaults: every stage's default options equal what a config without any key
 * gives that stage (the schema's defaults), so tests and benchmarks that use a stage's
 * defaults run the values the product runs.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { attributeOptionsFrom, defaultAttributeOptions } from '../../src/attribute/options.js';
import { createIngestState } from '../../src/attribute/feeds/context.js';
import { Classifier } from '../../src/classify/classifier.js';
import { configFromObject, configPath, CONFIG_SCHEMA, schemaDefaults, type DefaultedSection, type OutputConfig, type SensorConfig } from '../../src/config.js';
import { defaultDetectBounds, detectBoundsFrom } from '../../src/detect/rule.js';
import { defaultDissectOptions, dissectOptionsFrom } from '../../src/dissect/index.js';
import { defaultFlowTableOptions, flowTableOptionsFrom } from '../../src/flow/table.js';
import type { AiCategory } from '../../src/records.js';
import type { TenantConfig } from '../../src/tenants/schema.js';

const empty = configFromObject({});

describe('stage defaults are the config schema defaults', () => {
  it('schemaDefaults gives what an empty config gets, section by section', () => {
    for (const s of ['flow', 'dissect', 'names', 'attribute', 'edr', 'classify', 'detect', 'store', 'overload', 'log'] as const) expect(schemaDefaults(s), s).toEqual(empty[s]);
    // A section with a key that has no default is refused rather than half filled.
    expect(() => schemaDefaults('capture' as 'flow')).toThrow(/capture\.iface has no default/);
  });

  it('the EDR join tolerance is the config’s 5000 ms, and every join option maps from the config', () => {
    expect(defaultAttributeOptions.toleranceMs).toBe(5000);
    expect(defaultAttributeOptions).toEqual(attributeOptionsFrom(empty.attribute));
    expect(attributeOptionsFrom({ ...empty.attribute, wait_s: 2, hold_s: 3 })).toMatchObject({ waitMs: 2000, holdMs: 3000 });
  });

  it('flow, dissect and detect defaults map from the config', () => {
    expect(defaultFlowTableOptions).toEqual(flowTableOptionsFrom(empty.flow));
    expect(defaultDissectOptions).toEqual(dissectOptionsFrom(empty.dissect, false));
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
    // dissect: the schema's three, plus the per-tenant entropy opt-in.
    expect(Object.keys(defaultDissectOptions)).toHaveLength(keys('dissect').length + 1);
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
    expectTypeOf<DefaultedSection>().toEqualTypeOf<'flow' | 'dissect' | 'names' | 'attribute' | 'edr' | 'classify' | 'detect' | 'store' | 'overload' | 'log'>();
    expectTypeOf(empty.api.operator_tokens).toEqualTypeOf<{ name: string; token_sha256: string }[]>();
  });
});

/**
 * A validator of OCSF events built from the schema's own source files (the `ocsf/ocsf-schema`
 * repository layout: dictionary.json, categories.json, events/**, objects/*, profiles/*,
 * includes/*), so tests check llmtap's output against the published schema rather than
 * against llmtap's idea of it.
 *
 * Resolution follows the schema's rules: an attribute's definition is the dictionary entry
 * overlaid by the class or object entry (enum values merged); `extends` chains merge parent
 * attributes first; `$include` pulls in the attributes of include and profile files, and
 * attributes from a profile are allowed (and their requirements apply) only when the event
 * names that profile in `metadata.profiles`. The observable type enum is assembled from the
 * `observable` numbers of types, dictionary attributes and objects, as the schema server does.
 *
 * Checked: unknown attributes, missing required attributes, JSON types of every primitive
 * (string/integer/long/float/boolean/json), arrays where `is_array`, enum values, the
 * caption of an enum's sibling string, regexes, max_len and ranges of derived types, object
 * constraints (at_least_one, just_one) and the class's `type_uid` arithmetic.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './corpus.js';

interface RawAttr {
  type?: string;
  is_array?: boolean;
  enum?: Record<string, { caption?: string }>;
  requirement?: string;
  sibling?: string;
  caption?: string;
  observable?: number;
  [k: string]: unknown;
}

export interface Attr extends RawAttr {
  name: string;
  /** Profile the attribute came from, if any. */
  profile?: string;
}

interface RawDef {
  name: string;
  uid?: number;
  extends?: string;
  caption?: string;
  category?: string;
  observable?: number;
  attributes: Record<string, RawAttr | string[]>;
  constraints?: { at_least_one?: string[]; just_one?: string[] };
}

export interface Def {
  name: string;
  attributes: Map<string, Attr>;
  constraints: { at_least_one?: string[]; just_one?: string[] };
}

interface TypeDef {
  type?: string;
  regex?: string;
  max_len?: number;
  range?: [number, number];
  values?: unknown[];
  observable?: number;
  caption?: string;
}

function readJson<T>(p: string): T {
  return JSON.parse(readFileSync(p, 'utf8')) as T;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (e.endsWith('.json')) out.push(p);
  }
  return out;
}

function mergeAttr(base: RawAttr | undefined, over: RawAttr): RawAttr {
  const out: RawAttr = { ...(base ?? {}), ...over };
  if (base?.enum !== undefined && over.enum !== undefined) out.enum = { ...base.enum, ...over.enum };
  return out;
}

export class OcsfSchema {
  readonly version: string;
  private readonly dict: Record<string, RawAttr>;
  private readonly types: Record<string, TypeDef>;
  private readonly rawObjects = new Map<string, RawDef>();
  private readonly rawClasses = new Map<string, RawDef>();
  private readonly objects = new Map<string, Def>();
  private readonly classes = new Map<string, Def>();
  private readonly classByUid = new Map<number, string>();
  private readonly observableTypes: Record<string, { caption: string }> = {};
  private readonly categoryCaption: Map<number, string>;

  constructor(private readonly root: string) {
    if (!existsSync(join(root, 'dictionary.json'))) throw new Error(`${root}: not an OCSF schema directory`);
    this.version = readJson<{ version: string }>(join(root, 'version.json')).version;
    const dictionary = readJson<{ attributes: Record<string, RawAttr>; types: { attributes: Record<string, TypeDef> } }>(join(root, 'dictionary.json'));
    this.dict = dictionary.attributes;
    this.types = dictionary.types.attributes;
    for (const f of readdirSync(join(root, 'objects'))) {
      const d = readJson<RawDef>(join(root, 'objects', f));
      this.rawObjects.set(d.name, d);
    }
    const categories = readJson<{ attributes: Record<string, { uid: number; caption: string }> }>(join(root, 'categories.json')).attributes;
    this.categoryCaption = new Map(Object.values(categories).map((c) => [c.uid, c.caption]));
    for (const f of walk(join(root, 'events'))) {
      const d = readJson<RawDef>(f);
      this.rawClasses.set(d.name, d);
    }
    for (const d of this.rawClasses.values()) {
      const cat = d.category !== undefined ? categories[d.category] : undefined;
      if (d.uid !== undefined && cat !== undefined) this.classByUid.set(cat.uid * 1000 + d.uid, d.name);
    }
    // observable type ids, as the schema server derives them
    for (const [, t] of Object.entries(this.types)) if (t.observable !== undefined) this.observableTypes[String(t.observable)] = { caption: t.caption ?? '' };
    for (const [, a] of Object.entries(this.dict)) if (a.observable !== undefined) this.observableTypes[String(a.observable)] = { caption: a.caption ?? '' };
    for (const d of this.rawObjects.values()) if (d.observable !== undefined) this.observableTypes[String(d.observable)] = { caption: d.caption ?? '' };
  }

  private resolve(name: string, raw: Map<string, RawDef>, cache: Map<string, Def>): Def {
    const hit = cache.get(name);
    if (hit) return hit;
    const d = raw.get(name);
    if (!d) throw new Error(`OCSF: no definition '${name}'`);
    const attrs = new Map<string, RawAttr & { profile?: string }>();
    let constraints: Def['constraints'] = {};
    if (d.extends !== undefined) {
      const parent = this.resolve(d.extends, raw, cache);
      for (const [k, v] of parent.attributes) attrs.set(k, { ...v });
      constraints = { ...parent.constraints };
    }
    const own = d.attributes;
    const includes = (own['$include'] as string[] | undefined) ?? [];
    for (const inc of includes) {
      const f = readJson<{ name?: string; meta?: string; attributes: Record<string, RawAttr> }>(join(this.root, inc));
      const profile = f.meta === 'profile' || inc.startsWith('profiles/') ? f.name : undefined;
      for (const [k, v] of Object.entries(f.attributes)) {
        const merged: RawAttr & { profile?: string } = mergeAttr(attrs.get(k), v);
        if (profile !== undefined) merged.profile = profile;
        attrs.set(k, merged);
      }
    }
    for (const [k, v] of Object.entries(own)) {
      if (k === '$include') continue;
      attrs.set(k, mergeAttr(attrs.get(k), v as RawAttr));
    }
    if (d.constraints !== undefined) constraints = { ...d.constraints };
    const out: Def = { name, attributes: new Map(), constraints };
    for (const [k, v] of attrs) {
      const full = mergeAttr(this.dict[k], v) as Attr;
      full.name = k;
      out.attributes.set(k, full);
    }
    if (name === 'observable') {
      const t = out.attributes.get('type_id');
      if (t) t.enum = { ...(t.enum ?? {}), ...this.observableTypes };
    }
    cache.set(name, out);
    return out;
  }

  object(name: string): Def {
    return this.resolve(name, this.rawObjects, this.objects);
  }

  eventClass(name: string): Def {
    const known = this.classes.has(name);
    const def = this.resolve(name, this.rawClasses, this.classes);
    if (!known) {
      // as the schema server does: the class's own uids are the only values of class_uid and category_uid
      const uid = [...this.classByUid].find(([, n]) => n === name)?.[0];
      const raw = this.rawClasses.get(name);
      const classUid = def.attributes.get('class_uid');
      const catUid = def.attributes.get('category_uid');
      if (uid !== undefined && classUid && catUid) {
        classUid.enum = { [String(uid)]: { caption: raw?.caption ?? name } };
        const cat = Math.floor(uid / 1000);
        catUid.enum = { [String(cat)]: { caption: this.categoryCaption.get(cat) ?? '' } };
      }
    }
    return def;
  }

  classNameOf(uid: number): string | undefined {
    return this.classByUid.get(uid);
  }

  /** Every violation of `event` against its class (by `class_uid`); empty when valid. */
  validate(event: Record<string, unknown>): string[] {
    const errors: string[] = [];
    const cls = typeof event['class_uid'] === 'number' ? this.classNameOf(event['class_uid']) : undefined;
    if (cls === undefined) return [`class_uid ${String(event['class_uid'])} is not a class of OCSF ${this.version}`];
    const meta = event['metadata'] as { profiles?: unknown } | undefined;
    const profiles = new Set(Array.isArray(meta?.profiles) ? (meta.profiles as string[]) : []);
    const rawCls = this.rawClasses.get(cls);
    for (const p of profiles) {
      if (!existsSync(join(this.root, 'profiles', `${p}.json`))) errors.push(`metadata.profiles: unknown profile '${p}'`);
    }
    this.checkObject(this.eventClass(cls), event, '', profiles, errors);
    const act = event['activity_id'];
    if (typeof act === 'number' && rawCls?.uid !== undefined && event['type_uid'] !== (event['class_uid'] as number) * 100 + act) {
      errors.push(`type_uid ${String(event['type_uid'])} is not class_uid × 100 + activity_id`);
    }
    return errors;
  }

  private checkObject(def: Def, v: Record<string, unknown>, path: string, profiles: Set<string>, errors: string[]): void {
    for (const [k, val] of Object.entries(v)) {
      const a = def.attributes.get(k);
      const p = path === '' ? k : `${path}.${k}`;
      if (a === undefined) {
        errors.push(`${p}: not an attribute of ${def.name}`);
        continue;
      }
      if (a.profile !== undefined && !profiles.has(a.profile)) {
        errors.push(`${p}: belongs to profile '${a.profile}', not named in metadata.profiles`);
        continue;
      }
      if (val === null || val === undefined) {
        errors.push(`${p}: null`);
        continue;
      }
      if (a.is_array === true) {
        if (!Array.isArray(val)) {
          errors.push(`${p}: must be an array`);
          continue;
        }
        val.forEach((item, i) => this.checkValue(a, item, `${p}[${i}]`, profiles, errors, v));
      } else this.checkValue(a, val, p, profiles, errors, v);
    }
    for (const [k, a] of def.attributes) {
      if (a.requirement !== 'required') continue;
      if (a.profile !== undefined && !profiles.has(a.profile)) continue;
      if (!(k in v)) errors.push(`${path === '' ? k : `${path}.${k}`}: required by ${def.name}, missing`);
    }
    const c = def.constraints;
    if (c.at_least_one !== undefined && !c.at_least_one.some((k) => k in v)) {
      errors.push(`${path || def.name}: ${def.name} needs at least one of ${c.at_least_one.join(', ')}`);
    }
    if (c.just_one !== undefined && c.just_one.filter((k) => k in v).length !== 1) {
      errors.push(`${path || def.name}: ${def.name} needs exactly one of ${c.just_one.join(', ')}`);
    }
  }

  private checkValue(a: Attr, val: unknown, p: string, profiles: Set<string>, errors: string[], parent: Record<string, unknown>): void {
    const t = a.type ?? 'string_t';
    if (!t.endsWith('_t')) {
      if (typeof val !== 'object' || val === null || Array.isArray(val)) {
        errors.push(`${p}: must be a ${t} object`);
        return;
      }
      // `object` is the schema's generic bag (e.g. `unmapped`): any attributes
      if (t === 'object') return;
      this.checkObject(this.object(t), val as Record<string, unknown>, p, profiles, errors);
      return;
    }
    // primitive: walk the type chain to its base, collecting constraints
    let base = t;
    const chain: TypeDef[] = [];
    for (let guard = 0; guard < 8; guard++) {
      const td = this.types[base];
      if (td === undefined) {
        errors.push(`${p}: unknown type ${base}`);
        return;
      }
      chain.push(td);
      if (td.type === undefined) break;
      base = td.type;
    }
    switch (base) {
      case 'string_t':
        if (typeof val !== 'string') errors.push(`${p}: must be a string (${t})`);
        break;
      case 'integer_t':
      case 'long_t':
        if (typeof val !== 'number' || !Number.isInteger(val)) errors.push(`${p}: must be an integer (${t})`);
        break;
      case 'float_t':
        if (typeof val !== 'number') errors.push(`${p}: must be a number (${t})`);
        break;
      case 'boolean_t':
        if (typeof val !== 'boolean') errors.push(`${p}: must be a boolean`);
        break;
      case 'json_t':
        break;
      default:
        errors.push(`${p}: unhandled base type ${base}`);
    }
    for (const td of chain) {
      if (td.regex !== undefined && typeof val === 'string' && !new RegExp(td.regex).test(val)) errors.push(`${p}: '${val}' does not match ${t}`);
      if (td.max_len !== undefined && typeof val === 'string' && val.length > td.max_len) errors.push(`${p}: longer than ${td.max_len}`);
      if (td.range !== undefined && typeof val === 'number' && (val < td.range[0] || val > td.range[1])) errors.push(`${p}: ${val} outside ${td.range.join('..')}`);
    }
    if (a.enum !== undefined) {
      const e = a.enum[String(val)];
      if (e === undefined) errors.push(`${p}: ${String(val)} is not one of ${Object.keys(a.enum).join(', ')}`);
      else if (a.sibling !== undefined && typeof parent[a.sibling] === 'string' && String(val) !== '99' && e.caption !== undefined && parent[a.sibling] !== e.caption) {
        errors.push(`${p}: sibling ${a.sibling} '${String(parent[a.sibling])}' is not the caption '${e.caption}'`);
      }
    }
  }
}

/**
 * The schema copy: LLMTAP_OCSF_SCHEMA, else ../shared/reference/ocsf-schema-1.1.0 beside the
 * repo (as the capture corpus). Under CI=true a missing copy is a failure, not a skip.
 */
export function ocsfSchemaDir(): string | undefined {
  const dir = process.env['LLMTAP_OCSF_SCHEMA'] ?? join(repoRoot, '..', 'shared', 'reference', 'ocsf-schema-1.1.0');
  if (existsSync(join(dir, 'dictionary.json'))) return dir;
  if (process.env['CI'] === 'true') throw new Error(`OCSF schema not found at ${dir} (set LLMTAP_OCSF_SCHEMA)`);
  return undefined;
}

/**
 * Walks a response body against its JSON Schema and returns every property path the schema
 * does not list — the privacy property: nothing leaves that the schema does not name.
 */
type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: readonly Schema[];
};

export function unlistedPaths(schema: Schema, value: unknown, path = '$'): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (schema.anyOf !== undefined) {
    const options = schema.anyOf.map((s) => unlistedPaths(s, value, path));
    return options.reduce((best, cur) => (cur.length < best.length ? cur : best));
  }
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items === undefined) return value.length > 0 ? [`${path}[]`] : [];
    return value.flatMap((v, i) => unlistedPaths(items, v, `${path}[${i}]`));
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const sub = schema.properties?.[k];
    if (sub !== undefined) out.push(...unlistedPaths(sub, v, `${path}.${k}`));
    else if (typeof schema.additionalProperties === 'object') out.push(...unlistedPaths(schema.additionalProperties, v, `${path}.${k}`));
    else if (schema.additionalProperties !== true) out.push(`${path}.${k}`);
  }
  return out;
}

/** No stack-trace-looking text anywhere in a response body. */
export function looksLikeStack(body: string): boolean {
  return /\bat [^\s]+ \(|\.ts:\d+|\.js:\d+|"stack"/.test(body);
}

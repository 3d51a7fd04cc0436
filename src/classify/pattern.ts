/**
 * Host templates for regional endpoints: `bedrock-runtime.{aws_region}.amazonaws.com`,
 * `{gcp_region}-aiplatform.googleapis.com`. A template compiles to an anchored regular
 * expression; a placeholder never spans a dot. The trailing placeholder-free labels form the
 * template's fixed suffix, the key under which the matcher buckets it, so a host is tested only
 * against the templates of the domains it belongs to (no scan over every pattern).
 */

/** Placeholder classes. Exported with the rules so endpoint agents use the same definitions. */
export const PLACEHOLDERS: Readonly<Record<string, string>> = {
  // us-east-1, eu-central-2, us-gov-west-1, us-iso-east-1, us-isob-east-1
  aws_region: '[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]+',
  // us-central1, europe-west4, northamerica-northeast1, me-central2 (Google Cloud location
  // prefixes; a bare [a-z]+ would accept any glued prefix such as "xus-central1")
  gcp_region: '(?:africa|asia|australia|europe|me|northamerica|southamerica|us)-[a-z]+[0-9]+',
  // any one DNS label (RFC 1035 §2.3.1 letters, digits, hyphen; no leading/trailing hyphen)
  label: '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?',
};

export interface CompiledPattern {
  template: string;
  /** Anchored regular expression source, as exported. */
  regex: string;
  re: RegExp;
  /** Placeholder-free trailing labels, e.g. `amazonaws.com`. */
  fixedSuffix: string;
}

/** Compiles a template or returns the problem. */
export function compilePattern(template: string): CompiledPattern | string {
  const t = template.toLowerCase();
  const labels = t.split('.');
  if (labels.some((l) => l.length === 0)) return `pattern "${template}" has an empty label`;
  let fixed = 0;
  for (let i = labels.length - 1; i >= 0 && !(labels[i] ?? '').includes('{'); i--) fixed++;
  if (fixed < 2) return `pattern "${template}" needs at least two fixed trailing labels`;
  if (fixed === labels.length) return `pattern "${template}" has no placeholder (use hosts)`;
  let src = '^';
  const parts = t.split(/(\{[^}]*\})/);
  for (const part of parts) {
    if (part.startsWith('{')) {
      const name = part.slice(1, -1);
      const cls = PLACEHOLDERS[name];
      if (cls === undefined) return `pattern "${template}" uses unknown placeholder {${name}}`;
      src += `(?:${cls})`;
    } else {
      if (/[{}]/.test(part)) return `pattern "${template}" has an unbalanced brace`;
      if (!/^[a-z0-9_.-]*$/.test(part)) return `pattern "${template}" has characters outside [a-z0-9_.-]`;
      src += part.replace(/\./g, '\\.');
    }
  }
  src += '$';
  return { template: t, regex: src, re: new RegExp(src), fixedSuffix: labels.slice(labels.length - fixed).join('.') };
}

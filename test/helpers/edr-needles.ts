/**
 * The private values of the shared EDR samples (command lines, user names, SIDs, rendered
 * `Message` texts, …) as search needles, and a byte search for them. The samples keep these
 * values on purpose (see edr/samples/README.md) so that tests can prove nothing downstream of
 * ingest ever holds them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './corpus.js';

/** The shared EDR samples folder (LLMTAP_EDR_SAMPLES, else ../shared/edr/samples beside the repo), or undefined (a failure under CI=true). */
export function edrSamplesDir(): string | undefined {
  const dir = process.env['LLMTAP_EDR_SAMPLES'] ?? join(repoRoot, '..', 'shared', 'edr', 'samples');
  if (existsSync(join(dir, 'README.md'))) return dir;
  if (process.env['CI'] === 'true') throw new Error(`EDR samples not found at ${dir}`);
  return undefined;
}

/** Every sample file (JSON lines or pretty JSON objects), sorted. */
export function edrSampleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of readdirSync(dir, { withFileTypes: true })) {
    if (!sub.isDirectory()) continue;
    for (const f of readdirSync(join(dir, sub.name))) if (/\.jsonl?$/.test(f)) out.push(join(dir, sub.name, f));
  }
  return out.sort();
}

/**
 * The shared samples that hold no connection record (a process exec and a process close, by
 * their file name), with the rejection reason of their one record: the ingest API answers them
 * 400 by name. Every other sample holds connections and is answered 200.
 */
export const EDR_SAMPLES_WITHOUT_CONNECTION: Readonly<Record<string, string>> = {
  'nc_process_close.json': 'tetragon.lifecycle_event',
  'nc_process_exec.json': 'tetragon.process_exec',
};

/** The status the ingest API owes a sample file (400 for one without a connection record), and the reason it names. */
export function expectedIngest(file: string): { status: 200 } | { status: 400; reason: string } {
  const reason = EDR_SAMPLES_WITHOUT_CONNECTION[file.slice(file.lastIndexOf('/') + 1)];
  return reason === undefined ? { status: 200 } : { status: 400, reason };
}

/** Top-level JSON objects of a text holding NDJSON or concatenated pretty-printed objects. */
export function jsonObjects(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inStr = false;
  let esc = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === '\\') esc = true;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

/**
 * Keys whose values are private (docs/edr-join.md §10), matched on the last path segment, case
 * sensitive as the sources spell them. Directories (`cwd`, `CurrentDirectory`) are left out:
 * they are prefixes of image paths, which are kept (user segment redacted).
 */
const PRIVATE_KEY =
  /^(CommandLine|ParentCommandLine|ProcessCommandLine|InitiatingProcessCommandLine|command_line|args|arguments|User|ParentUser|UserName|SubjectUserName|TargetUserName|SubjectUserSid|TargetUserSid|UserSid|UserID|AccountName|AccountSid|LogonGuid|Message|message|InitiatingProcessAccountName|InitiatingProcessAccountSid|InitiatingProcessAccountUpn|InitiatingProcessAccountObjectId)$/;
/** Domains name the organisation, not a person, and are part of kept device names. */
const NOT_PRIVATE = /domain$/i;
/** Objects whose every string leaf is private (ECS `user.*`, `related.user`). */
const PRIVATE_OBJECT = /^(user|related)$/;
/** Keys holding executable paths: a command line equal to one reveals nothing more. */
const PATH_KEY = /^(Image|ParentImage|Application|binary|executable|InitiatingProcessFolderPath|FolderPath)$/;

export const MIN_NEEDLE = 6;

export interface Needles {
  /** Distinct private values (raw), each at least MIN_NEEDLE characters. */
  values: string[];
  /** How many came from each key (for the report and the self-check). */
  byKey: Record<string, number>;
}

function unquote(s: string): string {
  return s.trim().replace(/^"(.*)"$/, '$1').trim().toLowerCase();
}

/** Collect the private values of the given sample files. */
export function extractNeedles(files: string[]): Needles {
  const found = new Map<string, string>();
  const paths = new Set<string>();
  const add = (key: string, v: string): void => {
    if (v.length >= MIN_NEEDLE && v !== 'null' && !found.has(v)) found.set(v, key);
  };
  const walk = (o: unknown, key: string, inPrivate: boolean): void => {
    if (Array.isArray(o)) {
      const strs = o.filter((x): x is string => typeof x === 'string');
      if ((inPrivate || PRIVATE_KEY.test(key)) && strs.length > 0) {
        add(key, strs.join(' '));
        for (const s of strs) if (/\s/.test(s) || s.length >= 12) add(key, s);
      }
      for (const x of o) if (typeof x === 'object') walk(x, key, inPrivate);
      return;
    }
    if (o !== null && typeof o === 'object') {
      for (const [k, v] of Object.entries(o)) walk(v, k, inPrivate || PRIVATE_OBJECT.test(k));
      return;
    }
    if (typeof o !== 'string') return;
    if (PATH_KEY.test(key)) paths.add(unquote(o));
    if (NOT_PRIVATE.test(key) || (!inPrivate && !PRIVATE_KEY.test(key))) return;
    add(key, o);
    // DOMAIN\user: the bare user name too (it must not survive in a redacted profile path).
    const bs = o.lastIndexOf('\\');
    if (/User|Account|^user$|name/i.test(key) && bs > 0) add(key, o.slice(bs + 1));
  };
  for (const f of files) for (const obj of jsonObjects(readFileSync(f, 'utf8'))) walk(obj, '', false);
  const values: string[] = [];
  const byKey: Record<string, number> = {};
  for (const [v, key] of found) {
    // A command line without an argument is the program's name or path, which is kept (and a
    // lone argument such as `www.google.com` is what the network itself shows).
    if (/CommandLine|command_line|arguments|args/.test(key) && (paths.has(unquote(v)) || !/\S\s+\S/.test(v))) continue;
    values.push(v);
    byKey[key] = (byKey[key] ?? 0) + 1;
  }
  return { values, byKey };
}

/** The forms a value takes once written: raw UTF-8 and JSON-escaped (backslashes, quotes, CR/LF). */
function forms(v: string): string[] {
  const json = JSON.stringify(v).slice(1, -1);
  return json === v ? [v] : [v, json];
}

/** Needles found in a byte haystack (e.g. a SQLite file), each reported once. */
export function needlesIn(haystack: Buffer | string, needles: readonly string[]): string[] {
  const hay = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack;
  const hits: string[] = [];
  for (const n of needles) {
    if (forms(n).some((f) => hay.includes(Buffer.from(f, 'utf8')))) hits.push(n);
  }
  return hits;
}

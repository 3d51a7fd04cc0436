/**
 * EDR feeds of a config into a pipeline: files read once (`edr.files` and more), followed files
 * (`edr.follow`, from their end). Shared by the sensor assembly and the fleet hub.
 */
import { configPath, type SensorConfig } from '../config.js';
import type { EdrConnection } from '../records.js';
import { EdrFileError, EdrFollower, readEdrFile, type IngestResult } from '../attribute/ingest.js';

/** What the feeds need of a pipeline (src/pipeline.ts `Pipeline`). */
export interface EdrSink {
  addEdr(rec: EdrConnection): void;
  noteIngest(rejected: Record<string, number>): void;
}

/** One EDR feed file read into the join. */
export interface EdrFileRead {
  /** The file as named (a config entry, or as given). */
  name: string;
  /** The file read (a config entry resolved against the config's folder). */
  file: string;
  result: IngestResult;
}

export interface EdrFilesResult {
  /** Every file read, in order; a file that broke part way is here with what it delivered. */
  results: EdrFileRead[];
  /** Files that could not be read (to the end): the name as given, and why. */
  failures: { name: string; error: Error }[];
}

/**
 * Reads EDR feed files into the join: the config's `edr.files`, then `extra`, each once, as
 * `tenant` (default edr.tenant). What a file that broke part way delivered is counted (its
 * records already reached the join) and the file is named in `failures` too.
 */
export async function readEdrFiles(cfg: SensorConfig, p: EdrSink, o: { extra?: readonly string[]; tenant?: string } = {}): Promise<EdrFilesResult> {
  const named = [...cfg.edr.files.map((f) => ({ name: f, file: configPath(cfg, f) })), ...(o.extra ?? []).map((f) => ({ name: f, file: f }))];
  const out: EdrFilesResult = { results: [], failures: [] };
  const opts = { tenant: o.tenant ?? cfg.edr.tenant, lineageKey: cfg.attribute.lineage_key };
  for (const { name, file } of named) {
    try {
      const result = await readEdrFile(file, opts, (r) => p.addEdr(r));
      p.noteIngest(result.rejected);
      out.results.push({ name, file, result });
    } catch (err) {
      out.failures.push({ name, error: err as Error });
      const partial = err instanceof EdrFileError ? err.result : undefined;
      if (partial !== undefined) {
        p.noteIngest(partial.rejected);
        out.results.push({ name, file, result: partial });
      }
    }
  }
  return out;
}

/**
 * Follows the config's `edr.follow` files from their end (records appended from now on), each
 * polled until closed. `onError` hears a file that cannot be read (missing files are retried
 * quietly). Returns the started followers.
 */
export function followEdrFiles(cfg: SensorConfig, p: EdrSink, onError: (name: string, err: Error) => void): EdrFollower[] {
  return cfg.edr.follow.map((f) => {
    const follower = new EdrFollower(
      configPath(cfg, f),
      { tenant: cfg.edr.tenant, lineageKey: cfg.attribute.lineage_key, fromEnd: true, onResult: (r) => p.noteIngest(r.rejected), onError: (err) => onError(f, err) },
      (r) => p.addEdr(r),
    );
    follower.start();
    return follower;
  });
}

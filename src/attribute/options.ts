/** The EDR join's options (config `attribute.*`), in their own file so the join and the matcher share them. */
import { schemaDefaults, type SensorConfig } from '../config.js';

export interface AttributeOptions {
  /** How long (capture ms after a flow's last packet) a flow waits for late EDR records. */
  waitMs: number;
  /** Most flows kept waiting; the oldest is finalized first when full (counted). */
  maxFlows: number;
  /** Most EDR records indexed; the oldest is dropped when full (counted). */
  maxRecords: number;
  /** Match tolerance (ms) once a device's clock skew is learned. */
  toleranceMs: number;
  /** Match window (± ms) while a device's skew is unknown; also the retention of records. */
  learnWindowMs: number;
  /**
   * Loopback EDR records (local runtimes) that matched no captured loopback flow within the
   * window become edr-only observations. Off: they only attribute captured loopback flows.
   */
  edrOnlyLoopback: boolean;
  /**
   * How long (capture ms after a flow's last packet) a flow without an EDR match is held back
   * before detection first sees it. Endpoint feeds lag the tap by seconds to minutes; emitting
   * at once would make every covered device look uncovered (shadow-AI volume, address-keyed
   * beacons) until its record arrives. 0 emits at once (late joins still update).
   */
  holdMs: number;
  /** Most addresses in the device map and most devices with a learned clock skew. */
  maxDevices: number;
  /** Most off-tap edr-only observations remembered to emit each connection once. */
  maxEdrOnlyDedup: number;
}

/** The join's options from the config's `attribute` section (seconds to ms where the names say so). */
export function attributeOptionsFrom(c: SensorConfig['attribute']): AttributeOptions {
  return {
    waitMs: c.wait_s * 1000,
    holdMs: c.hold_s * 1000,
    maxFlows: c.max_flows,
    maxRecords: c.max_records,
    toleranceMs: c.tolerance_ms,
    learnWindowMs: c.learn_window_ms,
    edrOnlyLoopback: c.edr_only_loopback,
    maxDevices: c.max_devices,
    maxEdrOnlyDedup: c.max_edr_only_dedup,
  };
}

/** The product's defaults: the config schema's, never a value of this stage's own. */
export const defaultAttributeOptions: AttributeOptions = attributeOptionsFrom(schemaDefaults('attribute'));

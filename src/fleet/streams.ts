/**
 * The hub makes the fleet's streams and its durable consumers (idempotent: created when missing,
 * left as they are when present). File storage, `replicas` copies (3 on a three-node cluster), a
 * duplicate window within which a re-sent message id is stored once, and limits that bound
 * disk use (oldest messages go first: a hub away longer than `max_age` loses them, counted by
 * the stream, never silently by a sensor).
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { HUB_CONSUMER, STREAM_EDR, STREAM_FLOWS, STREAM_OBS } from './subjects.js';

export interface StreamOptions {
  replicas: number;
  /** Seconds within which a message id already stored is acknowledged as a duplicate. */
  duplicateWindowS: number;
  /** Seconds a message is kept (the longest hub outage survived). */
  maxAgeS: number;
  /** Bytes per stream. */
  maxBytes: number;
  /** Also keep every flow record (LLMTAP_FLOWS) for a data lake. */
  flows: boolean;
  /** Seconds the hub has to acknowledge a message before it is delivered again. */
  ackWaitS: number;
}

function streamConfig(name: string, subjects: string[], o: StreamOptions): Partial<StreamConfig> & { name: string } {
  return {
    name,
    subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: o.replicas,
    duplicate_window: nanos(o.duplicateWindowS * 1000),
    max_age: nanos(o.maxAgeS * 1000),
    max_bytes: o.maxBytes,
  };
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
    await jsm.streams.add(cfg);
  }
}

/**
 * Records the hub may have taken and not acknowledged (the server stops delivering past it); the
 * hub's merge lets held records go before that bound (src/fleet/hub.ts relievePressure).
 */
export const MAX_ACK_PENDING = 10_000;

async function ensureConsumer(jsm: JetStreamManager, stream: string, ackWaitS: number): Promise<void> {
  try {
    await jsm.consumers.info(stream, HUB_CONSUMER);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.ConsumerNotFound) throw err;
    await jsm.consumers.add(stream, {
      durable_name: HUB_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitS * 1000),
      max_ack_pending: MAX_ACK_PENDING,
    });
  }
}

/** Streams LLMTAP_OBS and LLMTAP_EDR (and LLMTAP_FLOWS when asked) with the hub's consumers. */
export async function ensureFleetStreams(jsm: JetStreamManager, o: StreamOptions): Promise<void> {
  await ensureStream(jsm, streamConfig(STREAM_OBS, ['llmtap.obs.>'], o));
  await ensureStream(jsm, streamConfig(STREAM_EDR, ['llmtap.edr.>'], o));
  if (o.flows) await ensureStream(jsm, streamConfig(STREAM_FLOWS, ['llmtap.flows.>'], o));
  await ensureConsumer(jsm, STREAM_OBS, o.ackWaitS);
  await ensureConsumer(jsm, STREAM_EDR, o.ackWaitS);
}

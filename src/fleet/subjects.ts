/**
 * Fleet mode's names on NATS: subjects, streams, the config bucket and consumer, and the
 * permissions a sensor's NATS user needs — one place, so the server's configuration (written by
 * an operator from `sensorPermissions`, see docs/fleet.md) and the code agree.
 *
 *   llmtap.obs.<tenant>.<sensor>    AI-relevant named flow records      stream LLMTAP_OBS
 *   llmtap.flows.<tenant>.<sensor>  every flow record (data lake, opt.) stream LLMTAP_FLOWS
 *   llmtap.edr.<tenant>             EDR connection records for the hub  stream LLMTAP_EDR
 *   KV bucket llmtap-config-<tenant> rules, tenant config, allowlist for that tenant's sensors
 *
 * The tenant is in the subject, so a sensor user allowed `llmtap.obs.acme.>` cannot publish for
 * another tenant: the server refuses it (a permissions violation), whatever the client sends.
 */

export const STREAM_OBS = 'LLMTAP_OBS';
export const STREAM_FLOWS = 'LLMTAP_FLOWS';
export const STREAM_EDR = 'LLMTAP_EDR';
/** The hub's durable pull consumer on LLMTAP_OBS (and on LLMTAP_EDR). */
export const HUB_CONSUMER = 'llmtap-hub';

/** Tenant and sensor names are one subject token: letters, digits, '_' and '-'. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export function isSubjectToken(s: string): boolean {
  return TOKEN.test(s);
}

function token(what: string, s: string): string {
  if (!TOKEN.test(s)) throw Object.assign(new Error(`fleet: ${what} '${s}' must be 1-64 letters, digits, '_' or '-' (it is a NATS subject token)`), { code: 'LLMTAP_ERR_CONFIG' });
  return s;
}

export function obsSubject(tenant: string, sensor: string): string {
  return `llmtap.obs.${token('tenant', tenant)}.${token('sensor', sensor)}`;
}

export function flowsSubject(tenant: string, sensor: string): string {
  return `llmtap.flows.${token('tenant', tenant)}.${token('sensor', sensor)}`;
}

export function edrSubject(tenant: string): string {
  return `llmtap.edr.${token('tenant', tenant)}`;
}

/** Tenant and sensor of an observation subject (undefined when it is not one). */
export function parseObsSubject(subject: string): { tenant: string; sensor: string } | undefined {
  const p = subject.split('.');
  if (p.length !== 4 || p[0] !== 'llmtap' || (p[1] !== 'obs' && p[1] !== 'flows') || !TOKEN.test(p[2]!) || !TOKEN.test(p[3]!)) return undefined;
  return { tenant: p[2]!, sensor: p[3]! };
}

/** The KV bucket holding one tenant's configuration for its sensors. */
export function configBucket(tenant: string): string {
  return `llmtap-config-${token('tenant', tenant)}`;
}

/** The sensor's private inbox prefix: replies to it (publish acks, KV reads) reach no one else. */
export function sensorInbox(tenant: string, sensor: string): string {
  return `_INBOX_${token('tenant', tenant)}_${token('sensor', sensor)}`;
}

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/**
 * What a sensor's NATS user may do: publish its tenant's observations and flow records (the
 * publish acks come back to its own inbox), and read and watch its tenant's config bucket
 * (stream info, an ordered consumer, direct gets). Nothing else: no other tenant's subjects, no
 * stream or consumer administration.
 */
export function sensorPermissions(tenant: string, sensor: string): NatsPermissions {
  const kvStream = `KV_${configBucket(tenant)}`;
  const inbox = sensorInbox(tenant, sensor);
  return {
    publish: {
      allow: [
        `llmtap.obs.${token('tenant', tenant)}.${token('sensor', sensor)}`,
        `llmtap.flows.${tenant}.${sensor}`,
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${kvStream}`,
        `$JS.API.CONSUMER.CREATE.${kvStream}`,
        `$JS.API.CONSUMER.CREATE.${kvStream}.>`,
        `$JS.API.CONSUMER.DELETE.${kvStream}.>`,
        `$JS.API.CONSUMER.INFO.${kvStream}.>`,
        `$JS.API.DIRECT.GET.${kvStream}.>`,
        `$JS.API.STREAM.MSG.GET.${kvStream}`,
        '$JS.FC.>',
      ],
    },
    subscribe: { allow: [`${inbox}.>`] },
  };
}

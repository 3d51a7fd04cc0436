/**
 * Raw Windows event XML (`<Event xmlns=...><System>...</System><EventData><Data Name=..>`,
 * the EVTX rendering; docs/edr-join.md §2.4). A small scanner for exactly this schema, not a general
 * XML parser: events are split on `<Event`…`</Event>`, and only System/EventID, Computer,
 * EventRecordID, TimeCreated/@SystemTime, Provider/@Name, Channel and the Data elements are read.
 */
import { parseTimeMs, str } from '../normalize.js';
import { providerOf, type WinEvent } from './win-event.js';

const ENTITY_RE = /&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function unescapeXml(s: string): string {
  return s.replace(ENTITY_RE, (_m, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
      default: {
        const cp = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
      }
    }
  });
}

/** Split a text into `<Event …>…</Event>` blocks; a trailing incomplete block is returned apart. */
export function splitXmlEvents(text: string): { events: string[]; rest: string } {
  const events: string[] = [];
  let pos = 0;
  for (;;) {
    const start = text.indexOf('<Event', pos);
    if (start < 0) return { events, rest: '' };
    // "<EventData" / "<EventID" are not event starts
    const next = text.charCodeAt(start + 6);
    if (next !== 0x20 && next !== 0x3e && next !== 0x09 && next !== 0x0a && next !== 0x0d) {
      pos = start + 6;
      continue;
    }
    const end = text.indexOf('</Event>', start);
    if (end < 0) return { events, rest: text.slice(start) };
    events.push(text.slice(start, end + 8));
    pos = end + 8;
  }
}

const DATA_RE = /<Data\s+Name\s*=\s*["']([^"']+)["']\s*(?:\/>|>([\s\S]*?)<\/Data>)/g;

function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(xml);
  return m === null ? undefined : unescapeXml(m[1] ?? '');
}

function attr(xml: string, el: string, name: string): string | undefined {
  const m = new RegExp(`<${el}\\s[^>]*\\b${name}\\s*=\\s*["']([^"']*)["']`).exec(xml);
  return m === null ? undefined : unescapeXml(m[1] ?? '');
}

/** One event block → WinEvent, or undefined when it has no numeric EventID. */
export function parseXmlEvent(xml: string): WinEvent | undefined {
  const id = Number(tag(xml, 'EventID'));
  if (!Number.isInteger(id)) return undefined;
  const data: Record<string, string> = {};
  for (const m of xml.matchAll(DATA_RE)) {
    const k = m[1];
    if (k !== undefined) data[k] = unescapeXml(m[2] ?? '');
  }
  return {
    provider: providerOf(attr(xml, 'Provider', 'Name'), tag(xml, 'Channel')),
    eventId: id,
    computer: str(tag(xml, 'Computer')),
    recordId: str(tag(xml, 'EventRecordID')),
    systemTimeMs: parseTimeMs(attr(xml, 'TimeCreated', 'SystemTime')),
    data,
  };
}

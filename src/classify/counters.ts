/** Counters of the classify stage, declared once: kind and doc. */
import type { CounterDecls } from '../counters.js';

export const CLASSIFY_COUNTERS = {
  queries: { kind: 'outcome', doc: 'Connections looked up in the rule set.' },
  verdicts: { kind: 'outcome', doc: 'Lookups a rule decided (an AI or sanctioned endpoint).' },
  'verdicts_<category>': { kind: 'outcome', doc: 'The same, by the deciding rule\'s category.' },
  memo_hits: { kind: 'note', doc: 'Host name lookups answered by the memo.' },
  memo_misses: { kind: 'note', doc: 'Host name lookups that went to the rule index.' },
  memo_evictions: { kind: 'note', doc: 'Memo entries evicted because the memo was full (`classify.max_memo`), reloads included.' },
  bad_hosts: { kind: 'failure', doc: 'Host names that failed normalisation (empty, bad IDNA, bad syntax, longer than 253).' },
  rules: { kind: 'note', doc: 'Rules loaded now (a level, not a count).' },
  memo_size: { kind: 'note', doc: 'Host names in the memo now (a level, not a count).' },
  reloads: { kind: 'outcome', doc: 'Rule set reloads that took effect.' },
  reload_failures: { kind: 'failure', doc: 'Rule set reloads refused (the previous rules stay).' },
} as const satisfies CounterDecls;

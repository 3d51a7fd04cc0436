// The launcher's own node flags (the `#!/usr/bin/env -S node …` line of bin/llmtap.js; the Docker
// image and the systemd unit pass the same), so a benchmark that starts `node bin/llmtap.js`
// runs the sensor as an installed `llmtap` does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function launcherFlags(root) {
  return readFileSync(join(root, 'bin', 'llmtap.js'), 'utf8').split('\n')[0].replace(/^#!.*?\bnode\b/, '').trim().split(/\s+/).filter(Boolean);
}

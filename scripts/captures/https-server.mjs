// Lab HTTPS server: TLS 1.3 with ALPN h2 and http/1.1, one listener per address given.
// Answers every request with a small JSON body after --delay-ms (so the endpoint poller sees
// each connection open), and reads and discards request bodies (the upload step).
//
//   node https-server.mjs --cert chain.pem --key leaf.key [--delay-ms 400] [--port 443]
//        [--plain 127.0.0.1:8080] addr...
//
// --plain adds a cleartext HTTP/1.1 listener with the same handler (Caddy's upstream, so that
// pages served by Caddy are delayed too).

import { createSecureServer } from 'node:http2';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opts = { cert: '', key: '', delayMs: 400, port: 443, plain: '' };
const addrs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--cert') opts.cert = args[++i];
  else if (a === '--key') opts.key = args[++i];
  else if (a === '--delay-ms') opts.delayMs = Number(args[++i]);
  else if (a === '--port') opts.port = Number(args[++i]);
  else if (a === '--plain') opts.plain = args[++i];
  else addrs.push(a);
}
if (!opts.cert || !opts.key || addrs.length === 0) {
  process.stderr.write('usage: https-server.mjs --cert F --key F [--delay-ms N] [--port N] addr...\n');
  process.exit(2);
}

const tls = {
  cert: readFileSync(opts.cert),
  key: readFileSync(opts.key),
  allowHTTP1: true,
  minVersion: 'TLSv1.3',
};

function handle(req, res) {
  let received = 0;
  req.on('data', (c) => { received += c.length; });
  req.on('end', () => {
    setTimeout(() => {
      const body = JSON.stringify({ ok: true, host: req.headers[':authority'] ?? req.headers.host ?? null, received });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, opts.delayMs);
  });
  req.on('error', () => {});
}

for (const addr of addrs) {
  const srv = createSecureServer(tls, handle);
  srv.on('sessionError', () => {});
  srv.on('tlsClientError', () => {});
  srv.listen({ host: addr, port: opts.port, ipv6Only: addr.includes(':') }, () => {
    process.stdout.write(`listening ${addr}:${opts.port}\n`);
  });
}

if (opts.plain) {
  const i = opts.plain.lastIndexOf(':');
  createServer(handle).listen({ host: opts.plain.slice(0, i), port: Number(opts.plain.slice(i + 1)) });
}

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

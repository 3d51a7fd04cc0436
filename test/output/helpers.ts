/**
 * Real receivers for the push-output tests: Debian's rsyslogd (imtcp and imudp on loopback
 * ports, writing what it parsed to files), a node HTTPS server with a self-signed certificate
 * made by openssl, and free loopback ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as netServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** A UDP port nobody listens on right now. */
export async function freeUdpPort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createSocket('udp4');
    s.once('error', rej);
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => res(port));
    });
  });
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export { waitFor };

const tcpOpen = (port: number): Promise<boolean> =>
  new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      res(true);
    });
    s.on('error', () => res(false));
  });

export interface Rsyslog {
  tcpPort: number;
  udpPort: number;
  /** TLS input (gtls driver, anonymous clients), when started with a certificate. */
  tlsPort?: number;
  /** Lines rsyslog wrote for each input: `app-name|msgid|severity|hostname|msg`. */
  lines(input: 'tcp' | 'udp' | 'tls'): string[];
  stop(): Promise<void>;
}

/** Starts rsyslogd in the foreground with its own config in `dir` (a TLS input too with `tls`). */
export async function startRsyslog(dir: string, tls?: { certFile: string; keyFile: string }): Promise<Rsyslog> {
  const tcpPort = await freePort();
  const udpPort = await freeUdpPort();
  const tlsPort = tls !== undefined ? await freePort() : undefined;
  const conf = join(dir, 'rsyslog.conf');
  const tlsGlobal = tls !== undefined ? ` DefaultNetstreamDriverCAFile="${tls.certFile}" DefaultNetstreamDriverCertFile="${tls.certFile}" DefaultNetstreamDriverKeyFile="${tls.keyFile}"` : '';
  const tlsInput = tls !== undefined
    ? `ruleset(name="tls") { action(type="omfile" file="${dir}/tls.log" template="fields") }
input(type="imtcp" port="${tlsPort}" address="127.0.0.1" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
`
    : '';
  writeFileSync(conf, `global(workDirectory="${dir}"${tlsGlobal})
module(load="imtcp")
module(load="imudp")
template(name="fields" type="string" string="%app-name%|%msgid%|%syslogseverity%|%hostname%|%msg%\\n")
ruleset(name="tcp") { action(type="omfile" file="${dir}/tcp.log" template="fields") }
ruleset(name="udp") { action(type="omfile" file="${dir}/udp.log" template="fields") }
input(type="imtcp" port="${tcpPort}" address="127.0.0.1" ruleset="tcp")
input(type="imudp" port="${udpPort}" address="127.0.0.1" ruleset="udp")
${tlsInput}`);
  const proc: ChildProcess = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  proc.stdout?.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitFor(async () => (await tcpOpen(tcpPort)) && (tlsPort === undefined || (await tcpOpen(tlsPort))), 10_000, `rsyslogd on ${tcpPort} (${stderr})`);
  } catch (e) {
    proc.kill();
    throw e;
  }
  const read = (f: string): string[] => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l !== '') : []);
  return {
    tcpPort,
    udpPort,
    ...(tlsPort !== undefined ? { tlsPort } : {}),
    lines: (input) => read(join(dir, `${input}.log`)),
    stop: () =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null) return res();
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
      }),
  };
}

/** A self-signed certificate for 127.0.0.1 / localhost, made by openssl in `dir`. */
export function selfSignedCert(dir: string): { key: Buffer; cert: Buffer; certFile: string; keyFile: string } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile, keyFile };
}

export interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTPS receiver on `port` (0 = any) collecting every POST; answers `status()` (default 204). */
export async function startHttps(tls: { key: Buffer; cert: Buffer }, port = 0, status: () => number = () => 204): Promise<{ server: Server; port: number; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const code = status();
      if (code >= 200 && code < 300) received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = code;
      res.end();
    });
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', () => res()));
  return {
    server,
    port: (server.address() as { port: number }).port,
    received,
    close: () => new Promise<void>((res) => { server.closeAllConnections(); server.close(() => res()); }),
  };
}

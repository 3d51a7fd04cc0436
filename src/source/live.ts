/**
 * Live capture from a network interface (SPAN/TAP mirror port) into PacketBatches.
 *
 * Backends:
 * - `native` (default): llmtap's own libpcap binding in `native/` — a capture thread drains the
 *   kernel ring into a pool of batch slots allocated here once, and JavaScript is called once
 *   per batch. Kernel timestamps (ns when the kernel offers them), captured and wire length,
 *   and kernel drop counters (pcap_stats).
 * - `cap` (npm `cap`): a fallback for hosts where the binding cannot be built. Its gaps, which
 *   is why it is not the default: it calls JavaScript once per packet, gives no packet
 *   timestamps (taken here from the clock when the packet reaches JavaScript, so they carry
 *   event-loop delay) and no drop counters (kernel* stay undefined: drops are unknown), its
 *   snap length is fixed at 65535 and it always opens in promiscuous, immediate mode.
 */
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import type { PacketBatch, SourceStats } from '../records.js';

export interface LiveOptions {
  /** Interface name (`eth1`, `any`, `lo`). */
  iface: string;
  /** Bytes captured per packet (64..262144). */
  snaplen: number;
  promisc: boolean;
  /** Kernel ring size in bytes (pcap_set_buffer_size), 0 = libpcap default. */
  bufferBytes: number;
  /** BPF filter expression; absent = every packet. */
  bpf?: string;
  /** Most packets per batch (1..65535). */
  batchPackets: number;
  /** Longest a packet waits before its batch is delivered, ms (1..10000). */
  timeoutMs: number;
  backend: 'native' | 'cap';
  /** Deliver each packet as soon as it arrives (libpcap immediate mode); costs CPU. */
  immediate?: boolean;
  /**
   * Native, Linux: join this PACKET_FANOUT group (0..65535) in hash mode with IPv4
   * defragmentation, so that several sources on the same interface and group share its packets
   * by flow (both directions of a flow, and its IPv4 fragments reassembled, on one source).
   * Group ids are shared by every process in the network namespace.
   */
  fanoutGroup?: number;
}

/** Why a live source could not be opened. */
export type LiveErrorCode =
  /** The interface does not exist. */
  | 'LLMTAP_ERR_CAPTURE_NO_IFACE'
  /**
   * No permission to capture: root or CAP_NET_RAW needed. Promiscuous mode needs nothing more
   * (libpcap asks for it with a packet-socket membership, PACKET_MR_PROMISC, not SIOCSIFFLAGS).
   */
  | 'LLMTAP_ERR_CAPTURE_PERM'
  /** The BPF filter does not compile. */
  | 'LLMTAP_ERR_CAPTURE_BPF'
  /** The native binding (or the `cap` package) is not built/installed. */
  | 'LLMTAP_ERR_CAPTURE_NO_BINDING'
  /** The kernel refused to join the packet fanout group (id in use on another interface or
   * with another mode, not Linux). */
  | 'LLMTAP_ERR_CAPTURE_FANOUT'
  /** An option is out of range. */
  | 'LLMTAP_ERR_CAPTURE_CONFIG'
  /** Any other libpcap failure (interface down, ...). */
  | 'LLMTAP_ERR_CAPTURE';

export class LiveCaptureError extends Error {
  readonly code: LiveErrorCode;
  constructor(code: LiveErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LiveCaptureError';
    this.code = code;
  }
}

// ───────────────────────── native binding shape ─────────────────────────

/** One batch buffer the binding fills: a PacketBatch without its count (passed per call). */
type Slot = Omit<PacketBatch, 'count'>;
interface NativeStats {
  received: number;
  dropped: number;
  ifDropped: number;
  loopDupSkipped: number;
  fanoutPrejoinSkipped: number;
  batches: number;
  valid: boolean;
}
/** Opaque libpcap handle owned by the binding. */
type Handle = object;
interface NativeBinding {
  open(iface: string, snaplen: number, promisc: boolean, bufferBytes: number, timeoutMs: number,
    immediate: boolean, bpf: string | null): Handle;
  linkType(h: Handle): number;
  fanout(h: Handle, group: number): void;
  tsPrecision(h: Handle): 'nano' | 'micro';
  start(h: Handle, slots: Slot[], maxPackets: number, onBatch: (slot: number, count: number) => void,
    onClosed: (err: string | null) => void): void;
  stats(h: Handle): NativeStats;
  close(h: Handle): boolean;
  listInterfaces(): { name: string; addresses: string[] }[];
}

const requireHere = createRequire(import.meta.url);
/** Same relative place from src/source/ and dist/source/. */
const NATIVE_PATH = '../../native/build/Release/llmtap_capture.node';
let nativeCache: NativeBinding | Error | undefined;

/** The native binding, or the reason it cannot be loaded. */
export function loadNative(): NativeBinding | Error {
  if (nativeCache === undefined) {
    try {
      nativeCache = requireHere(NATIVE_PATH) as NativeBinding;
    } catch (e) {
      nativeCache = e instanceof Error ? e : new Error(String(e));
    }
  }
  return nativeCache;
}

const SLOTS = 4;
const MAX_SLOT_BYTES = 16 * 1024 * 1024;

function allocSlot(packets: number, bytes: number): Slot {
  return {
    buf: Buffer.alloc(bytes),
    offset: new Uint32Array(packets),
    capLen: new Uint32Array(packets),
    wireLen: new Uint32Array(packets),
    tsUs: new Float64Array(packets),
    linkType: new Uint16Array(packets),
    ifIndex: new Uint16Array(packets),
  };
}

function checkOptions(o: LiveOptions): void {
  const bad = (key: string, what: string): never => {
    throw new LiveCaptureError('LLMTAP_ERR_CAPTURE_CONFIG', `capture option ${key}: ${what}`);
  };
  if (typeof o.iface !== 'string' || o.iface.length === 0 || o.iface.length > 255) bad('iface', 'must be an interface name');
  if (!Number.isInteger(o.snaplen) || o.snaplen < 64 || o.snaplen > 262144) bad('snaplen', 'must be an integer in 64..262144');
  if (!Number.isInteger(o.bufferBytes) || o.bufferBytes < 0 || o.bufferBytes > 2 ** 31 - 1) bad('bufferBytes', 'must be an integer in 0..2147483647');
  if (!Number.isInteger(o.batchPackets) || o.batchPackets < 1 || o.batchPackets > 65535) bad('batchPackets', 'must be an integer in 1..65535');
  if (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 10000) bad('timeoutMs', 'must be an integer in 1..10000');
  if (o.backend !== 'native' && o.backend !== 'cap') bad('backend', "must be 'native' or 'cap'");
  if (o.fanoutGroup !== undefined) {
    if (!Number.isInteger(o.fanoutGroup) || o.fanoutGroup < 0 || o.fanoutGroup > 65535) bad('fanoutGroup', 'must be an integer in 0..65535');
    if (o.backend !== 'native') bad('fanoutGroup', "needs the 'native' backend");
  }
}

/** Maps the binding's error codes (ENODEV, EPERM, EBPF, ...) onto LiveCaptureError. */
function captureError(e: unknown, iface: string): LiveCaptureError {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  if (code === 'ENODEV') return new LiveCaptureError('LLMTAP_ERR_CAPTURE_NO_IFACE', `interface ${JSON.stringify(iface)} does not exist`, { cause: err });
  if (code === 'EPERM') {
    return new LiveCaptureError('LLMTAP_ERR_CAPTURE_PERM',
      `no permission to capture on ${iface}: run as root, or grant CAP_NET_RAW ` +
      '(systemd AmbientCapabilities=CAP_NET_RAW, or setcap cap_net_raw+ep on a node binary used only by llmtap)', { cause: err });
  }
  if (code === 'EBPF') return new LiveCaptureError('LLMTAP_ERR_CAPTURE_BPF', err.message, { cause: err });
  return new LiveCaptureError('LLMTAP_ERR_CAPTURE', `cannot capture on ${iface}: ${err.message}`, { cause: err });
}

// ───────────────────────── `cap` fallback backend ─────────────────────────

interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(ev: 'packet', cb: (nbytes: number, trunc: boolean) => void): void;
  setMinBytes?: (n: number) => void;
  close(): void;
}
const CAP_LINKTYPES: Record<string, number> = { ETHERNET: 1, NULL: 0, RAW: 101, LINKTYPE_LINUX_SLL: 113, IEEE802_11_RADIO: 127 };

/** npm `cap`: one JS call per packet, copied here into one batch; see the file header. */
class CapBackend {
  batches = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended: ((err: string | null) => void) | undefined;
  private constructor(private readonly cap: CapInstance, private readonly o: LiveOptions,
    private readonly pkt: Buffer, readonly linkType: number) {}

  static open(o: LiveOptions): CapBackend {
    let Cap: new () => CapInstance;
    try {
      Cap = (requireHere('cap') as { Cap: new () => CapInstance }).Cap;
    } catch (e) {
      throw new LiveCaptureError('LLMTAP_ERR_CAPTURE_NO_BINDING', 'the `cap` package is not installed or not built', { cause: e });
    }
    const cap = new Cap();
    const pkt = Buffer.alloc(65535); // cap's snap length is fixed at 65535
    let lt: string;
    try {
      lt = cap.open(o.iface, o.bpf ?? '', o.bufferBytes > 0 ? o.bufferBytes : 2 * 1024 * 1024, pkt);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const code = /no such device/i.test(msg) ? 'ENODEV' : /not permitted|permission/i.test(msg) ? 'EPERM'
        : /filter/i.test(msg) ? 'EBPF' : 'EPCAP';
      throw captureError(Object.assign(new Error(msg), { code }), o.iface);
    }
    cap.setMinBytes?.(0);
    return new CapBackend(cap, o, pkt, CAP_LINKTYPES[lt] ?? 1);
  }

  start(deliver: (b: PacketBatch) => void, ended: (err: string | null) => void): void {
    this.ended = ended;
    const o = this.o;
    const s = allocSlot(o.batchPackets, Math.max(65535 * 2, Math.min(o.batchPackets * 2048, MAX_SLOT_BYTES)));
    const b: PacketBatch = { ...s, count: 0 };
    let used = 0;
    const flush = (): void => {
      if (b.count === 0) return;
      this.batches++;
      deliver(b);
      b.count = 0;
      used = 0;
    };
    this.cap.on('packet', (nbytes) => {
      if (b.count >= o.batchPackets || used + nbytes > b.buf.length) flush();
      const i = b.count;
      this.pkt.copy(b.buf, used, 0, nbytes);
      b.offset[i] = used;
      b.capLen[i] = nbytes;
      b.wireLen[i] = nbytes; // unknown: cap reports only the captured length
      b.tsUs[i] = (performance.timeOrigin + performance.now()) * 1000; // clock, not kernel time
      b.linkType[i] = this.linkType;
      b.ifIndex[i] = 0;
      used += nbytes;
      b.count = i + 1;
    });
    this.timer = setInterval(flush, o.timeoutMs);
    this.flushNow = flush;
  }

  private flushNow: () => void = () => undefined;

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.flushNow();
    this.cap.close();
    this.ended?.(null);
    return Promise.resolve();
  }
}

/** Live packet source; one per interface. */
export class LiveSource {
  private readonly counters = { packets: 0, capBytes: 0, wireBytes: 0, handlerErrors: 0 };
  private started = false;
  private closing: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  /** Fatal capture error reported when the capture thread stopped by itself. */
  private endError: string | null = null;

  private constructor(
    readonly opts: Readonly<LiveOptions>,
    private readonly native: NativeBinding | undefined,
    private readonly handle: Handle | undefined,
    private readonly capBackend: CapBackend | undefined,
  ) {}

  /** Opens the interface (the capture starts filling the kernel ring at once). Throws
   * LiveCaptureError with a clear message: missing interface, permission, bad filter. */
  static open(opts: LiveOptions): LiveSource {
    checkOptions(opts);
    if (opts.backend === 'cap') return new LiveSource(opts, undefined, undefined, CapBackend.open(opts));
    const native = loadNative();
    if (native instanceof Error) {
      throw new LiveCaptureError('LLMTAP_ERR_CAPTURE_NO_BINDING',
        'the live-capture binding is not built: install libpcap headers (libpcap-dev) and run `npm run build:native`', { cause: native });
    }
    let handle: Handle;
    try {
      handle = native.open(opts.iface, opts.snaplen, opts.promisc, opts.bufferBytes, opts.timeoutMs,
        opts.immediate === true, opts.bpf ?? null);
    } catch (e) {
      throw captureError(e, opts.iface);
    }
    if (opts.fanoutGroup !== undefined) {
      try {
        native.fanout(handle, opts.fanoutGroup);
      } catch (e) {
        native.close(handle);
        const msg = e instanceof Error ? e.message : String(e);
        throw new LiveCaptureError('LLMTAP_ERR_CAPTURE_FANOUT', `cannot share ${opts.iface} by flow: ${msg}`, { cause: e });
      }
    }
    return new LiveSource(opts, native, handle, undefined);
  }

  /** LINKTYPE_* of the interface (1 Ethernet, 113 Linux cooked for `any`). */
  linkType(): number {
    if (this.native && this.handle) return this.native.linkType(this.handle);
    return this.capBackend?.linkType ?? 1;
  }

  /**
   * Starts delivering batches. `onBatch` runs on the event loop once per batch; the batch is
   * valid only during the call. An exception from `onBatch` is counted and capture goes on.
   * `onEnd` fires once when capture stops (after close(), or by itself with the error).
   */
  start(onBatch: (b: PacketBatch) => void, onEnd?: (err: Error | null) => void): void {
    if (this.started) throw new LiveCaptureError('LLMTAP_ERR_CAPTURE', 'live source already started');
    this.started = true;
    const deliver = (b: PacketBatch): void => {
      const c = this.counters;
      c.packets += b.count;
      for (let i = 0; i < b.count; i++) {
        c.capBytes += b.capLen[i] ?? 0;
        c.wireBytes += b.wireLen[i] ?? 0;
      }
      try {
        onBatch(b);
      } catch {
        c.handlerErrors++;
      }
    };
    const ended = (err: string | null): void => {
      this.endError = err;
      this.resolveClosed?.();
      onEnd?.(err === null ? null : new LiveCaptureError('LLMTAP_ERR_CAPTURE', `capture on ${this.opts.iface} stopped: ${err}`));
    };
    if (this.capBackend) {
      this.capBackend.start(deliver, ended);
      return;
    }
    const native = this.native;
    const handle = this.handle;
    if (!native || !handle) return;
    const o = this.opts;
    const slotBytes = Math.max(o.snaplen * 2, Math.min(o.batchPackets * Math.min(o.snaplen, 2048), MAX_SLOT_BYTES));
    const slots: Slot[] = [];
    const batches: PacketBatch[] = [];
    for (let i = 0; i < SLOTS; i++) {
      const s = allocSlot(o.batchPackets, slotBytes);
      slots.push(s);
      batches.push({ ...s, count: 0 });
    }
    native.start(handle, slots, o.batchPackets, (slot, count) => {
      const b = batches[slot];
      if (!b) return;
      b.count = count;
      deliver(b);
    }, ended);
  }

  /** Packets/bytes delivered so far and the kernel counters (native only; refreshed by the
   * capture thread about every 100 ms and at close). `kernelReceived` counts what the kernel
   * saw, before libpcap removed loopback duplicates. The kernel counters are this socket's:
   * libpcap's pcap_stats reads PACKET_STATISTICS on the socket (which resets on every read) and
   * keeps the sums, so with a fanout group each member reports only the packets the kernel
   * handed (or failed to hand) to it. `ifDropped` is the interface's, the same for every member. */
  stats(): SourceStats {
    const s: SourceStats = {
      packets: this.counters.packets,
      capBytes: this.counters.capBytes,
      wireBytes: this.counters.wireBytes,
      fileBytes: 0,
      truncatedRecords: 0,
    };
    if (this.native && this.handle) {
      const k = this.native.stats(this.handle);
      if (k.valid) {
        s.kernelReceived = k.received;
        s.kernelDropped = k.dropped;
        s.ifDropped = k.ifDropped;
      }
    }
    return s;
  }

  /** Counters the SourceStats record has no field for. */
  extraStats(): { handlerErrors: number; batches: number; loopDupSkipped: number; fanoutPrejoinSkipped: number; endError: string | null } {
    const k = this.native && this.handle ? this.native.stats(this.handle) : undefined;
    return {
      handlerErrors: this.counters.handlerErrors,
      batches: k?.batches ?? this.capBackend?.batches ?? 0,
      loopDupSkipped: k?.loopDupSkipped ?? 0,
      fanoutPrejoinSkipped: k?.fanoutPrejoinSkipped ?? 0,
      endError: this.endError,
    };
  }

  /** Stops capture, delivers the packets already captured, closes the handle. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.capBackend) {
      this.closing = this.capBackend.close();
      return this.closing;
    }
    const native = this.native;
    const handle = this.handle;
    if (!native || !handle) return Promise.resolve();
    this.closing = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
      // false: never started (or already finished), closed synchronously.
      if (!native.close(handle)) resolve();
    });
    return this.closing;
  }
}

/** Interfaces available for capture, with their addresses. */
export function listInterfaces(): { name: string; addresses: string[] }[] {
  const native = loadNative();
  if (!(native instanceof Error)) {
    try {
      return native.listInterfaces();
    } catch {
      // fall through to the OS view
    }
  }
  return Object.entries(networkInterfaces()).map(([name, addrs]) => ({
    name,
    addresses: (addrs ?? []).map((a) => a.address),
  }));
}

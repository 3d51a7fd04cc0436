/**
 * One reusable view of the packet being processed, refilled by decode for every packet (no
 * per-packet object). It is borrowed: valid only during the call that receives it; a stage that
 * keeps anything copies the numbers (or the few bytes) it needs.
 *
 * Offsets index `buf` (the capture chunk or live batch), never a per-packet slice.
 */
export class PacketView {
  buf: Buffer = Buffer.alloc(0);
  tsUs = 0;
  capLen = 0;
  wireLen = 0;
  linkType = 0;
  ifIndex = 0;
  /** Start of the packet in buf; end = start + capLen. */
  start = 0;
  end = 0;

  /** Up to two VLAN ids (outer, inner); 0 = none. Deeper stacks are walked, the key keeps two. */
  vlan0 = 0;
  vlan1 = 0;
  vlanDepth = 0;

  /** 4 or 6 for the innermost IP layer carrying the transport; 0 when no IP. */
  ipVersion = 0;
  /** Offset of the outermost IP header, and that IP packet's length (header value clipped to frame). */
  outerIpOff = 0;
  outerIpLen = 0;
  /** Offset of the innermost IP header (equals outerIpOff unless tunnelled). */
  ipOff = 0;
  /** IPv4 addresses as unsigned 32-bit numbers (valid when ipVersion = 4). */
  src4 = 0;
  dst4 = 0;
  /** IPv6: offsets of the 16-byte addresses in buf (valid when ipVersion = 6). */
  src6Off = 0;
  dst6Off = 0;
  /** Transport protocol number (after IPv6 extension headers). */
  proto = 0;
  /** IP fragment: `fragment` true for any fragment; `fragFirst` true for offset 0. */
  fragment = false;
  fragFirst = false;
  /** IPv4 id / IPv6 fragment identification (for fragment-to-flow association). */
  fragId = 0;
  /** Tunnel encapsulations crossed (6in4, GTP-U, ...). */
  tunnels = 0;

  /** Transport header offset (0 when absent, e.g. non-first fragment). */
  l4Off = 0;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  /** Transport payload offset and captured length available in buf. */
  payloadOff = 0;
  payloadLen = 0;
  /** Payload length as the headers state it (may exceed payloadLen when snaplen cut the frame). */
  payloadWireLen = 0;

  /** Set by the flow stage: slot of the flow, and whether this packet goes orig → resp. */
  flowSlot = -1;
  fromOrig = true;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

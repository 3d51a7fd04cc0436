/** A pcapng writer for tests: blocks in either byte order. */
export class NgWriter {
  private parts: Buffer[] = [];
  constructor(private le: boolean) {}
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return b;
  }
  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  }
  private block(type: number, body: Buffer): void {
    const pad = (4 - (body.length % 4)) % 4;
    const len = 12 + body.length + pad;
    this.parts.push(this.u32(type), this.u32(len), body, Buffer.alloc(pad), this.u32(len));
  }
  shb(): this {
    this.block(0x0a0d0d0a, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)]));
    return this;
  }
  idb(linkType: number, tsresol?: number): this {
    const opts: Buffer[] = [];
    if (tsresol !== undefined) opts.push(this.u16(9), this.u16(1), Buffer.from([tsresol, 0, 0, 0]));
    opts.push(this.u16(0), this.u16(0));
    this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(65535), ...opts]));
    return this;
  }
  epb(ifId: number, ts: bigint, data: Buffer, origLen = data.length): this {
    this.block(6, Buffer.concat([this.u32(ifId), this.u32(Number(ts >> 32n)), this.u32(Number(ts & 0xffffffffn)), this.u32(data.length), this.u32(origLen), data]));
    return this;
  }
  spb(data: Buffer, origLen = data.length): this {
    this.block(3, Buffer.concat([this.u32(origLen), data]));
    return this;
  }
  custom(): this {
    this.block(0x00000bad, Buffer.from('opaque'));
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}


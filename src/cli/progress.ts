/** A one-line progress bar on stderr (only when stderr is a TTY): packets, MB/s, percent. */
export class Progress {
  private file = '';
  private t0 = 0;
  private lastDraw = 0;

  constructor(private readonly enabled: boolean) {}

  start(file: string): void {
    this.file = file;
    this.t0 = Date.now();
    this.lastDraw = 0;
  }

  update(doneBytes: number, totalBytes: number, packets: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const s = Math.max((now - this.t0) / 1000, 1e-3);
    const pct = totalBytes > 0 ? ` ${((100 * doneBytes) / totalBytes).toFixed(0).padStart(3)}%` : '';
    const name = this.file.length > 40 ? `…${this.file.slice(-39)}` : this.file;
    process.stderr.write(`\r${name}${pct}  ${packets.toLocaleString('en-US')} packets  ${(doneBytes / s / 1e6).toFixed(0)} MB/s   `);
  }

  done(): void {
    if (this.enabled && this.lastDraw !== 0) process.stderr.write('\r\x1b[K');
  }
}

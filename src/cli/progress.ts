/**
 * A progress line for long work: a bar redrawn in place on a terminal, a JSON line every
 * few seconds otherwise (CI logs, pipes), so progress is visible in both.
 */
export class Progress {
  private lastPrint = 0;
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = 2000,
  ) {
    this.tty = Boolean(stream.isTTY) && process.env.CI !== 'true';
  }

  update(fraction: number, info: string, etaSeconds?: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastPrint < (this.tty ? 100 : this.intervalMs)) return;
    this.lastPrint = now;
    const pct = Math.max(0, Math.min(1, fraction));
    const eta = etaSeconds !== undefined && Number.isFinite(etaSeconds) ? formatDuration(etaSeconds) : '?';
    if (this.tty) {
      const width = 24;
      const filled = Math.round(pct * width);
      const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(width - filled);
      this.stream.write(`\r${this.label} [${bar}] ${(pct * 100).toFixed(0).padStart(3)}% ${info} ETA ${eta}\x1b[K`);
    } else {
      this.stream.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'progress', task: this.label, percent: Number((pct * 100).toFixed(1)), info, eta }) + '\n');
    }
  }

  done(info = ''): void {
    if (this.tty) this.stream.write(`\r${this.label} done ${info}\x1b[K\n`);
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

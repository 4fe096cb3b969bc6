/**
 * A new user's first hour, through the built CLI: a pump test bed's semicolon CSV with
 * label columns, a header-less one-value-per-line file, and the errors they run into.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { providerUnavailable } from '../../src/model/providers.js';
import { cliPath, tempDir } from '../support/core.js';

/** The x values (float64, base64) of each stream in a report page. */
function reportXs(html: string): Float64Array[] {
  const m = /<script type="application\/json" id="nf-data">\n([^\n]*)\n<\/script>/.exec(html);
  if (!m) throw new Error('no payload in the report');
  return (JSON.parse(m[1]) as { streams: { x: string }[] }).streams.map((st) => {
    const buf = Buffer.from(st.x, 'base64');
    return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  });
}

const dir = tempDir('nf-newuser-');
const configFile = path.join(dir, 'small.yaml');
const pumpModel = path.join(dir, 'pump-model');
const singleModel = path.join(dir, 'single-model');

export function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'info', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like the SKAB pump files: `;`, a datetime column, three sensors and two 0/1 label columns. */
function pumpCsv(rows: number, anomalyFrom = -1, stepMs = 1000): string {
  const lines = ['datetime;Accelerometer1RMS;Pressure;Temperature;anomaly;changepoint'];
  for (let i = 0; i < rows; i++) {
    const t = new Date(Date.UTC(2020, 2, 9, 10, 0, 0) + i * stepMs).toISOString().replace('T', ' ').slice(0, stepMs < 1000 ? 23 : 19);
    const bad = anomalyFrom >= 0 && i >= anomalyFrom && i < anomalyFrom + 80;
    const acc = 0.2 + 0.05 * Math.sin(i / 10) + 0.004 * Math.sin(i * 1.7);
    const pressure = 1 + 0.3 * Math.sin(i / 7) + (bad ? 0.9 : 0);
    const temp = 70 + Math.sin(i / 30);
    // The labels mark the anomaly perfectly: a model reading them would "detect" it for free.
    lines.push([t, acc.toFixed(4), pressure.toFixed(4), temp.toFixed(3), bad ? 1 : 0, i === anomalyFrom ? 1 : 0].join(';'));
  }
  return lines.join('\n') + '\n';
}

beforeAll(() => {
  writeFileSync(
    configFile,
    `window: { length: 32, hop: 4 }
model: { arch: mixer, patch: 4, dim: 32, depth: 2, T: 100 }
train: { epochs: 6, stepsPerEpoch: 30, batchSize: 64, patience: 4 }
scoring: { t0: 0.3, steps: 4, samples: 2 }
calibration: { targetFalseAlarmRate: 0.01 }
`,
  );
  // Training data with labels in it too (all 0 but the columns are there).
  writeFileSync(path.join(dir, 'pump-normal.csv'), pumpCsv(2500));
  writeFileSync(path.join(dir, 'pump-test.csv'), pumpCsv(900, 500));
  const single: string[] = [];
  for (let i = 0; i < 2500; i++) single.push((Math.sin(i / 5) + 0.02 * Math.sin(i * 2.3)).toFixed(4));
  writeFileSync(path.join(dir, 'single.txt'), single.join('\n') + '\n');
  const a = cli(['train', '--data', 'pump-normal.csv', '--out', pumpModel, '--config', configFile]);
  expect(a.stderr).toContain('written to');
  expect(a.code).toBe(0);
  const b = cli(['train', '--data', 'single.txt', '--out', singleModel, '--config', configFile]);
  expect(b.code).toBe(0);
}, 240_000);

describe('label columns (issue 15.1)', () => {
  it('train leaves label-like columns out, logs which columns became channels and why others did not', () => {
    const manifest = JSON.parse(readFileSync(path.join(pumpModel, 'noisefloor.json'), 'utf8'));
    expect(manifest.channels).toEqual(['Accelerometer1RMS', 'Pressure', 'Temperature']);
    expect(manifest.input.excluded.map((e: { column: string }) => e.column)).toEqual(['anomaly', 'changepoint']);
  });

  it('the training run says so on stderr', () => {
    const r = cli(['train', '--data', 'pump-normal.csv', '--out', path.join(dir, 'again'), '--config', configFile, '--epochs', '1']);
    expect(r.code).toBe(0);
    const channelsLog = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'channels');
    expect(channelsLog.channels).toEqual(['Accelerometer1RMS', 'Pressure', 'Temperature']);
    expect(channelsLog.leftOut.join('\n')).toMatch(/anomaly: label-like/);
    expect(r.stderr).toMatch(/channels: Accelerometer1RMS, Pressure, Temperature; left out: anomaly \(label-like/);
    // ... and, before training starts, roughly how long it will take (issue 15.9).
    const training = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'training');
    expect(training.expect).toMatch(/^about \d+ s \(\d+ s to \d+ s\) for at most 1 epochs of 30 steps on (ort|wasm|cpu)$/);
  });

  it('score finds the anomaly from the sensors, never names a label column, and needs no --config', () => {
    const out = path.join(dir, 'pump-scores.csv');
    const r = cli(['score', '--model', pumpModel, 'pump-test.csv', '--out', out]);
    expect(r.code).toBe(0);
    const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(rows.length).toBeGreaterThan(100);
    expect(new Set(rows.map((x) => x.at(-1)))).not.toContain('anomaly');
    const flagged = rows.filter((x) => x[7] === '1');
    expect(flagged.length).toBeGreaterThan(0);
    expect(flagged.filter((x) => x[8] === 'Pressure').length).toBeGreaterThan(flagged.length / 2);
    // Timestamps read from the `;` file's datetime column.
    expect(rows[0][3]).toBe('2020-03-09T10:00:00.000Z');
  });
});

describe('CSV dialects and header-less files (issue 15.3, 15.4)', () => {
  it('the model keeps how its files were read', () => {
    const pump = JSON.parse(readFileSync(path.join(pumpModel, 'noisefloor.json'), 'utf8'));
    expect(pump.input).toMatchObject({ format: 'csv', delimiter: ';', header: true });
    const single = JSON.parse(readFileSync(path.join(singleModel, 'noisefloor.json'), 'utf8'));
    expect(single.input).toMatchObject({ format: 'csv', header: false });
    expect(single.channels).toEqual(['c0']);
  });

  it('a header-less one-value-per-line file trains and scores with every row', () => {
    const r = cli(['score', '--model', singleModel, 'single.txt']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/single.txt: 2500 rows/);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('stream,start,end,raw_score,score,anomaly,top_channel');
    expect(lines[1]).toMatch(/^single,0,31,.*,c0$/);
  });

  it('a file in another dialect than the model gets a hint at the delimiter', () => {
    writeFileSync(path.join(dir, 'pump-comma.csv'), pumpCsv(100).replace(/;/g, ','));
    const r = cli(['score', '--model', pumpModel, 'pump-comma.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pump-comma.csv:1 column "Accelerometer1RMS": column "Accelerometer1RMS" not in header .*is the delimiter ","\? set data.delimiter/);
    // ... and with the delimiter given, it reads.
    writeFileSync(path.join(dir, 'comma.yaml'), 'data: { delimiter: "," }\n');
    expect(cli(['score', '--model', pumpModel, 'pump-comma.csv', '--config', path.join(dir, 'comma.yaml')]).code).toBe(0);
  });
});

describe('report timestamps (issue 15.2)', () => {
  for (const [name, stepMs] of [
    ['1 Hz', 1000],
    ['1 kHz', 1],
  ] as const) {
    it(`score --report keeps every ${name} timestamp exact`, () => {
      const file = `pump-${stepMs}ms.csv`;
      writeFileSync(path.join(dir, file), pumpCsv(1147, -1, stepMs));
      const html = path.join(dir, `report-${stepMs}.html`);
      const r = cli(['score', '--model', pumpModel, file, '--out', path.join(dir, `s-${stepMs}.csv`), '--report', html]);
      expect(r.code).toBe(0);
      const [x] = reportXs(readFileSync(html, 'utf8'));
      // 1,147 rows fit unreduced: one x per row, one step apart (float32 gave 10 values 131 s apart).
      expect(x.length).toBe(1147);
      expect(x[0]).toBe(Date.UTC(2020, 2, 9, 10, 0, 0));
      for (let i = 1; i < x.length; i++) expect(x[i] - x[i - 1]).toBe(stepMs);
    });
  }
});

describe('one clear line instead of a stack trace (issue 15.5)', () => {
  const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

  it('serve on a busy port: exit 2, one line naming the port', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '0.0.0.0', () => r()));
    const port = (busy.address() as AddressInfo).port;
    try {
      writeFileSync(path.join(dir, 'busy.yaml'), `http: { port: ${port} }\n`);
      const r = cli(['serve', '--config', path.join(dir, 'busy.yaml')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`noisefloor serve: http.port: 0.0.0.0:${port} is already in use`);
      // The shutdown log agrees with the exit code (it said "stopped code 0" before exit 1).
      expect(r.stderr).toMatch(/"msg":"stopped","code":2/);
      noStack(r.stderr);
    } finally {
      busy.close();
    }
  });

  it('--out in a missing folder or naming a folder, --report in a missing folder: exit 2 before any work', () => {
    mkdirSync(path.join(dir, 'a-folder'), { recursive: true });
    for (const [args, msg] of [
      [['--out', 'missing/scores.csv'], /--out missing\/scores.csv: directory .*missing does not exist; create it first/],
      [['--out', 'a-folder'], /--out a-folder is a directory; give a file name/],
      [['--out', 'ok.csv', '--report', 'missing/r.html'], /--report missing\/r.html: directory .*missing does not exist/],
    ] as const) {
      const r = cli(['score', '--model', singleModel, 'single.txt', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
      // Checked before scoring: no summary line, no output file.
      expect(r.stderr).not.toMatch(/scored \d+ windows/);
      noStack(r.stderr);
    }
    expect(existsSync(path.join(dir, 'ok.csv'))).toBe(false);
    const report = cli(['report', path.join(dir, 'pump-scores.csv'), '--data', 'pump-test.csv', '--out', 'missing/r.html']);
    expect(report.code).toBe(2);
    expect(report.stderr).toMatch(/directory .*missing does not exist/);
  });

  it('a report that fails to write does not cost the scores: the CSV is written, exit 2, one line', () => {
    // A name the folder accepts but whose temporary sibling (.partial-<pid>) is too long.
    const long = 'r'.repeat(245) + '.html';
    const r = cli(['score', '--model', singleModel, 'single.txt', '--out', 'kept.csv', '--report', long]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report r+\.html: cannot write \(ENAMETOOLONG\); the scores were written to kept.csv/);
    noStack(r.stderr);
    expect(readFileSync(path.join(dir, 'kept.csv'), 'utf8').split('\n')[0]).toBe('stream,start,end,raw_score,score,anomaly,top_channel');
  });

  it('a closed stdout (score | head) ends quietly', async () => {
    const child = spawn(process.execPath, [cliPath, 'score', '--model', singleModel, 'single.txt', 'single.txt'], { cwd: dir, env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'warn' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});

describe('file replay with bad input (issue 15.6)', () => {
  it('a bad row in the first of two files: the other file is replayed, then exit 2 naming file and line', () => {
    const rows = readFileSync(path.join(dir, 'single.txt'), 'utf8').split('\n');
    const bad = [...rows.slice(0, 600)];
    bad[299] = 'oops';
    mkdirSync(path.join(dir, 'replay/valve1'), { recursive: true });
    mkdirSync(path.join(dir, 'replay/valve2'), { recursive: true });
    writeFileSync(path.join(dir, 'replay/valve1/0.csv'), bad.join('\n') + '\n');
    writeFileSync(path.join(dir, 'replay/valve2/0.csv'), rows.slice(0, 600).join('\n') + '\n');
    writeFileSync(
      path.join(dir, 'replay.yaml'),
      `model: { dir: ${JSON.stringify(singleModel)}, watch: false }
source: { file: { paths: [replay/valve1/0.csv, replay/valve2/0.csv], speed: 0 } }
http: { port: 0 }
`,
    );
    const r = cli(['serve', '--config', path.join(dir, 'replay.yaml'), '--log-format', 'json']);
    expect(r.code).toBe(2);
    const logs = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const failed = logs.find((l) => l.msg.startsWith('file replay failed'));
    expect(failed.err.message).toMatch(/replay\/valve1\/0.csv:300 column "c0": non-numeric value "oops"/);
    expect(logs.filter((l) => l.msg === 'file replayed').map((l) => l.stream)).toEqual(['valve2/0']);
    // Same-named files are two streams (issue 15.9), each scored up to where it could be read.
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const streams = new Set(events.map((e) => e.stream));
    expect(streams).toEqual(new Set(['valve1/0', 'valve2/0']));
    expect(Math.max(...events.filter((e) => e.stream === 'valve2/0').map((e) => e.windowEnd))).toBe(599);
    expect(Math.max(...events.filter((e) => e.stream === 'valve1/0').map((e) => e.windowEnd))).toBeLessThan(298);
  });
});

describe('a console for people (issue 15.8)', () => {
  function replayConfig(name: string): string {
    const rows = readFileSync(path.join(dir, 'single.txt'), 'utf8').trim().split('\n').slice(0, 800);
    // A level shift: the model has only seen the sine around 0.
    for (let i = 400; i < 480; i++) rows[i] = (Number(rows[i]) + 4).toFixed(4);
    writeFileSync(path.join(dir, `${name}.txt`), rows.join('\n') + '\n');
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `model: { dir: ${JSON.stringify(singleModel)}, watch: false }
source: { file: { paths: [${name}.txt], speed: 0 } }
http: { port: 0 }
alerts: { n: 2, m: 3, warmupWindows: 0 }
`,
    );
    return file;
  }

  it('text: one readable line per alert start and resolve, a summary and where /metrics is; no JSON flood', () => {
    const r = cli(['serve', '--config', replayConfig('console-text'), '--log-format', 'text', '--summary-every', '1']);
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split('\n');
    expect(out.some((l) => l.startsWith('{'))).toBe(false);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d metrics at http:\/\/localhost:\d+\/metrics/m);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d ALERT (WARNING|CRITICAL) console-text: score [\d.]+ > [\d.]+, top c0 from row \d+$/m);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d RESOLVED console-text/m);
    // The closing summary counts every window of the 800 rows (window 32, hop 4: 193).
    expect(out.at(-1)).toMatch(/windows\/s, 1 streams, 19[0-9] windows scored, \d+ anomalous, alerts firing: 0, queue 0$/);
    // Logs on stderr are readable lines too.
    expect(r.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}serving /m);
    expect(r.stderr.split('\n').some((l) => l.startsWith('{'))).toBe(false);
  });

  it('json (and any pipe by default): score events as JSON lines on stdout, alerts as JSON log lines', () => {
    const r = cli(['serve', '--config', replayConfig('console-json')]);
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThan(150);
    const logs = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const firing = logs.find((l) => l.msg === 'alert firing');
    expect(firing).toMatchObject({ level: 'warn', stream: 'console-json', topChannels: ['c0'] });
    expect(logs.some((l) => l.msg === 'alert resolved')).toBe(true);
  });

  it('the embedded default: no TensorFlow.js banner, and its temporary model folder is removed at the end (issue 15.9)', () => {
    writeFileSync(path.join(dir, 'embedded.yaml'), 'source: { generator: { streams: 2, rate: 2000, maxSteps: 200 } }\nhttp: { port: 0 }\nbootstrap: { rows: 600, epochs: 1, stepsPerEpoch: 5 }\n');
    const r = cli(['serve', '--config', path.join(dir, 'embedded.yaml'), '--log-format', 'text']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/TensorFlow\.js in Node|====/);
    const tmp = /dir=(\S*noisefloor-serve-[^/\s]+)\/model/.exec(r.stderr)?.[1];
    expect(tmp).toBeDefined();
    expect(existsSync(tmp!)).toBe(false);
  });
});

describe('score --config: applied or refused, never ignored (issue 15.7)', () => {
  const cfg = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const rowsOf = (stdout: string) => stdout.trim().split('\n').slice(1);

  it('scoring.samples and scoring.steps change the scores, with a note about the calibration', () => {
    const base = cli(['score', '--model', singleModel, 'single.txt']);
    const r = cli(['score', '--model', singleModel, 'single.txt', '--config', cfg('samples.yaml', 'scoring: { samples: 6, steps: 2 }\n')]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toBe(base.stdout);
    expect(rowsOf(r.stdout)).toHaveLength(rowsOf(base.stdout).length);
    expect(r.stderr).toMatch(/note: --config scoring.samples 6 \(model: 2\), scoring.steps 2 \(model: 4\): raw scores use these settings, but the calibration/);
  });

  it('window.hop and calibration.targetFalseAlarmRate apply', () => {
    const r = cli(['score', '--model', singleModel, 'single.txt', '--config', cfg('hop.yaml', 'window: { hop: 16 }\ncalibration: { targetFalseAlarmRate: 0.2 }\n')]);
    expect(r.code).toBe(0);
    const rows = rowsOf(r.stdout).map((l) => l.split(','));
    expect(rows[1].slice(1, 3)).toEqual(['16', '47']);
    // A 20% false-alarm rate flags many of these normal windows; the model's 1% flags few.
    expect(rows.filter((x) => x[5] === '1').length).toBeGreaterThan(rows.length / 20);
    expect(r.stderr).toMatch(/note: --config window.hop 16/);
  });

  it('data.channels, window.length and model keys that differ from the model are refused with the reason', () => {
    const r = cli(['score', '--model', pumpModel, 'pump-test.csv', '--config', cfg('fixed.yaml', 'data: { channels: [Pressure] }\nwindow: { length: 64 }\nmodel: { dim: 64 }\n')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('these settings cannot apply when scoring with an existing model');
    expect(r.stderr).toMatch(/data.channels: \["Pressure"\], but the model was trained with \["Accelerometer1RMS","Pressure","Temperature"\]/);
    expect(r.stderr).toMatch(/window.length: 64, but the model was trained with 32/);
    expect(r.stderr).toMatch(/model.dim: 64, but the model was trained with 32/);
    // The training config itself is accepted: it matches the model.
    expect(cli(['score', '--model', pumpModel, 'pump-test.csv', '--config', configFile]).code).toBe(0);
  });
});

describe('smaller things (issue 15.9)', () => {
  it('files are taken and reported in natural order (2 before 10)', () => {
    const rows = readFileSync(path.join(dir, 'single.txt'), 'utf8').split('\n').slice(0, 40).join('\n') + '\n';
    mkdirSync(path.join(dir, 'nat'), { recursive: true });
    for (const n of [10, 2, 1, 11, 0]) writeFileSync(path.join(dir, `nat/${n}.csv`), rows);
    const html = path.join(dir, 'nat.html');
    const r = cli(['score', '--model', singleModel, 'nat/*.csv', '--report', html]);
    expect(r.code).toBe(0);
    const streams = r.stdout.trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect([...new Set(streams)]).toEqual(['0', '1', '2', '10', '11']);
    const contents = [...readFileSync(html, 'utf8').matchAll(/<li><a href="#stream-\d+">([^<]+)<\/a>/g)].map((m) => m[1]);
    expect(contents).toEqual(['0', '1', '2', '10', '11']);
  });

  it('same-named files in two folders score as two streams', () => {
    const rows = readFileSync(path.join(dir, 'single.txt'), 'utf8').split('\n').slice(0, 40).join('\n') + '\n';
    for (const d of ['valve1', 'valve2']) {
      mkdirSync(path.join(dir, 'twins', d), { recursive: true });
      writeFileSync(path.join(dir, 'twins', d, '0.csv'), rows);
    }
    writeFileSync(path.join(dir, 'twins', '1.csv'), rows);
    const r = cli(['score', '--model', singleModel, 'twins/valve1/0.csv', 'twins/valve2/0.csv', 'twins/1.csv']);
    expect(r.code).toBe(0);
    expect([...new Set(r.stdout.trim().split('\n').slice(1).map((l) => l.split(',')[0]))]).toEqual(['valve1/0', 'valve2/0', '1']);
  });

  it.skipIf(providerUnavailable('cuda') === null)('--provider cuda without the CUDA provider: how to get it, no native dump; auto is quiet', () => {
    const r = cli(['score', '--model', singleModel, 'single.txt', '--provider', 'cuda']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/execution provider "cuda" is not available: this onnxruntime-node install has no CUDA provider/);
    expect(r.stderr).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(r.stderr).not.toMatch(/onnxruntime_src|\[E:onnxruntime/);
    const auto = cli(['score', '--model', singleModel, 'single.txt', '--provider', 'auto']);
    expect(auto.code).toBe(0);
    expect(auto.stderr).not.toMatch(/onnxruntime_src|\[E:onnxruntime|Vulkan|unavailable/);
    expect(auto.stderr).toMatch(/"execution provider selected","provider":"cpu"/);
  });
});

describe('auto log format on a real terminal (issue 15.8)', () => {
  it.skipIf(!existsSync('/usr/bin/script'))('serve under a pseudo-terminal shows the console without --log-format', () => {
    const cfg = path.join(dir, 'tty.yaml');
    writeFileSync(
      cfg,
      `model: { dir: ${JSON.stringify(singleModel)}, watch: false }
source: { file: { paths: [single.txt], speed: 0 } }
http: { port: 0 }
`,
    );
    // util-linux `script` runs the command with stdout and stderr on a pty, as a terminal would.
    const command = [process.execPath, cliPath, 'serve', '--config', cfg].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('/usr/bin/script', ['-qec', command, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NOISEFLOOR_LOG_LEVEL: 'info' } });
    expect(r.status).toBe(0);
    const lines = r.stdout.split(/\r?\n/).filter((l) => l.trim() !== '');
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(r.stdout).toMatch(/metrics at http:\/\/localhost:\d+\/metrics/);
    expect(r.stdout).toMatch(/windows\/s, 1 streams, \d+ windows scored/);
    expect(r.stdout).toMatch(/\d\d:\d\d:\d\d\.\d{3} INFO {2}serving /);
  });
});

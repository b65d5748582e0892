// The server's log destination batches its writes (src/log.ts). Batching must never cost a
// line: a quiet process shows each line while it runs, and an exit or a crash right after
// logging still prints everything that was logged.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/podhooks';

const LOG = JSON.stringify(join(ROOT, 'dist/log.js'));

function linesOf(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

test('a single line of an otherwise quiet process is written while it still runs', async () => {
  // Far below the batch size, and the process then waits 20 s with nothing else to log.
  const child = spawn(process.execPath, ['-e', `const l = require(${LOG}).createLogger('info'); l.info({ uid: 'u1' }, 'admission decision'); setTimeout(() => {}, 20000);`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code} before writing its line`)));
    });
    expect(child.exitCode).toBeNull();
    expect(linesOf(line)).toEqual([expect.objectContaining({ level: 'info', uid: 'u1', msg: 'admission decision' })]);
  } finally {
    child.kill('SIGKILL');
  }
});

test.each([
  ['process.exit(0)', 0],
  ["throw new Error('a bug')", 1],
])('lines logged just before %s are all written', (end, code) => {
  const script = `const l = require(${LOG}).createLogger('info'); for (let i = 0; i < 25; i++) l.info({ i }, 'line'); ${end};`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(r.status).toBe(code);
  expect(linesOf(r.stdout).map((l) => l.i)).toEqual([...Array(25).keys()]);
});

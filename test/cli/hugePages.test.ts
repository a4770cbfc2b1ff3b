import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { HUGE_PAGE_TUNABLE, hugePageEnvironment, signalExitCode, transparentHugePageMode } from '../../src/cli/hugePages.js';
import { SERVER_MMAP_THRESHOLD, serverAllocatorEnvironment } from '../../src/cli/serverAllocator.js';
import { repo } from './helpers.js';

describe('transparent huge pages for the npad command', () => {
  const ON = { NPAD_HUGE_PAGES: '1' };
  it('asks for them only when NPAD_HUGE_PAGES=1, on Linux in madvise mode, once, and keeps other tunables', () => {
    assert.equal(hugePageEnvironment({}, 'madvise', 'linux', []), null, 'opt-in');
    assert.equal(hugePageEnvironment({ NPAD_HUGE_PAGES: '0' }, 'madvise', 'linux', []), null);
    assert.equal(hugePageEnvironment(ON, 'madvise', 'linux', [])?.GLIBC_TUNABLES, HUGE_PAGE_TUNABLE);
    assert.equal(hugePageEnvironment(ON, 'madvise', 'linux', [])?.NPAD_RESTARTED, '1', 'the restarted process knows it, to die with its parent');
    assert.equal(hugePageEnvironment({ ...ON, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'madvise', 'linux', [])?.GLIBC_TUNABLES, `glibc.malloc.arena_max=2:${HUGE_PAGE_TUNABLE}`);
    assert.equal(hugePageEnvironment({ ...ON, KEEP: 'me' }, 'madvise', 'linux', [])?.KEEP, 'me');
    // Already chosen (also what stops the rerun command from rerunning), turned off, or nothing to ask for.
    assert.equal(hugePageEnvironment({ ...ON, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, 'madvise', 'linux', []), null);
    assert.equal(hugePageEnvironment(ON, 'always', 'linux', []), null);
    assert.equal(hugePageEnvironment(ON, 'never', 'linux', []), null);
    assert.equal(hugePageEnvironment(ON, null, 'linux', []), null);
    assert.equal(hugePageEnvironment(ON, 'madvise', 'darwin', []), null);
    // A debugger or profiler stays on the process that does the work; other Node flags do not matter.
    assert.equal(hugePageEnvironment(ON, 'madvise', 'linux', ['--inspect-brk=9230']), null);
    assert.equal(hugePageEnvironment(ON, 'madvise', 'linux', ['--cpu-prof']), null);
    assert.equal(hugePageEnvironment(ON, 'madvise', 'linux', ['--import', 'tsx'])?.GLIBC_TUNABLES, HUGE_PAGE_TUNABLE);
  });

  it('reads the mode from the kernel file, and null without one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-thp-'));
    await writeFile(path.join(dir, 'enabled'), 'always [madvise] never\n');
    assert.equal(transparentHugePageMode(path.join(dir, 'enabled')), 'madvise');
    assert.equal(transparentHugePageMode(path.join(dir, 'missing')), null);
    assert.equal(signalExitCode('SIGTERM'), 143);
  });

  const child = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'test', 'cli', 'hugePagesChild.ts'), ...args], { cwd: repo, encoding: 'utf8' });

  it('reruns the same script with the new environment and reports its exit code or signal', () => {
    const exited = child([]);
    assert.equal(exited.stdout, `inner ${HUGE_PAGE_TUNABLE}\nouter {"code":7}\n`, exited.stderr);
    const signalled = child(['signal']);
    assert.equal(signalled.stdout, `inner ${HUGE_PAGE_TUNABLE}\nouter {"signal":"SIGTERM"}\n`, signalled.stderr);
  });

  it('the restarted process stops within seconds when the one the user started is killed with SIGKILL', async () => {
    const marker = path.join(await mkdtemp(path.join(os.tmpdir(), 'npad-orphan-')), 'stopped');
    const outer = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test', 'cli', 'hugePagesChild.ts'), 'orphan', marker], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => outer.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('inner') && resolve()));
    outer.kill('SIGKILL');
    for (let waited = 0; !existsSync(marker); waited += 100) {
      assert.ok(waited < 10_000, 'the restarted process kept running after its parent was killed');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(readFileSync(marker, 'utf8'), 'stopped on SIGTERM');
  });

  it('runs npad through the rerun when the tunable is missing: same output and exit codes', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NPAD_HUGE_PAGES: '1' };
    delete env.GLIBC_TUNABLES;
    const npad = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src', 'cli', 'main.ts'), ...args], { cwd: repo, encoding: 'utf8', env });
    const help = npad(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^npad — N-pad visual anomaly detection/);
    const bad = npad(['bogus']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^npad: unknown command 'bogus'/);
  });
});

describe("npad serve's allocator setting", () => {
  const glibc = (): boolean => true;
  it('restarts only npad serve, on glibc, once, unless set already or turned off', () => {
    const env = serverAllocatorEnvironment({ KEEP: 'me' }, ['serve', 'm.npad'], glibc, []);
    assert.equal(env?.MALLOC_MMAP_THRESHOLD_, SERVER_MMAP_THRESHOLD);
    assert.equal(env?.NPAD_RESTARTED, '1', 'the restarted server dies with its parent');
    assert.equal(env?.KEEP, 'me');
    assert.equal(env?.NODE_OPTIONS, '--expose-gc', 'to collect garbage once uploads stop');
    assert.equal(serverAllocatorEnvironment({ NODE_OPTIONS: '--max-old-space-size=512' }, ['serve'], glibc, [])?.NODE_OPTIONS, '--max-old-space-size=512 --expose-gc');
    assert.equal(serverAllocatorEnvironment({}, ['predict', 'm.npad', 'x.png'], glibc, []), null, 'other commands');
    assert.equal(serverAllocatorEnvironment({}, ['serve', 'm.npad'], () => false, []), null, 'not glibc');
    assert.equal(serverAllocatorEnvironment({ MALLOC_MMAP_THRESHOLD_: '65536' }, ['serve'], glibc, []), null, "the user's own setting, or the restarted server");
    assert.equal(serverAllocatorEnvironment({ NPAD_MALLOC_TUNING: '0' }, ['serve'], glibc, []), null, 'turned off');
    assert.equal(serverAllocatorEnvironment({}, ['serve'], glibc, ['--inspect']), null, 'a debugger sees the server');
  });
});

// The pid files through which `make cluster-up` finds the daemons it left running. A pid file outlives its
// process (killed, or a machine restored from a snapshot of the cache): the number may since belong to another
// program, and cluster-up must start the daemon then instead of waiting on a socket nobody serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.MODELSHIP_BUILD_CACHE = mkdtempSync(join(tmpdir(), 'modelship-daemons-'));
const { runningPid, startDaemon, stopDaemon } = await import('../../cluster/daemons.ts');
const { paths } = await import('../../cluster/layout.ts');

test('a pid file whose number now belongs to another process counts as not running', () => {
  mkdirSync(paths.pids(), { recursive: true });
  // This test's own process is alive, but it is not the containerd the file was written for.
  writeFileSync(join(paths.pids(), 'containerd.pid'), `${process.pid} 1`);
  assert.equal(runningPid('containerd'), undefined);
  writeFileSync(join(paths.pids(), 'containerd.pid'), String(process.pid));
  assert.equal(runningPid('containerd'), undefined, 'a bare pid (the old format) proves nothing either');
});

test('a started daemon is found by its pid file, started once, and gone after stopDaemon', async () => {
  const pid = startDaemon('etcd', 'sleep', ['60']);
  try {
    assert.equal(runningPid('etcd'), pid);
    assert.equal(startDaemon('etcd', 'sleep', ['60']), pid, 'a running daemon is not started twice');
  } finally {
    await stopDaemon('etcd');
  }
  assert.equal(runningPid('etcd'), undefined);
});

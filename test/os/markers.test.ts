// A daemon's id and a service's marker, read and made: the one grammar
// (`PID.START`, then `:SERVICE` in a marker) that the markers, the cgroup
// tree's names and the record beside the socket all use.

import t from 'tap';
import { formatDaemonId, parseDaemonId, parseMarker } from '../../lib/os/markers.js';

t.test('a daemon id reads back as it was made', async (t) => {
  t.equal(formatDaemonId(42, 1234), '42.1234');
  t.same(parseDaemonId(formatDaemonId(42, 1234)), { pid: 42, startTime: 1234 });
  for (const bad of ['42', '42.', '.1234', '42.1234.5', '42.1234-1', 'x.1', '', '42.1234\n']) {
    t.equal(parseDaemonId(bad), null, JSON.stringify(bad));
  }
});

t.test('a marker is a daemon id and a service', async (t) => {
  t.same(parseMarker('42.1234:web'), { daemonPid: 42, daemonStart: 1234, service: 'web' });
  t.same(parseMarker('42.1234:a:b'), { daemonPid: 42, daemonStart: 1234, service: 'a:b' });
  for (const bad of ['42.1234:', '42:web', 'web', '42.1234.5:web', '42.1234:a\nb']) {
    t.equal(parseMarker(bad), null, JSON.stringify(bad));
  }
});

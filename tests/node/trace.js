// Event traces of Node's `net` for the differential tests (tests/test_node_traces.py).
//
// Usage: node trace.js <scenario> [closedPort]
//
// Runs one scenario (client and server in this one process, on 127.0.0.1) and
// prints one JSON object per line:
//   {"meta": {"port": N}}                      first: the port the events may mention
//   {"who": "client", "event": "data", "args": [...]}   one per event, in emission order
// Arguments are encoded so that Python can normalise them the same way as its own:
//   Buffer -> {"$buf": "<latin1 text>"}, undefined -> {"$undef": true},
//   a Socket -> {"$socket": true}, an Error -> {"$err": {name, code, message, ...}}.
// Besides events, a few calls are recorded as pseudo-events: "write:return",
// "write:cb", "close:cb", "getConnections:cb".
'use strict';

const net = require('net');

function enc(v) {
  if (v === undefined) return { $undef: true };
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return { $buf: v.toString('latin1') };
  if (v instanceof net.Socket) return { $socket: true };
  if (v instanceof Error) {
    return {
      $err: {
        name: v.name,
        code: v.code === undefined ? null : v.code,
        message: v.message,
        syscall: v.syscall === undefined ? null : v.syscall,
        errno: v.errno === undefined ? null : v.errno,
        address: v.address === undefined ? null : v.address,
        port: v.port === undefined ? null : v.port,
        errors: Array.isArray(v.errors) ? v.errors.map(enc) : null,
      },
    };
  }
  if (Array.isArray(v)) return v.map(enc);
  if (typeof v === 'function') return { $fn: true };
  return v;
}

function record(who, event, ...args) {
  process.stdout.write(JSON.stringify({ who, event, args: args.map(enc) }) + '\n');
}

const SOCKET_EVENTS = [
  'lookup', 'connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout',
  'connect', 'ready', 'data', 'end', 'finish', 'drain', 'timeout', 'error', 'close',
];
const SERVER_EVENTS = ['listening', 'connection', 'error', 'close', 'drop'];

function watch(emitter, who, names) {
  for (const name of names) emitter.on(name, (...args) => record(who, name, ...args));
  return emitter;
}

// A server whose accepted socket is watched as "srvSock"; `onSock` adds the scenario's logic.
// By default the server closes itself from the accepted socket's 'close'.
function makeServer(onSock, { closeOnSockClose = true } = {}) {
  const server = net.createServer();
  watch(server, 'server', SERVER_EVENTS);
  server.on('connection', (sock) => {
    watch(sock, 'srvSock', SOCKET_EVENTS);
    if (closeOnSockClose) sock.on('close', () => server.close());
    onSock(sock, server);
  });
  return server;
}

function listen(server, then) {
  server.listen(0, '127.0.0.1', () => {
    const port = server.address().port;
    process.stdout.write(JSON.stringify({ meta: { port } }) + '\n');
    then(port);
  });
}

function client(port, who = 'client', options = {}) {
  const sock = net.connect({ port, host: '127.0.0.1', ...options });
  return watch(sock, who, SOCKET_EVENTS);
}

const scenarios = {
  // (1) client writes 'hello' and ends while connecting; server echoes, ends on 'end'.
  client_ends() {
    const server = makeServer((sock) => {
      sock.on('data', (d) => sock.write(d));
      sock.on('end', () => sock.end());
    });
    listen(server, (port) => {
      const c = client(port);
      c.write('hello');
      c.end();
    });
  },

  // (2) the same exchange ended by the server: it echoes the first chunk, then ends.
  server_ends() {
    const server = makeServer((sock) => {
      sock.on('data', (d) => {
        sock.write(d);
        sock.end();
      });
    });
    listen(server, (port) => {
      const c = client(port);
      c.write('hello');
    });
  },

  // (3) connect to a closed port (an IPv4 literal).
  refused() {
    const port = Number(process.argv[3]);
    process.stdout.write(JSON.stringify({ meta: { port } }) + '\n');
    client(port);
  },

  // (4) the client destroys itself with an error once the echo arrived.
  client_destroy_error() {
    const server = makeServer((sock) => {
      sock.on('data', (d) => sock.write(d));
    });
    listen(server, (port) => {
      const c = client(port);
      c.write('hello');
      c.on('data', () => c.destroy(new Error('boom')));
    });
  },

  // (5) the accepted socket echoes, then destroys itself with an error.
  server_destroy_error() {
    const server = makeServer((sock) => {
      sock.on('data', (d) => {
        sock.write(d);
        sock.destroy(new Error('boom'));
      });
    });
    listen(server, (port) => {
      const c = client(port);
      c.write('hello');
    });
  },

  // (6a) the accepted socket resets the connection after reading the first chunk.
  server_resets() {
    const server = makeServer((sock) => {
      sock.on('data', () => sock.resetAndDestroy());
    });
    listen(server, (port) => {
      const c = client(port);
      c.write('hello');
    });
  },

  // (6b) the client resets the connection once the echo arrived.
  client_resets() {
    const server = makeServer((sock) => {
      sock.on('data', (d) => sock.write(d));
    });
    listen(server, (port) => {
      const c = client(port);
      c.write('hello');
      c.on('data', () => c.resetAndDestroy());
    });
  },

  // (7) server.close() while a connection is open (trace c of the research note).
  close_with_open_connection() {
    const server = makeServer(
      (sock, srv) => {
        srv.getConnections((err, n) => record('server', 'getConnections:cb', err, n));
        srv.close((err) => record('server', 'close:cb', err));
        record('server', 'after close()', srv.listening, srv.address());
        srv.getConnections((err, n) => record('server', 'getConnections:cb', err, n));
        const port = sock.localPort;
        client(port, 'late');
      },
      { closeOnSockClose: false },
    );
    listen(server, (port) => {
      const c = client(port);
      c.on('connect', () => setTimeout(() => c.end(), Number(process.argv[3] || 100)));
    });
  },

  // (8) write after end: the client ends in 'connect', then writes.
  write_after_end() {
    const server = makeServer(() => {});
    listen(server, (port) => {
      const c = client(port);
      c.on('connect', () => {
        c.end();
        const ret = c.write('x', (err) => record('client', 'write:cb', err));
        record('client', 'write:return', ret);
      });
    });
  },

  // (9) an idle client times out, and ends in its 'timeout' listener.
  timeout_then_end() {
    const server = makeServer(() => {});
    listen(server, (port) => {
      const c = client(port);
      c.setTimeout(Number(process.argv[3] || 100));
      c.on('timeout', () => c.end());
    });
  },

  // (9b) an idle client with a 50 ms timeout stays idle for 230 ms, then ends: Node
  // emits 'timeout' once per idle period (activity re-arms it), not every 50 ms.
  timeout_fires_once() {
    const server = makeServer(() => {});
    listen(server, (port) => {
      const c = client(port);
      c.setTimeout(50);
      c.on('connect', () => setTimeout(() => c.end(), 230));
    });
  },

  // (10) close(cb) on a server that never listened.
  close_not_listening() {
    process.stdout.write(JSON.stringify({ meta: { port: 0 } }) + '\n');
    const server = net.createServer();
    watch(server, 'server', SERVER_EVENTS);
    server.close((err) => record('server', 'close:cb', err));
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  process.stderr.write(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}\n`);
  process.exit(2);
}
scenarios[name]();

// The Node peer of tests/test_interop.py: a client or a server that streams random bytes
// and hashes, with sha256, everything it sends and everything it receives.
//
//   node interop.js server <mode> <clientBytes> <serverBytes>
//   node interop.js client <port> <mode> <clientBytes> <serverBytes>
//
// mode "client-first": the client sends clientBytes and ends (half-close); the server
//   reads to 'end', then sends serverBytes back and ends.
// mode "server-first": the server sends serverBytes and ends at once; the client
//   (allowHalfOpen) reads to 'end', then sends clientBytes and ends.
// Both sides use allowHalfOpen, so a side that got 'end' can still send.
// The server prints {"port": N} once listening; each side prints, at 'close',
// {"sent": n, "sent_sha256": hex, "received": n, "received_sha256": hex, "had_error": b}.
'use strict';

const crypto = require('crypto');
const net = require('net');

const CHUNK = 64 * 1024;

// Write `total` random bytes with backpressure, then end(); call done(sent, hex).
function sendStream(sock, total, done) {
  const hash = crypto.createHash('sha256');
  let sent = 0;
  function pump() {
    while (sent < total) {
      const chunk = crypto.randomBytes(Math.min(CHUNK, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
    done(sent, hash.digest('hex'));
  }
  pump();
}

// Hash everything `sock` receives; onEnd() runs at 'end'.
function receiveStream(sock, result, onEnd) {
  const hash = crypto.createHash('sha256');
  sock.on('data', (chunk) => {
    hash.update(chunk);
    result.received += chunk.length;
  });
  sock.on('end', () => {
    result.received_sha256 = hash.digest('hex');
    onEnd();
  });
}

function peer(sock, sending, mode, sendBytes, onClose) {
  const result = { sent: 0, sent_sha256: null, received: 0, received_sha256: null };
  const send = () =>
    sendStream(sock, sendBytes, (n, hex) => {
      result.sent = n;
      result.sent_sha256 = hex;
    });
  // The side that speaks first sends at once; the other answers after the peer's 'end'.
  const first = (mode === 'client-first') === (sending === 'client');
  receiveStream(sock, result, first ? () => {} : send);
  if (first) send();
  sock.on('error', (err) => {
    result.error = String(err);
  });
  sock.on('close', (hadError) => {
    result.had_error = hadError;
    process.stdout.write(JSON.stringify(result) + '\n');
    onClose();
  });
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'server') {
  const [mode, clientBytes, serverBytes] = rest;
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    peer(sock, 'server', mode, Number(serverBytes), () => server.close());
  });
  void clientBytes;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
} else if (role === 'client') {
  const [port, mode, clientBytes, serverBytes] = rest;
  void serverBytes;
  const sock = net.connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
  peer(sock, 'client', mode, Number(clientBytes), () => {});
} else {
  process.stderr.write('usage: interop.js server|client ...\n');
  process.exit(2);
}

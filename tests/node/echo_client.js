// A Node client for examples/echo_server.py (tests/test_examples.py).
//
//   node echo_client.js <port> <text> <repeat> <connections>
//
// Opens <connections> connections to 127.0.0.1:<port> at once; each writes <text>
// <repeat> times, ends, and reads until the server closes. For each connection one
// JSON line is printed at 'close':
//   {"head": first 64 characters, "length": n, "sha256": hex, "had_error": bool}
'use strict';

const crypto = require('crypto');
const net = require('net');

const [port, text, repeat, connections] = process.argv.slice(2);
for (let i = 0; i < Number(connections || 1); i++) {
  const chunks = [];
  const c = net.connect(Number(port), '127.0.0.1', () => {
    c.write(text.repeat(Number(repeat)));
    c.end();
  });
  c.on('data', (d) => chunks.push(d));
  c.on('error', (err) => process.stderr.write(`client ${i}: ${err}\n`));
  c.on('close', (hadError) => {
    const all = Buffer.concat(chunks);
    const sha256 = crypto.createHash('sha256').update(all).digest('hex');
    const head = all.subarray(0, 64).toString('latin1');
    process.stdout.write(JSON.stringify({ head, length: all.length, sha256, had_error: hadError }) + '\n');
  });
}

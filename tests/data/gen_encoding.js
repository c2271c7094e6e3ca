// Node's Buffer.from(string, encoding) and StringDecoder results, the reference
// for trionet._encoding.
//
//   node tests/data/gen_encoding.js            rewrites tests/data/encoding_node.json
//   node tests/data/gen_encoding.js --oracle   reads {"names": [...], "encode": [[enc, text]],
//                                              "decode": [[enc, [hex chunk, ...]]]} on stdin and
//                                              prints the same keys with Node's answers
'use strict';
const fs = require('fs');
const path = require('path');
const { StringDecoder } = require('string_decoder');

const ENCODINGS = ['utf8', 'utf16le', 'latin1', 'ascii', 'hex', 'base64', 'base64url'];

const NAMES = [
  'utf8', 'utf-8', 'UTF8', 'UTF-8', 'Utf-8', 'uTf8', 'ascii', 'ASCII', 'latin1', 'LATIN1',
  'binary', 'Binary', 'hex', 'HEX', 'base64', 'BASE64', 'base64url', 'Base64Url', 'utf16le',
  'UTF16LE', 'utf-16le', 'UTF-16LE', 'ucs2', 'UCS2', 'ucs-2', 'UCS-2', '',
  'utf16', 'utf-16', 'utf-16be', 'utf32', 'latin-1', 'iso-8859-1', 'us-ascii', 'utf_8', 'utf 8',
  ' utf8', 'utf8 ', 'utf8\n', 'base-64', 'b64', 'raw', 'raws', 'buffer', 'foo', 'ucs', 'ucs4',
  'utf7', 'utf-7', 'hexa', 'ut\u0130f8',
];

// Byte strings (hex) decoded with every encoding; the stateful encodings also
// get every two-way split, which is where StringDecoder's buffering shows.
const DECODE_INPUTS = [
  '', '41', '414243', '00', '7f', '80', 'ff', '00417f80c3e9ff', 'e9', '41e942ff7f',
  // UTF-8: valid
  'c3a9', '41e282ac42', 'f09f9880', '61f09f988062', 'e282ace282ace282ac', 'efbbbf41',
  'ed9fbf', 'ee8080', 'f48fbfbf', 'c280', 'dfbf', 'e0a080', 'f0908080',
  '41f09f9880e282acc3a942',
  // UTF-8: invalid
  'bf', 'c080', 'c1bf', 'e08080', 'e09fbf', 'eda080', 'edbfbf', 'f0808080', 'f4908080',
  'f5808080', 'f888808080', 'fe', 'fffe', 'e282', 'e28241', 'f09f98', 'f09f41', 'e24182',
  'c3c3a9', '8080808080', 'e080', 'f090', 'c28080', 'c2', 'f0', 'e2', 'f09f', 'c2c2c2',
  'e2828241', 'f0e282ac', 'c3a9808080', 'eda0bdedb880', '41c242', 'e0', 'f8', 'f7bfbfbf',
  // UTF-16LE
  '4100', '3dd800de', '3dd8', '00de', '3dd84100', '00de3dd8', '3dd83dd800de', '410042',
  'ac20', '3dd800de3dd801de', 'fffe4100', '00d800dc', 'ffdbffdf', '3dd8003dd800de',
  // base64 group sizes
  '666f', '666f6f', '666f6f62', '666f6f6261', '666f6f626172', 'fbffbf', 'fbffbffb', 'fbff',
];

const ENCODE_INPUTS = [
  '', 'hello', 'Hello, world!', '\u00e9\u20ac\ud83d\ude00', '\u00ff\u0100\u0141\u20ac',
  'a\ud800b', '\udc00', '\ud83d', '\ud83d\ude00', '\ude00\ud83d', '\ud800\ud800\udc00\udc00',
  '\u0000\u007f\u0080', '\ufeff', '\uffff', '\u{10ffff}',
  // hex
  'abc', 'ABCDEF', 'aBcD', '0123456789abcdef', 'zz12', '12zz34', '1g', 'g1', '12 34', ' 12',
  '123', '1', '\u0161\u0162', '\u0130\u0131', '\uff11\uff12', '12\n', '0x12', '1234567g',
  // base64
  'QUJD', 'QQ==QUJD', 'Q U J D', 'QU\nJD', '-_-_', '+/+/', '+_-/', 'QUJ', 'QQ', 'Q', 'QQ=',
  'QQ===', '=QUJD', '==', '=', 'QUJD\n', '\u0151\u0155JD', 'QU\u013dJD', 'Zm9v YmFy',
  'Zm9vYmFy====', 'Z=m9v', '....', '\ud83dQUJD', 'QUJD\ud83d', 'QUJDRA', 'QUJDRA=',
  'QUJDRA==', 'QUJDRA===', 'QUJDRA=x', 'QUJDR', 'QUJDRA=\u013d', 'QUJ\u013d', '\u013d\u013d',
  'QR==', 'QUJDRAx', '!@#$QUJD%^&*', 'QUJD\u3d3d', 'QUJD=\u3d3d', '\u0100QUJD',
  'QUJDRA==\u0100',
];

function splitsOf(hex, enc) {
  const n = hex.length / 2;
  const cuts = [[]];
  const stateful = ['utf8', 'utf16le', 'base64', 'base64url'].includes(enc);
  if (stateful) {
    for (let i = 0; i <= n; i++) cuts.push([i]);
  }
  if (n > 1) cuts.push([...Array(n - 1).keys()].map((i) => i + 1));
  return cuts;
}

function decodeChunks(enc, chunks) {
  const d = new StringDecoder(enc);
  const out = chunks.map((c) => d.write(Buffer.from(c, 'hex')));
  out.push(d.end());
  return out;
}

function chunksOf(hex, cuts) {
  const bounds = [0, ...cuts, hex.length / 2];
  const chunks = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    chunks.push(hex.slice(2 * bounds[i], 2 * bounds[i + 1]));
  }
  return chunks;
}

function name(enc) {
  try {
    return new StringDecoder(enc).encoding;
  } catch (err) {
    return err.code;
  }
}

function encode(enc, text) {
  return Buffer.from(text, enc).toString('hex');
}

if (process.argv[2] === '--oracle') {
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { input += chunk; });
  process.stdin.on('end', () => {
    const req = JSON.parse(input);
    process.stdout.write(JSON.stringify({
      names: (req.names || []).map(name),
      encode: (req.encode || []).map(([enc, text]) => encode(enc, text)),
      decode: (req.decode || []).map(([enc, chunks]) => decodeChunks(enc, chunks)),
    }));
  });
} else {
  const line = (x) => '  ' + JSON.stringify(x);
  const names = NAMES.map((n) => line([n, name(n)]));
  const encodes = [];
  for (const enc of ENCODINGS) {
    for (const text of ENCODE_INPUTS) encodes.push(line([enc, text, encode(enc, text)]));
  }
  const decodes = [];
  for (const enc of ENCODINGS) {
    for (const hex of DECODE_INPUTS) {
      for (const cuts of splitsOf(hex, enc)) {
        decodes.push(line([enc, hex, cuts, decodeChunks(enc, chunksOf(hex, cuts))]));
      }
    }
  }
  const out = '{\n"node": ' + JSON.stringify(process.version) +
    ',\n"names": [\n' + names.join(',\n') +
    '\n],\n"encode": [\n' + encodes.join(',\n') +
    '\n],\n"decode": [\n' + decodes.join(',\n') + '\n]\n}\n';
  fs.writeFileSync(path.join(__dirname, 'encoding_node.json'), out);
}

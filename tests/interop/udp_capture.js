#!/usr/bin/env node
'use strict';
// A stand-in for the agent, used only to test the interop harness itself (selftest.sh):
// binds a UDP port on 127.0.0.1, decodes every datagram as a Thrift *binary* Agent message
// (emitBatch / emitZipkinBatch) with thriftrw and writes the spans as normalized JSON lines,
// exactly as collector.js would after a faithful agent.
//
//   node udp_capture.js <received.jsonl>
//
// Prints "ready <port>" when bound. On SIGTERM prints counts and exits 0, or 1 if a datagram
// did not decode (e.g. a compact one: thriftrw has no compact protocol).

const fs = require('fs');
const dgram = require('dgram');
const path = require('path');
const {Thrift} = require('thriftrw');
const normalize = require('./normalize.js');

const IDL_DIR = process.env.JAGENT_IDL_DIR || path.join(__dirname, '..', '..', 'idl');
if (process.argv.length < 3) {
  process.stderr.write('usage: udp_capture.js <received.jsonl>\n');
  process.exit(2);
}
const outFd = fs.openSync(process.argv[2], 'w');
const agent = new Thrift({
  entryPoint: path.join(IDL_DIR, 'agent.thrift'),
  allowFilesystemAccess: true,
  strict: false,
  allowOptionalArguments: true,
});

let datagrams = 0;
let spans = 0;
const errors = [];

function nameOf(buf) {
  // strict binary envelope: 80 01 00 0T, name~4, seqid:4
  if (buf.length < 8 || buf[0] !== 0x80 || buf[1] !== 0x01) return null;
  const n = buf.readUInt32BE(4);
  return buf.toString('utf8', 8, 8 + n);
}

const sock = dgram.createSocket('udp4');
sock.on('message', (buf) => {
  datagrams++;
  const name = nameOf(buf);
  const fn = name === 'emitBatch' ? agent.Agent.emitBatch : name === 'emitZipkinBatch' ? agent.Agent.emitZipkinBatch : null;
  if (!fn) {
    errors.push('datagram ' + datagrams + ': not a binary emitBatch/emitZipkinBatch (first bytes ' +
      buf.subarray(0, 4).toString('hex') + ')');
    return;
  }
  const r = fn.argumentsMessageRW.readFrom(buf, 0);
  if (r.err || r.offset !== buf.length) {
    errors.push('datagram ' + datagrams + ': ' + (r.err ? r.err.message : 'trailing bytes'));
    return;
  }
  const lines = name === 'emitBatch' ? normalize.jaegerBatch(r.value.body.batch) :
    (r.value.body.spans || []).map(normalize.zipkinSpan);
  spans += lines.length;
  if (lines.length) fs.writeSync(outFd, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
});
sock.bind(0, '127.0.0.1', () => {
  sock.setRecvBufferSize(8 << 20);
  process.stdout.write('ready ' + sock.address().port + '\n');
});
process.on('SIGTERM', () => {
  fs.closeSync(outFd);
  process.stderr.write('udp_capture: ' + datagrams + ' datagrams, ' + spans + ' spans, ' +
    errors.length + ' errors\n');
  for (const e of errors.slice(0, 10)) process.stderr.write('udp_capture: ' + e + '\n');
  process.exit(errors.length ? 1 : 0);
});

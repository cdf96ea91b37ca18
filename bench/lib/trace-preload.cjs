/**
 * Loaded into the benchmark's daemon with `node --require` (`bench:latency --trace`): notes when
 * each step of a RequestAddress happens inside the daemon (the call parsed, each datagram sent
 * and received, each write to the lease table begun and done, the reply), in ms since the epoch
 * to the microsecond, and writes them to $BENCH_TRACE_FILE as the daemon exits. An instrument
 * of the benchmark alone: it wraps Node's own prototypes, which the daemon never does, and
 * costs each step a few microseconds.
 */
'use strict';
const out = process.env.BENCH_TRACE_FILE;
if (out !== undefined && out !== '') {
  const fs = require('node:fs');
  const http = require('node:http');
  const dgram = require('node:dgram');
  /** [ms since the epoch, step] */
  const events = [];
  const note = (step) => events.push([performance.timeOrigin + performance.now(), step]);
  const isRequestAddress = (req) => req !== undefined && typeof req.url === 'string' && req.url.endsWith('/IpamDriver.RequestAddress');

  const serverEmit = http.Server.prototype.emit;
  http.Server.prototype.emit = function emit(name, req, ...rest) {
    if (name === 'request' && isRequestAddress(req)) note('call');
    return serverEmit.call(this, name, req, ...rest);
  };
  const end = http.ServerResponse.prototype.end;
  http.ServerResponse.prototype.end = function traced(...args) {
    if (isRequestAddress(this.req)) note('reply');
    return end.apply(this, args);
  };
  const send = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function traced(...args) {
    note('send');
    return send.apply(this, args);
  };
  const socketEmit = dgram.Socket.prototype.emit;
  dgram.Socket.prototype.emit = function emit(name, ...args) {
    if (name === 'message') note('recv');
    return socketEmit.call(this, name, ...args);
  };
  // FileHandle's prototype is not exported: take it from a handle (shared by every handle, those
  // already open included, so the lease table's writes are traced whenever it opened).
  void fs.promises.open('/dev/null', 'r').then(async (h) => {
    const proto = Object.getPrototypeOf(h);
    await h.close();
    const write = proto.write;
    proto.write = function traced(...args) {
      note('write');
      const writing = write.apply(this, args);
      writing.then(
        () => note('written'),
        () => undefined,
      );
      return writing;
    };
  });
  process.on('exit', () => fs.writeFileSync(out, JSON.stringify(events)));
}

// ticker.js - a Node program that lives on its timers, for real/node.sh.
//   node ticker.js serve PORT OUT   every 100 ms (setInterval) "interval N MS"
//                                   and every 250 ms (a setTimeout that
//                                   re-arms itself) "timeout N MS" appended to
//                                   OUT through one fd kept open (MS: the
//                                   monotonic clock); a line server on
//                                   127.0.0.1:PORT answers TICKS ("N M"),
//                                   RUNID (random, chosen at start), PID,
//                                   SET V / GET (one stored value).
//   node ticker.js client PORT CMD  one command, its answer on stdout.
'use strict';
const fs = require('fs');
const net = require('net');
const crypto = require('crypto');

const now = () => Number(process.hrtime.bigint() / 1000000n);

function serve(port, out) {
  const fd = fs.openSync(out, 'a');
  const runid = crypto.randomBytes(8).toString('hex');
  let intervals = 0, timeouts = 0, stored = '';
  setInterval(() => fs.writeSync(fd, `interval ${++intervals} ${now()}\n`), 100);
  const again = () => { fs.writeSync(fd, `timeout ${++timeouts} ${now()}\n`); setTimeout(again, 250); };
  setTimeout(again, 250);
  const answer = (line) => {
    const [cmd, ...rest] = line.split(' ');
    switch (cmd) {
      case 'TICKS': return `${intervals} ${timeouts}`;
      case 'RUNID': return runid;
      case 'PID': return String(process.pid);
      case 'SET': stored = rest.join(' '); return 'OK';
      case 'GET': return stored;
      default: return 'ERR';
    }
  };
  net.createServer((c) => {
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        c.write(answer(buf.slice(0, i).trim()) + '\n');
        buf = buf.slice(i + 1);
      }
    });
    c.on('error', () => {});
  }).listen(port, '127.0.0.1');
}

function client(port, cmd) {
  const c = net.connect(port, '127.0.0.1', () => c.write(cmd + '\n'));
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    if (buf.includes('\n')) { process.stdout.write(buf); c.end(); }
  });
  c.on('error', (e) => { console.error(e.message); process.exit(1); });
  setTimeout(() => process.exit(2), 5000).unref();
}

const [mode, port, arg] = process.argv.slice(2);
if (mode === 'serve') serve(Number(port), arg);
else if (mode === 'client') client(Number(port), arg);
else { console.error('usage: ticker.js serve PORT OUT | client PORT CMD'); process.exit(2); }

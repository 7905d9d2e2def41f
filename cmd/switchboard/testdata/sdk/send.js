// Drives real Segment and RudderStack client libraries against a running
// Switchboard. Usage: node send.js segment|rudder HOST WRITE_KEY COUNT
// Prints one JSON line: {"sent": ["messageId", ...]} once every call was
// flushed and the server answered.
'use strict';

const [lib, host, writeKey, countArg] = process.argv.slice(2);
const count = Number(countArg || '30');

function fail(err) {
  console.error(String(err && err.stack ? err.stack : err));
  process.exit(1);
}

async function segment() {
  const { Analytics } = require('@segment/analytics-node');
  const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 15, flushInterval: 200, maxRetries: 3 });
  const sent = [];
  const errors = [];
  const done = (err, ctx) => {
    if (err) errors.push(err);
    else sent.push(ctx.event.messageId);
  };
  analytics.on('error', (err) => errors.push(err));
  for (let i = 0; i < count; i++) {
    const userId = `user-${i % 7}`;
    switch (i % 3) {
      case 0:
        analytics.identify({ userId, traits: { email: `u${i}@example.com`, plan: 'pro' } }, done);
        break;
      case 1:
        analytics.track({
          userId, event: 'Order Completed',
          properties: { order_id: `o-${i}`, revenue: 19.99 + i, currency: 'EUR', big_id: 12345678901234567890n.toString() },
          context: { ip: '203.0.113.9' },
        }, done);
        break;
      default:
        analytics.page({ anonymousId: `anon-${i}`, name: 'Home', properties: { url: 'https://example.com/' } }, done);
    }
  }
  await analytics.closeAndFlush({ timeout: 20000 });
  if (errors.length) fail(errors[0]);
  return sent;
}

async function rudder() {
  const Analytics = require('@rudderstack/rudder-sdk-node');
  const client = new Analytics(writeKey, { dataPlaneUrl: host, flushAt: 10, flushInterval: 200, maxInternalQueueSize: 1000 });
  const sent = [];
  const errors = [];
  for (let i = 0; i < count; i++) {
    const messageId = `rudder-${process.pid}-${i}`;
    const cb = (err) => { if (err) errors.push(err); };
    if (i % 2 === 0) {
      client.track({ userId: 1000 + i, event: 'Product Viewed', messageId, properties: { sku: `sku-${i}` } }, cb);
    } else {
      client.identify({ anonymousId: `anon-${i}`, messageId, traits: { email: `r${i}@example.com` } }, cb);
    }
    sent.push(messageId);
  }
  // flush() sends at most flushAt events; keep flushing until the queue is
  // empty and the last request was answered.
  while (client.queue.length > 0) {
    await new Promise((resolve, reject) => client.flush((err) => (err ? reject(err) : resolve())));
  }
  if (client.pendingFlush) await client.pendingFlush;
  if (errors.length) fail(errors[0]);
  return sent;
}

(lib === 'rudder' ? rudder() : segment())
  .then((sent) => { console.log(JSON.stringify({ sent })); process.exit(0); })
  .catch(fail);

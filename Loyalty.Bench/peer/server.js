// The bench's peer (see docs/benchmarks.md, "Webhook ingest against the Node peer"): what a Shopify app built on
// Shopify's official Node library does for orders/paid when it awards inline. Per delivery, in one transaction on the
// same durable PostgreSQL as Loyalty: validate the HMAC with @shopify/shopify-api, store the delivery (a redelivery is
// acknowledged and dropped), award floor(total × rate) once per order, add it to the customer's balance.
import '@shopify/shopify-api/adapters/node';
import { shopifyApi, ApiVersion, LogSeverity } from '@shopify/shopify-api';
import express from 'express';
import pg from 'pg';

const port = Number(process.env.PORT ?? 0);
const rate = Number(process.env.EARN_RATE ?? 1);
const shopify = shopifyApi({
  apiKey: process.env.SHOPIFY_API_KEY ?? 'bench-client-id',
  apiSecretKey: process.env.SHOPIFY_API_SECRET,
  scopes: ['read_orders'],
  hostName: 'localhost',
  apiVersion: ApiVersion.October25,
  isEmbeddedApp: true,
  logger: { level: LogSeverity.Error },
});
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 20) });

await pool.query(`
  CREATE TABLE IF NOT EXISTS peer_deliveries (webhook_id text PRIMARY KEY, shop text NOT NULL, topic text NOT NULL,
    payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS peer_awards (shop text NOT NULL, order_id bigint NOT NULL, customer_id bigint NOT NULL,
    points bigint NOT NULL, awarded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (shop, order_id));
  CREATE TABLE IF NOT EXISTS peer_balances (shop text NOT NULL, customer_id bigint NOT NULL, balance bigint NOT NULL,
    PRIMARY KEY (shop, customer_id));`);

const app = express();
app.post('/webhooks', express.raw({ type: '*/*', limit: '1mb' }), async (req, res) => {
  const rawBody = req.body.toString('utf8');
  const check = await shopify.webhooks.validate({ rawBody, rawRequest: req, rawResponse: res });
  if (!check.valid) return res.status(401).end();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const stored = await client.query(
      'INSERT INTO peer_deliveries (webhook_id, shop, topic, payload) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1',
      [check.webhookId, check.domain, check.topic, rawBody]);
    if (stored.rowCount === 1 && check.topic === 'ORDERS_PAID') {
      const order = JSON.parse(rawBody);
      const customer = order.customer?.id;
      const points = Math.floor(Number(order.total_price) * rate);
      if (customer && points > 0) {
        const awarded = await client.query(
          'INSERT INTO peer_awards (shop, order_id, customer_id, points) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1',
          [check.domain, order.id, customer, points]);
        if (awarded.rowCount === 1) {
          await client.query(`INSERT INTO peer_balances (shop, customer_id, balance) VALUES ($1, $2, $3)
            ON CONFLICT (shop, customer_id) DO UPDATE SET balance = peer_balances.balance + EXCLUDED.balance`,
            [check.domain, customer, points]);
        }
      }
    }
    await client.query('COMMIT');
    res.status(200).end();
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    console.error(e);
    res.status(500).end();
  } finally {
    client.release();
  }
});

const server = app.listen(port, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));

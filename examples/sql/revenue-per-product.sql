-- Revenue per product, updated as orders arrive (a changelog: +I, -U, +U),
-- and the orders of each 10-second window. Run: rask run examples/sql/revenue-per-product.sql
SET 'pipeline.name' = 'revenue-per-product';

CREATE TABLE orders (
  order_id   BIGINT,
  product    STRING,
  quantity   INT,
  price      DOUBLE,
  order_time AS TIMESTAMPADD(SECOND, CAST(order_id AS INT), TIMESTAMP '2026-01-01 00:00:00'),
  WATERMARK FOR order_time AS order_time - INTERVAL '2' SECOND
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '1000',
  'fields.order_id.kind' = 'sequence',
  'fields.order_id.start' = '1',
  'fields.order_id.end' = '30',
  'fields.product.length' = '1',
  'fields.quantity.min' = '1',
  'fields.quantity.max' = '5',
  'fields.price.min' = '1',
  'fields.price.max' = '100'
);

CREATE TABLE revenue (product STRING, orders BIGINT, revenue DOUBLE)
WITH ('connector' = 'print', 'print-identifier' = 'revenue');

CREATE TABLE per_window (window_end TIMESTAMP(3), orders BIGINT, quantity BIGINT)
WITH ('connector' = 'print', 'print-identifier' = 'window');

EXECUTE STATEMENT SET BEGIN
INSERT INTO revenue
SELECT product, COUNT(*), ROUND(SUM(quantity * price), 2)
FROM orders
WHERE quantity > 1
GROUP BY product;

INSERT INTO per_window
SELECT window_end, COUNT(*), SUM(quantity)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
END;

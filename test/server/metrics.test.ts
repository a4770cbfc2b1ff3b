/** The Prometheus exposition the server's /metrics answers: counters, cumulative histogram buckets, escaped labels. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_BUCKETS, ServerMetrics } from '../../src/server/metrics.js';

test('counters add up per label set; histogram buckets are cumulative with +Inf, sum and count', () => {
  const m = new ServerMetrics();
  m.request('/v1/models/:name/predict', 'POST', 200, 0.2);
  m.request('/v1/models/:name/predict', 'POST', 200, 3);
  m.request('/v1/models/:name/predict', 'POST', 413, 0.001);
  m.prediction('line "A"\\1', 'good');
  const text = m.render({ queued: 2, running: 1, models: 1, ready: 1 });
  assert.match(text, /^npad_http_requests_total\{route="\/v1\/models\/:name\/predict",method="POST",status="200"\} 2$/m);
  assert.match(text, /^npad_http_requests_total\{route="\/v1\/models\/:name\/predict",method="POST",status="413"\} 1$/m);
  const bucket = (le: string): number => Number(new RegExp(`^npad_http_request_duration_seconds_bucket\\{route="/v1/models/:name/predict",le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  assert.equal(bucket('0.005'), 1);
  assert.equal(bucket('0.25'), 2);
  assert.equal(bucket('5'), 3);
  assert.equal(bucket('+Inf'), 3);
  assert.equal(LATENCY_BUCKETS.length + 1, text.match(/_bucket\{/g)!.length);
  assert.match(text, /^npad_http_request_duration_seconds_sum\{route="\/v1\/models\/:name\/predict"\} 3\.201$/m);
  assert.match(text, /^npad_http_request_duration_seconds_count\{route="\/v1\/models\/:name\/predict"\} 3$/m);
  assert.match(text, /^npad_predictions_total\{model="line \\"A\\"\\\\1",verdict="good"\} 1$/m);
  assert.match(text, /^# TYPE npad_queue_waiting gauge\nnpad_queue_waiting 2$/m);
  assert.ok(text.endsWith('\n'));
});

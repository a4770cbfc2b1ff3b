/**
 * The server's Prometheus metrics (`GET /metrics`, text exposition format 0.0.4): requests by route, method and
 * status, request latency as a histogram, predictions by model and verdict, the queue's depth and the models
 * served. Routes are labelled by their pattern (`/v1/models/:name/predict`), never by the raw path, so a client
 * cannot grow the label set.
 */

/** Upper bounds (seconds) of the latency histogram's buckets: a cached page to a slow batch of images. */
export const LATENCY_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** Label values of one series, in a fixed order. */
type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A counter per label set. */
class Counter {
  private readonly series = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels, by = 1): void {
    const key = labelText(labels);
    const s = this.series.get(key) ?? { labels, value: 0 };
    s.value += by;
    this.series.set(key, s);
  }
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...[...this.series.values()].map((s) => `${this.name}${labelText(s.labels)} ${s.value}`)];
  }
}

/** A histogram per label set, with cumulative buckets as Prometheus expects. */
class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    const s = this.series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
    this.series.set(key, s);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]!}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`, `${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** What the metrics read at scrape time rather than count. */
export interface ServerGauges {
  /** requests waiting in the inference queue */
  queued: number;
  /** requests being scored */
  running: number;
  /** models loaded and served */
  models: number;
  /** 1 when the server is ready, else 0 */
  ready: number;
}

/** The server's counters and histogram, and their text for a scrape. */
export class ServerMetrics {
  private readonly requests = new Counter('npad_http_requests_total', 'HTTP requests answered, by route pattern, method and status code.');
  private readonly latency = new Histogram('npad_http_request_duration_seconds', 'Time from a request\'s arrival to the end of its answer, by route pattern.', LATENCY_BUCKETS);
  private readonly predictions = new Counter('npad_predictions_total', 'Images judged, by model and verdict.');

  /** Records one answered request (status 0: the client left before the answer). */
  request(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  /** Records one judged image. */
  prediction(model: string, verdict: string): void {
    this.predictions.inc({ model, verdict });
  }

  /** The exposition text (Content-Type `text/plain; version=0.0.4`). */
  render(gauges: ServerGauges): string {
    const gauge = (name: string, help: string, value: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
    return [
      ...this.requests.render(),
      ...this.latency.render(),
      ...this.predictions.render(),
      ...gauge('npad_queue_waiting', 'Requests waiting in the inference queue.', gauges.queued),
      ...gauge('npad_queue_running', 'Requests being scored.', gauges.running),
      ...gauge('npad_models_loaded', 'Models loaded and served.', gauges.models),
      ...gauge('npad_ready', '1 when the server is ready to answer predictions.', gauges.ready),
      '',
    ].join('\n');
  }
}

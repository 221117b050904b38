// The prediction logger's counts as Prometheus series, read at scrape time. Names from the contract.
import client from 'prom-client';
import { PREDICTION_LOG_DROP_REASONS, PREDICTION_LOG_METRICS } from '../../../contract/metric-names.ts';
import type { PredictionLogger } from '../monitoring/prediction-log.ts';

export function registerPredictionLogMetrics(registry: client.Registry, logger: PredictionLogger): void {
  const registers = [registry];
  new client.Counter({
    name: PREDICTION_LOG_METRICS.sent, help: 'Prediction records handed to the sink', registers,
    collect() {
      this.reset();
      this.inc(logger.sent);
    },
  });
  new client.Counter({
    name: PREDICTION_LOG_METRICS.dropped, help: 'Sampled prediction records that never reached the sink, by reason', labelNames: ['reason'], registers,
    collect() {
      this.reset();
      for (const reason of PREDICTION_LOG_DROP_REASONS) this.inc({ reason }, logger.dropped[reason]);
    },
  });
  new client.Gauge({
    name: PREDICTION_LOG_METRICS.queueRecords, help: 'Prediction records waiting for the sink', registers,
    collect() {
      this.set(logger.queuedRecords);
    },
  });
  new client.Gauge({
    name: PREDICTION_LOG_METRICS.queueBytes, help: 'Bytes of prediction records waiting for the sink (estimated)', registers,
    collect() {
      this.set(logger.queuedBytes);
    },
  });
}

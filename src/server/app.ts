// Everything that is not the admission hot path: health, readiness, and a clear 404.
import express, { type Express } from 'express';
import { serialiseStatus } from '../admission/review';

export interface AppState {
  ready(): boolean;
  readyReason(): string;
}

export function createApp(state: AppState): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    if (state.ready()) res.type('text/plain').send('ok');
    else res.status(503).type('text/plain').send(state.readyReason());
  });
  app.use((req, res) => {
    res.status(404).type('application/json').send(serialiseStatus(404, `no route for ${req.method} ${req.path}; podhooks serves POST /mutate, POST /validate, GET /healthz, GET /readyz (metrics on the metrics port)`));
  });
  return app;
}

// A check-in handed to the aggregator's own request handler without the TCP/HTTP layer.
// Every virtual shopper checks in once per round (the accountant's Poisson sampling needs
// it), so a Beauty round is 22k check-ins; over loopback HTTP that is ~1 ms each, more than
// the training. Model downloads and uploads still go over HTTP.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { CheckInResult } from '../../federated/transport.ts';

interface RequestHandler {
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export async function inProcessCheckIn(aggregator: RequestHandler): Promise<CheckInResult> {
  const req = Object.assign(Readable.from([Buffer.from('{}')]), { method: 'POST', url: '/fl/v1/checkin', headers: { 'content-type': 'application/json', 'content-length': '2', 'x-silo-client': '1' } });
  let status = 0;
  let body = '';
  const res = {
    headersSent: false,
    writeHead(code: number) {
      status = code;
      this.headersSent = true;
      return this;
    },
    end(chunk?: string | Buffer) {
      body = chunk === undefined ? '' : String(chunk);
      return this;
    },
    destroy() {},
  };
  await aggregator.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  if (status !== 200) throw new Error(`check-in: HTTP ${status} ${body}`);
  return JSON.parse(body) as CheckInResult;
}
